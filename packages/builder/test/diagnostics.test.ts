import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Diagnostic } from '@kgrader/schemas';
import { cleanBuildLog, kbuildFor, largeFrames, parseDiagnostics } from '../src/index.js';

const BUILD_DIR = '/tmp/kgrader-run-abc/build';
const KERNEL = '/opt/kgrader/kernel/linux-6.1.90';

const singleLog = readFileSync(new URL('../../test/fixtures/build-single.log', import.meta.url), 'utf8');
const multiLog = readFileSync(new URL('../../test/fixtures/build-multi.log', import.meta.url), 'utf8');

/** build name -> submitted name, as compileModule derives it from the Kbuild layout. */
function submittedNameOf(module: string, files: string[]): Record<string, string> {
  const { buildNames } = kbuildFor(module, files);
  return Object.fromEntries(Object.entries(buildNames).map(([s, b]) => [b, s]));
}

describe('cleanBuildLog', () => {
  const single = cleanBuildLog(singleLog, BUILD_DIR, KERNEL, submittedNameOf('msgbuf', ['msgbuf.c']));
  const multi = cleanBuildLog(multiLog, BUILD_DIR, KERNEL, submittedNameOf('msgbuf', ['msgbuf.c', 'helpers.c']));

  it('removes the sandbox build folder from every path', () => {
    assert.ok(!single.includes('/tmp/kgrader-run-abc'));
    assert.ok(!multi.includes('/tmp/kgrader-run-abc'));
    assert.match(single, /^msgbuf\.c:46:9: error: expected ';' before 'if'$/m);
    assert.match(single, /^ {2}CC \[M\] {2}msgbuf\.o$/m);
  });

  it('writes the build folder itself as .', () => {
    assert.match(single, /Error 2$/m);
    assert.ok(single.includes('[<kernel>/Makefile:2012: .] Error 2'));
  });

  it('replaces the kernel tree with <kernel>', () => {
    assert.ok(!single.includes(KERNEL));
    assert.ok(!multi.includes(KERNEL));
    assert.ok(single.includes("make: Entering directory '<kernel>'"));
    assert.ok(single.includes('In file included from <kernel>/include/linux/module.h:14,'));
    assert.ok(single.includes('<kernel>/include/linux/uaccess.h:157:27: note:'));
  });

  it('maps renamed files back to their submitted names', () => {
    assert.ok(!multi.includes('msgbuf_main.c'));
    assert.match(multi, /^msgbuf\.c:3:10: fatal error: linux\/nosuch\.h: No such file or directory$/m);
    assert.match(multi, /^msgbuf\.c:9: warning: "MSGBUF_MAX" redefined$/m);
    assert.match(multi, /^helpers\.c:20:5: warning:/m);
  });

  it('cleans modpost paths', () => {
    assert.match(multi, /^ERROR: modpost: "foo" \[msgbuf\.ko\] undefined!$/m);
    assert.match(multi, /^WARNING: modpost: missing MODULE_LICENSE\(\) in msgbuf\.o$/m);
  });

  it('keeps lines that mention neither path unchanged, and the line count', () => {
    assert.ok(single.includes("   45 |         mutex_lock(&msgbuf_lock)\n"));
    assert.ok(single.includes('cc1: some warnings being treated as errors\n'));
    assert.equal(single.split('\n').length, singleLog.split('\n').length);
  });

  it('does not rename a build name that is only part of a longer word', () => {
    const text = cleanBuildLog('xmsgbuf_main.c msgbuf_main.c msgbuf_main.cc\n', BUILD_DIR, KERNEL, { 'msgbuf_main.c': 'msgbuf.c' });
    assert.equal(text, 'xmsgbuf_main.c msgbuf.c msgbuf_main.cc\n');
  });

  it('treats regex characters in names literally', () => {
    const text = cleanBuildLog('a+b.c:1:1: error: x\naxb.c:1:1: error: y\n', BUILD_DIR, KERNEL, { 'a+b.c': 'renamed.c' });
    assert.equal(text, 'renamed.c:1:1: error: x\naxb.c:1:1: error: y\n');
  });

  it('leaves a log without any path alone', () => {
    assert.equal(cleanBuildLog('nothing to see\n', BUILD_DIR, KERNEL, {}), 'nothing to see\n');
  });
});

describe('parseDiagnostics', () => {
  it('parses gcc 12 errors, warnings and notes in the student file (single file)', () => {
    const log = cleanBuildLog(singleLog, BUILD_DIR, KERNEL, submittedNameOf('msgbuf', ['msgbuf.c']));
    assert.deepEqual(parseDiagnostics(log), [
      { file: 'msgbuf.c', line: 46, column: 9, severity: 'error', message: "expected ';' before 'if'" },
      { file: 'msgbuf.c', line: 58, column: 13, severity: 'warning', message: "unused variable 'ret' [-Wunused-variable]" },
      {
        file: 'msgbuf.c',
        line: 71,
        column: 16,
        severity: 'error',
        message: "passing argument 1 of 'copy_to_user' makes pointer from integer without a cast [-Werror=int-conversion]",
      },
      { file: 'msgbuf.c', line: 12, column: 21, severity: 'note', message: "'msgbuf_lock' declared here" },
    ]);
  });

  it('skips diagnostics located in kernel headers', () => {
    const log = cleanBuildLog(singleLog, BUILD_DIR, KERNEL, {});
    assert.ok(parseDiagnostics(log).every((d) => !d.file.includes('<kernel>') && !d.file.includes('uaccess')));
  });

  it('maps renamed files back, folds fatal errors into errors, and reads modpost', () => {
    const log = cleanBuildLog(multiLog, BUILD_DIR, KERNEL, submittedNameOf('msgbuf', ['msgbuf.c', 'helpers.c']));
    assert.deepEqual(parseDiagnostics(log), [
      { file: 'msgbuf.c', line: 3, column: 10, severity: 'error', message: 'linux/nosuch.h: No such file or directory' },
      { file: 'helpers.c', line: 20, column: 5, severity: 'warning', message: "no previous prototype for 'helper' [-Wmissing-prototypes]" },
      { file: 'msgbuf.c', line: 9, severity: 'warning', message: '"MSGBUF_MAX" redefined' },
      { file: '', line: 0, severity: 'error', message: 'modpost: "foo" [msgbuf.ko] undefined!' },
      { file: '', line: 0, severity: 'warning', message: 'modpost: missing MODULE_LICENSE() in msgbuf.o' },
    ]);
  });

  it('omits the column key when gcc printed no column', () => {
    const [d] = parseDiagnostics('msgbuf.c:9: warning: "X" redefined');
    assert.ok(d);
    assert.equal('column' in d, false);
  });

  it('produces diagnostics the result schema accepts', () => {
    const log = cleanBuildLog(multiLog + singleLog, BUILD_DIR, KERNEL, submittedNameOf('msgbuf', ['msgbuf.c', 'helpers.c']));
    const diags = parseDiagnostics(log);
    assert.ok(diags.length >= 9);
    for (const d of diags) assert.deepEqual(Diagnostic.parse(d), d);
  });

  it('accepts leading whitespace and CRLF line endings', () => {
    assert.deepEqual(parseDiagnostics('   msgbuf.h:2:1: error: unknown type name \'u99\'\r\nmsgbuf.c:7:3: warning: w\r\n'), [
      { file: 'msgbuf.h', line: 2, column: 1, severity: 'error', message: "unknown type name 'u99'" },
      { file: 'msgbuf.c', line: 7, column: 3, severity: 'warning', message: 'w' },
    ]);
  });

  it('ignores lines that only look like diagnostics', () => {
    const noise = [
      'msgbuf.c: In function \'msgbuf_write\':',
      '                 from msgbuf.c:2:',
      '   46 |         if (len > MSGBUF_MAX)',
      'make[2]: *** [<kernel>/scripts/Makefile.build:250: msgbuf.o] Error 1',
      'msgbuf.o:1:1: error: not a source file',
      'sub/msgbuf.c:1:1: error: in a folder',
      'msgbuf.c:x:1: error: not a line number',
      'msgbuf.c:1:1: remark: unknown severity',
      'modpost: "foo" undefined without severity',
      'ERROR: something else',
      '',
    ].join('\n');
    assert.deepEqual(parseDiagnostics(noise), []);
  });

  it('returns nothing for an empty log', () => {
    assert.deepEqual(parseDiagnostics(''), []);
  });
});

describe('largeFrames', () => {
  it('reads gcc frame-size warnings with the function they are in', () => {
    const log = [
      'make: Entering directory \'<kernel>\'',
      '  CC [M]  bigstack.o',
      "bigstack.c: In function ‘bigstack_write’:",
      'bigstack.c:41:1: warning: the frame size of 2112 bytes is larger than 1024 bytes [-Wframe-larger-than=]',
      '   41 | }',
      '      | ^',
      "bigstack.c: In function ‘other’:",
      'bigstack.c:50:5: warning: unused variable ‘x’ [-Wunused-variable]',
    ].join('\n');
    assert.deepEqual(largeFrames(log), [{ function: 'bigstack_write', file: 'bigstack.c', line: 41, bytes: 2112, limit: 1024 }]);
  });
});
