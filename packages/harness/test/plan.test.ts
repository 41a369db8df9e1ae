import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ExerciseSpec, TestKind } from '@kgrader/schemas';
import { planFor } from '../ts/index.js';

function exerciseFromDisk(slug: string): ExerciseSpec {
  const url = new URL(`../../../../exercises/${slug}/exercise.json`, import.meta.url);
  return ExerciseSpec.parse(JSON.parse(readFileSync(url, 'utf8')));
}

const msgbuf = exerciseFromDisk('msgbuf');
const generic = exerciseFromDisk('chardev-generic');

/** Plan lines without comments and the final empty line. */
function directives(plan: string): string[] {
  return plan.split('\n').filter((l) => l.length > 0 && !l.startsWith('#'));
}

/** `test` lines parsed back into name, kind, and key=value fields. */
function testLines(plan: string): Array<{ name: string; kind: string; fields: string[] }> {
  return directives(plan)
    .filter((l) => l.startsWith('test '))
    .map((l) => {
      const [, name, kind, ...fields] = l.split(' ');
      return { name: name!, kind: kind!, fields };
    });
}

function spec(tests: unknown[], extra: Record<string, unknown> = {}): ExerciseSpec {
  return ExerciseSpec.parse({ slug: 'demo', title: 'Demo', summary: 'demo', device: '/dev/demo', tests, ...extra });
}

describe('planFor with the shipped exercises', () => {
  const plan = planFor(msgbuf, { path: '/msgbuf.ko', name: 'msgbuf' });
  const genericPlan = planFor(generic, { path: '/student.ko', name: 'student' });

  it('only uses kinds the harness knows (TestKind)', () => {
    for (const exercise of [msgbuf, generic]) {
      for (const t of exercise.tests) assert.ok(TestKind.options.includes(t.kind), `${exercise.slug}: ${t.kind}`);
    }
    for (const t of [...testLines(plan), ...testLines(genericPlan)]) {
      assert.ok((TestKind.options as readonly string[]).includes(t.kind), t.kind);
    }
  });

  it('starts with a comment naming the exercise, then module and device', () => {
    const lines = plan.split('\n');
    assert.equal(lines[0], '# kgrader plan: msgbuf');
    assert.equal(lines[1], 'module /msgbuf.ko msgbuf');
    assert.equal(lines[2], 'device /dev/msgbuf');
  });

  it('ends with a newline and has no blank lines', () => {
    assert.ok(plan.endsWith('\n'));
    assert.ok(!plan.slice(0, -1).includes('\n\n'));
  });

  it('has one test line per test, in spec order, with the right kinds', () => {
    const tests = testLines(plan);
    assert.deepEqual(
      tests.map((t) => t.name),
      msgbuf.tests.map((t) => t.name),
    );
    assert.deepEqual(
      tests.map((t) => t.kind),
      msgbuf.tests.map((t) => t.kind),
    );
    assert.equal(directives(plan).length, msgbuf.tests.length + 2);
  });

  it('writes exact test lines with timeouts and sorted params', () => {
    const lines = directives(plan);
    assert.ok(lines.includes('test load load timeout=30'));
    assert.ok(lines.includes('test write_read write_read timeout=10 size=100'));
    assert.ok(lines.includes('test read_offsets read_offsets timeout=10 chunk=7 size=1000'));
    assert.ok(lines.includes('test race_writers race_writers timeout=45 readers=2 seconds=1 threads=4'));
    assert.ok(lines.includes('test kmemleak kmemleak timeout=30'));
  });

  it('puts the timeout first and every param as key=value from the spec', () => {
    for (const [i, t] of testLines(plan).entries()) {
      const specTest = msgbuf.tests[i]!;
      assert.equal(t.fields[0], `timeout=${specTest.timeoutSeconds}`);
      const params = Object.fromEntries(t.fields.slice(1).map((f) => f.split('=') as [string, string]));
      assert.deepEqual(params, Object.fromEntries(Object.entries(specTest.params).map(([k, v]) => [k, String(v)])));
    }
  });

  it('uses `device auto` when the exercise fixes no device', () => {
    const lines = genericPlan.split('\n');
    assert.equal(lines[0], '# kgrader plan: chardev-generic');
    assert.equal(lines[1], 'module /student.ko student');
    assert.equal(lines[2], 'device auto');
    // one line per test of the spec, params sorted by key
    assert.deepEqual(
      directives(genericPlan).slice(2),
      generic.tests.map((t) =>
        ['test', t.name, t.kind, `timeout=${t.timeoutSeconds}`, ...Object.keys(t.params).sort().map((k) => `${k}=${t.params[k]}`)].join(' '),
      ),
    );
    assert.ok(directives(genericPlan).includes('test stress_own_fds generic_stress timeout=45 own_fds=1 seconds=2 threads=4'));
  });

  it('only produces values the protocol allows (no spaces or quoting)', () => {
    for (const l of [...directives(plan), ...directives(genericPlan)]) {
      for (const word of l.split(' ')) assert.match(word, /^[A-Za-z0-9_./=-]+$/, l);
    }
  });
});

describe('planFor with small specs', () => {
  it('sorts params by key whatever their spec order', () => {
    const s = spec([{ name: 'load', kind: 'load', description: 'd', points: 1, params: { zeta: 1, alpha: 'x', mid: 3 } }]);
    assert.ok(planFor(s, { path: '/d.ko', name: 'd' }).includes('test load load timeout=20 alpha=x mid=3 zeta=1\n'));
  });

  it('uses the schema default timeout of 20 s', () => {
    const s = spec([{ name: 'load', kind: 'load', description: 'd', points: 1 }]);
    assert.equal(planFor(s, { path: '/d.ko', name: 'd' }), '# kgrader plan: demo\nmodule /d.ko d\ndevice /dev/demo\ntest load load timeout=20\n');
  });

  it('keeps string params with dots, slashes and dashes verbatim', () => {
    const s = spec([{ name: 'load', kind: 'load', description: 'd', points: 1, params: { path: '/dev/x-1.2' } }]);
    assert.ok(planFor(s, { path: '/d.ko', name: 'd' }).includes(' path=/dev/x-1.2\n'));
  });

  it('names the module path and name given, not the exercise module', () => {
    const s = spec([{ name: 'load', kind: 'load', description: 'd', points: 1 }], { module: 'demo' });
    assert.match(planFor(s, { path: '/lib/other.ko', name: 'other' }), /^module \/lib\/other\.ko other$/m);
  });

  it('keeps test order even when names would sort differently', () => {
    const s = spec([
      { name: 'load', kind: 'load', description: 'd', points: 1 },
      { name: 'zz_last_name', kind: 'write_read', description: 'd', points: 1 },
      { name: 'aa_first_name', kind: 'empty_read', description: 'd', points: 1 },
    ]);
    assert.deepEqual(
      testLines(planFor(s, { path: '/d.ko', name: 'd' })).map((t) => t.name),
      ['load', 'zz_last_name', 'aa_first_name'],
    );
  });

  it('is deterministic', () => {
    const m = { path: '/msgbuf.ko', name: 'msgbuf' };
    assert.equal(planFor(msgbuf, m), planFor(exerciseFromDisk('msgbuf'), m));
  });
});
