import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExerciseSpec } from '@kgrader/schemas';
import { SubmissionRejected, validateSubmissionFiles, type SubmittedFile } from '../src/index.js';

const exercise = ExerciseSpec.parse({
  slug: 'msgbuf',
  title: 'msgbuf',
  summary: 'one message',
  module: 'msgbuf',
  device: '/dev/msgbuf',
  limits: { maxFiles: 4, maxFileBytes: 1000, maxTotalBytes: 2500 },
  tests: [{ name: 'load', kind: 'load', description: 'loads', points: 1 }],
});

const ok = (name: string, bytes = 100): SubmittedFile => ({ name, bytes });

/** Asserts a SubmissionRejected whose message matches `message` and, when given, names `file`. */
function assertRejected(files: SubmittedFile[], message: RegExp, file?: string, spec: ExerciseSpec = exercise): void {
  assert.throws(
    () => validateSubmissionFiles(files, spec),
    (err: unknown) => {
      assert.ok(err instanceof SubmissionRejected, `expected SubmissionRejected, got ${String(err)}`);
      assert.equal(err.name, 'SubmissionRejected');
      assert.match(err.message, message);
      if (file !== undefined) {
        assert.equal(err.file, file);
        // names are shown JSON-quoted, cut at 80 characters
        assert.ok(err.message.includes(JSON.stringify(file.slice(0, 80))), `message should name ${file}: ${err.message}`);
      }
      return true;
    },
  );
}

describe('validateSubmissionFiles: accepted submissions', () => {
  it('accepts msgbuf.c + msgbuf.h', () => {
    assert.doesNotThrow(() => validateSubmissionFiles([ok('msgbuf.c'), ok('msgbuf.h')], exercise));
  });

  it('accepts a single .c file', () => {
    assert.doesNotThrow(() => validateSubmissionFiles([ok('driver.c')], exercise));
  });

  it('accepts names with digits, underscores, dashes and inner dots', () => {
    assert.doesNotThrow(() => validateSubmissionFiles([ok('my-driver_2.c'), ok('util.v2.h'), ok('_priv.h')], exercise));
  });

  it('accepts exactly maxFiles files', () => {
    assert.doesNotThrow(() => validateSubmissionFiles([ok('a.c'), ok('b.c'), ok('c.h'), ok('d.h')], exercise));
  });

  it('accepts a file of exactly maxFileBytes and a total of exactly maxTotalBytes', () => {
    assert.doesNotThrow(() => validateSubmissionFiles([ok('a.c', 1000), ok('b.c', 1000), ok('c.h', 500)], exercise));
  });

  it('accepts an empty file', () => {
    assert.doesNotThrow(() => validateSubmissionFiles([ok('msgbuf.c', 0)], exercise));
  });

  it('uses the schema defaults when the exercise sets no limits', () => {
    const defaults = ExerciseSpec.parse({
      slug: 'x',
      title: 'x',
      summary: 'x',
      device: '/dev/x',
      tests: [{ name: 'load', kind: 'load', description: 'd', points: 1 }],
    });
    assert.deepEqual(
      { f: defaults.limits.maxFiles, b: defaults.limits.maxFileBytes, t: defaults.limits.maxTotalBytes },
      { f: 16, b: 256 * 1024, t: 1024 * 1024 },
    );
    assert.doesNotThrow(() => validateSubmissionFiles([ok('x.c', 256 * 1024)], defaults));
    assertRejected([ok('x.c', 256 * 1024 + 1)], /262145 bytes \(at most 262144\)/, 'x.c', defaults);
  });
});

describe('validateSubmissionFiles: rejected submissions', () => {
  it('rejects an empty submission', () => {
    assertRejected([], /empty/);
  });

  it('rejects more than maxFiles files, saying how many', () => {
    assertRejected([ok('a.c'), ok('b.c'), ok('c.c'), ok('d.h'), ok('e.h')], /too many files: 5 \(at most 4\)/);
  });

  for (const name of ['sub/msgbuf.c', '../msgbuf.c', '/etc/passwd.c', 'a/../b.c']) {
    it(`rejects a name with a folder: ${name}`, () => {
      assertRejected([ok('msgbuf.c'), ok(name)], /not allowed/, name);
    });
  }

  for (const name of ['..', '..c', '.hidden.c', '.c', '-rf.c', '-msgbuf.c']) {
    it(`rejects a name starting with '.' or '-': ${JSON.stringify(name)}`, () => {
      assertRejected([ok('msgbuf.c'), ok(name)], /not allowed/, name);
    });
  }

  for (const name of ['my driver.c', 'msgbuf .c', 'tab\there.c', 'new\nline.c', 'semi;colon.c', 'dollar$.c', 'quote".c']) {
    it(`rejects spaces and shell metacharacters: ${JSON.stringify(name)}`, () => {
      assertRejected([ok('msgbuf.c'), ok(name)], /not allowed/, name);
    });
  }

  for (const name of ['Makefile', 'Kbuild', 'makefile', 'Makefile.c.bak', 'entry.S', 'entry.s', 'msgbuf.o', 'msgbuf.ko', 'msgbuf.cpp', 'msgbuf.C', 'msgbuf.H', 'README', 'msgbuf', 'x.c.orig']) {
    it(`rejects files other than .c and .h: ${name}`, () => {
      assertRejected([ok('msgbuf.c'), ok(name)], /only \.c and \.h files/, name);
    });
  }

  it('rejects a name Kbuild generates (x.mod.c)', () => {
    assertRejected([ok('msgbuf.c'), ok('x.mod.c')], /clashes with a name the kernel build generates/, 'x.mod.c');
  });

  it('rejects the generated name of the module itself (msgbuf.mod.c)', () => {
    assertRejected([ok('msgbuf.c'), ok('msgbuf.mod.c')], /generates/, 'msgbuf.mod.c');
  });

  it('rejects a name longer than 100 characters', () => {
    const long = `${'a'.repeat(99)}.c`;
    assertRejected([ok(long)], /not allowed/, long);
  });

  it('rejects duplicates that differ only in case, naming the second', () => {
    assertRejected([ok('msgbuf.c'), ok('MsgBuf.c')], /appears twice/, 'MsgBuf.c');
  });

  it('rejects a file over maxFileBytes, naming it and both sizes', () => {
    assertRejected([ok('msgbuf.h', 10), ok('msgbuf.c', 1001)], /"msgbuf\.c" is 1001 bytes \(at most 1000\)/, 'msgbuf.c');
  });

  it('rejects a total over maxTotalBytes even when each file fits', () => {
    assertRejected([ok('a.c', 1000), ok('b.c', 1000), ok('c.h', 501)], /2501 bytes in all \(at most 2500\)/);
  });

  it('rejects a submission with only headers', () => {
    assertRejected([ok('msgbuf.h'), ok('other.h')], /no \.c file/);
  });

  it('checks the count before looking at names', () => {
    assertRejected([ok('Makefile'), ok('a.c'), ok('b.c'), ok('c.c'), ok('d.c')], /too many files/);
  });

  it('truncates a very long offending name in the message', () => {
    const name = `${'x'.repeat(300)}/evil.c`;
    assert.throws(
      () => validateSubmissionFiles([ok(name)], exercise),
      (err: unknown) => {
        assert.ok(err instanceof SubmissionRejected);
        assert.equal(err.file, name);
        assert.ok(err.message.includes(JSON.stringify('x'.repeat(80))));
        assert.ok(!err.message.includes('x'.repeat(81)));
        return true;
      },
    );
  });

  it('is an Error subclass', () => {
    const err = new SubmissionRejected('nope', 'a.c');
    assert.ok(err instanceof Error);
    assert.equal(err.message, 'nope');
    assert.equal(err.file, 'a.c');
    assert.equal(new SubmissionRejected('nope').file, undefined);
  });
});
