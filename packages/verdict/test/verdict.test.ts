import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExerciseSpec, GradeResult, type BuildResult, type Finding, type HarnessEvent, type TestStatus } from '@kgrader/schemas';
import { decideVerdict, infrastructureError, relevantFindings, type VerdictInput, type VmSummary } from '../src/index.js';

const exercise = ExerciseSpec.parse({
  slug: 'msgbuf',
  title: 'msgbuf',
  summary: 'one message',
  module: 'msgbuf',
  device: '/dev/msgbuf',
  tests: [
    { name: 'load', kind: 'load', description: 'loads', points: 2 },
    { name: 'write_read', kind: 'write_read', description: 'reads back', points: 3 },
    { name: 'race_writers', kind: 'race_writers', description: 'races', points: 5 },
    { name: 'unload', kind: 'unload', description: 'unloads', points: 1 },
    { name: 'kmemleak', kind: 'kmemleak', description: 'no leaks', points: 1 },
  ],
});
const NAMES = exercise.tests.map((t) => t.name);
const MAX = 12;
const LOAD_LINE = 100;

const okBuild: BuildResult = { ok: true, log: '', diagnostics: [] };
const timings = { build: 1, boot: 2, run: 3, analyze: 0.5, total: 6.5 };

/** hello, then start/end for each [name, status] pair, then done (unless `done: false`). */
function events(results: Array<[string, TestStatus] | [string, 'started']>, opts: { done?: boolean; cpus?: number; hello?: boolean } = {}): HarnessEvent[] {
  const out: HarnessEvent[] = [];
  if (opts.hello !== false) out.push({ event: 'hello', cpus: opts.cpus ?? 2, kernel: '6.1.90-kgrader', uptimeMs: 1200 });
  let t = 2000;
  for (const [name, status] of results) {
    out.push({ event: 'test_start', name, uptimeMs: t });
    if (status !== 'started') out.push({ event: 'test_end', name, status, output: `${name}: ${status}`, durationMs: 10 });
    t += 100;
  }
  if (opts.done !== false) out.push({ event: 'done', uptimeMs: t });
  return out;
}

const allPass = () => events(NAMES.map((n) => [n, 'pass'] as [string, TestStatus]));

function vm(over: Partial<VmSummary> = {}): VmSummary {
  const evs = over.events ?? allPass();
  return {
    events: evs,
    ready: { cpus: 2, ran: 2 },
    moduleMayBeLoaded: evs.some((e) => e.event === 'test_start'),
    done: evs.some((e) => e.event === 'done'),
    consoleBytes: 40_000,
    oomKilled: false,
    timeoutSeconds: 240,
    violationsBeforeLoad: [],
    ...over,
  };
}

function finding(over: Partial<Finding> & Pick<Finding, 'kind' | 'title'>): Finding {
  return {
    frames: [{ function: 'msgbuf_write', offset: 0x45, size: 0x120, module: 'msgbuf', file: 'msgbuf.c', line: 46 }],
    raw: over.title,
    line: LOAD_LINE + 50,
    ...over,
  };
}

function decide(over: Partial<VerdictInput> = {}) {
  const input: VerdictInput = { exercise, build: okBuild, vm: vm(), findings: [], loadStartLine: LOAD_LINE, moduleName: 'msgbuf', timings, ...over };
  const result = decideVerdict(input);
  // whatever the verdict, the result must satisfy the CLI/API contract
  GradeResult.parse(result);
  return result;
}

function statuses(result: ReturnType<typeof decide>): Record<string, string> {
  return Object.fromEntries(result.tests.map((t) => [t.name, t.status]));
}

function testOf(result: ReturnType<typeof decide>, name: string) {
  const t = result.tests.find((x) => x.name === name);
  assert.ok(t, `no test ${name}`);
  return t;
}

describe('decideVerdict: build failures', () => {
  const build: BuildResult = {
    ok: false,
    log: "msgbuf.c:46:9: error: expected ';' before 'if'",
    diagnostics: [
      { file: 'msgbuf.c', line: 40, column: 2, severity: 'warning', message: 'unused variable' },
      { file: 'msgbuf.c', line: 46, column: 9, severity: 'error', message: "expected ';' before 'if'" },
      { file: 'msgbuf.c', line: 71, column: 16, severity: 'error', message: 'passing argument 1 makes pointer from integer' },
    ],
  };

  it('fails with every test skipped and the first error in the summary', () => {
    const r = decide({ build, vm: undefined });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.score, 0);
    assert.equal(r.maxScore, MAX);
    assert.deepEqual(Object.values(statuses(r)), NAMES.map(() => 'skip'));
    assert.ok(r.tests.every((t) => t.points === 0 && t.output === 'not run: the build failed'));
    assert.deepEqual(r.tests.map((t) => t.maxPoints), [2, 3, 5, 1, 1]);
    assert.equal(r.summary, "The build failed with 2 errors; first: msgbuf.c:46: expected ';' before 'if'.");
    assert.deepEqual(r.findings, []);
    assert.equal(r.infrastructureError, undefined);
    assert.equal(r.build, build);
  });

  it('says "1 error" for a single error', () => {
    const r = decide({ build: { ...build, diagnostics: [build.diagnostics[1]!] }, vm: undefined });
    assert.equal(r.summary, "The build failed with 1 error; first: msgbuf.c:46: expected ';' before 'if'.");
  });

  it('shows a modpost error without a file location', () => {
    const r = decide({
      build: { ok: false, log: '', diagnostics: [{ file: '', line: 0, severity: 'error', message: 'modpost: "foo" [msgbuf.ko] undefined!' }] },
      vm: undefined,
    });
    assert.equal(r.summary, 'The build failed with 1 error; first: modpost: "foo" [msgbuf.ko] undefined!.');
  });

  it('ignores a VM run and findings when the build failed', () => {
    const r = decide({ build, findings: [finding({ kind: 'kasan', title: 'KASAN: x' })] });
    assert.equal(r.verdict, 'fail');
    assert.deepEqual(r.findings, []);
  });

  it(
    'reads "failed with an error" when no error diagnostic was parsed',
    () => {
      const r = decide({ build: { ok: false, log: 'Killed', diagnostics: [] }, vm: undefined });
      assert.equal(r.verdict, 'fail');
      assert.equal(r.summary, 'The build failed with an error.');
    },
  );
});

describe('decideVerdict: infrastructure errors', () => {
  function assertInfrastructure(r: ReturnType<typeof decide>, why: RegExp) {
    assert.equal(r.verdict, 'error');
    assert.equal(r.score, 0);
    assert.equal(r.maxScore, MAX);
    assert.match(r.infrastructureError ?? '', why);
    assert.match(r.summary, /could not grade this submission/);
    assert.match(r.summary, /does not count against you/);
    assert.ok(r.tests.every((t) => t.status === 'skip' && t.points === 0 && t.output === 'not run: infrastructure error'));
  }

  it('errors without a VM run for a successful build', () => {
    assertInfrastructure(decide({ vm: undefined }), /no VM run/);
  });

  it('errors when QEMU failed on the host side, even after the module was loaded', () => {
    const ev = events([['load', 'pass'], ['write_read', 'started']], { done: false });
    assertInfrastructure(decide({ vm: vm({ events: ev, qemuFailure: 'QEMU ended abnormally (killed by SIGSEGV)' }) }), /QEMU ended abnormally \(killed by SIGSEGV\)/);
  });

  it('errors when the harness never got to the load test', () => {
    assertInfrastructure(decide({ vm: vm({ events: [], stoppedBy: 'timeout' }) }), /did not get to loading the module: the VM hit the 240s time limit/);
    assertInfrastructure(decide({ vm: vm({ events: events([], { done: false }) }) }), /did not get to loading the module: the VM ended/);
  });

  it('errors when a CPU of the VM did not run a task', () => {
    const r = decide({ vm: vm({ ready: { cpus: 2, ran: 1 } }) });
    assertInfrastructure(r, /ran tasks on 1 CPU \(of 2 online\); races need at least 2/);
  });

  it('errors when the result channel failed before the module could be loaded', () => {
    const r = decide({ vm: vm({ violationsBeforeLoad: ['bad-mac: event 1 has a wrong signature'] }) });
    assertInfrastructure(r, /result channel failed before the module was loaded: bad-mac/);
  });

  it('errors on a kernel report before the module was loaded, keeping that report', () => {
    const early = finding({ kind: 'warning', title: 'WARNING in some_core_function', line: LOAD_LINE - 10, frames: [{ function: 'some_core_function' }] });
    const r = decide({ findings: [early] });
    assertInfrastructure(r, /before the module was loaded: WARNING in some_core_function/);
    assert.deepEqual(r.findings, [early]);
  });

  it('treats every report as early when the load marker never appeared', () => {
    const r = decide({ loadStartLine: undefined, findings: [finding({ kind: 'kasan', title: 'KASAN: x in msgbuf_write' })] });
    assertInfrastructure(r, /before the module was loaded/);
  });

  it('does not count a report on the load marker line itself as early', () => {
    const r = decide({ findings: [finding({ kind: 'warning', title: 'WARNING in msgbuf_init', line: LOAD_LINE, test: 'load' })] });
    assert.equal(r.verdict, 'fail');
  });

  it('does not call a tamper finding before the load an infrastructure fault', () => {
    const t = finding({ kind: 'tamper', title: 'tamper: x', line: LOAD_LINE - 1, frames: [] });
    assert.equal(decide({ findings: [t] }).verdict, 'fail');
  });
});

describe('decideVerdict: after the module is loaded, everything is the submission\'s', () => {
  it('fails (not errors) a test the harness ended with error: the module may have caused it', () => {
    const ev = events([['load', 'pass'], ['write_read', 'error'], ['race_writers', 'pass'], ['unload', 'pass'], ['kmemleak', 'pass']]);
    const r = decide({ vm: vm({ events: ev }) });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.infrastructureError, undefined);
    assert.equal(testOf(r, 'write_read').status, 'fail');
    assert.match(testOf(r, 'write_read').output, /could not run to completion with this module loaded/);
  });

  it('fails with a harness-lost finding when the harness vanished mid-test', () => {
    const ev = events([['load', 'pass'], ['write_read', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev }) });
    assert.equal(r.verdict, 'fail');
    const lost = r.findings.find((f) => f.kind === 'harness-lost');
    assert.ok(lost);
    assert.equal(lost.test, 'write_read');
    assert.match(lost.title, /the test harness vanished during test write_read/);
    assert.match(testOf(r, 'write_read').output, /vanished during test write_read/);
    assert.equal(testOf(r, 'kmemleak').status, 'skip');
  });

  it('fails with a harness-lost finding when the VM stopped reporting', () => {
    const ev = events([['load', 'pass'], ['write_read', 'pass'], ['race_writers', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev, stoppedBy: 'stalled', stalledIn: 'race_writers' }) });
    assert.equal(r.verdict, 'fail');
    assert.match(r.findings.find((f) => f.kind === 'harness-lost')?.title ?? '', /stopped reporting during test race_writers/);
  });

  it('adds no harness-lost finding when a crash explains the end', () => {
    const panic = finding({ kind: 'panic', title: 'Kernel panic - not syncing: Fatal exception', test: 'write_read' });
    const ev = events([['load', 'pass'], ['write_read', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev }), findings: [panic] });
    assert.deepEqual(r.findings.map((f) => f.kind), ['panic']);
  });

  it('keeps relevant findings when a test ended with error', () => {
    const ev = events([['load', 'error']]);
    const leak = finding({ kind: 'kmemleak', title: 'memory leak in msgbuf_write' });
    const r = decide({ vm: vm({ events: ev }), findings: [leak] });
    assert.equal(r.verdict, 'fail');
    assert.deepEqual(r.findings, [leak]);
  });
});

describe('decideVerdict: build-time policy', () => {
  it('fails without a VM run, every test skipped, naming the first forbidden use and its line', () => {
    const policy: Finding[] = [
      { kind: 'policy', title: 'policy: the module uses kernel symbol filp_open, which this exercise does not allow', frames: [{ function: 'msgbuf_init', file: 'msgbuf.c', line: 77 }], raw: 'x' },
      { kind: 'policy', title: 'policy: privileged instruction outb (port I/O) in msgbuf_init', frames: [], raw: 'y' },
    ];
    const r = decide({ policyFindings: policy, vm: undefined });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.score, 0);
    assert.deepEqual(r.findings, policy);
    assert.ok(r.tests.every((t) => t.status === 'skip'));
    assert.equal(r.summary, 'The module was not loaded: the module uses kernel symbol filp_open, which this exercise does not allow (msgbuf.c:77), and 1 more.');
  });
});

describe('decideVerdict: graded runs', () => {
  it('passes with full score when every test passes and nothing is reported', () => {
    const r = decide();
    assert.equal(r.verdict, 'pass');
    assert.equal(r.score, MAX);
    assert.equal(r.maxScore, MAX);
    assert.equal(r.summary, 'All 5 tests passed and the kernel reported nothing.');
    assert.deepEqual(r.tests.map((t) => t.points), [2, 3, 5, 1, 1]);
    assert.ok(r.tests.every((t) => t.status === 'pass' && t.durationMs === 10));
    assert.equal(r.exercise, 'msgbuf');
    assert.deepEqual(r.timings, timings);
    assert.equal(r.infrastructureError, undefined);
  });

  it('keeps the harness output of each test', () => {
    const r = decide();
    assert.equal(testOf(r, 'write_read').output, 'write_read: pass');
  });

  it('sums only the points of passing tests', () => {
    const ev = events([['load', 'pass'], ['write_read', 'fail'], ['race_writers', 'pass'], ['unload', 'fail'], ['kmemleak', 'pass']]);
    const r = decide({ vm: vm({ events: ev }) });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.score, 2 + 5 + 1);
    assert.equal(testOf(r, 'write_read').points, 0);
    assert.equal(testOf(r, 'unload').points, 0);
    assert.match(r.summary, /2 tests failed \(write_read, unload\)/);
  });

  it('fails a test that passed while a finding was attributed to it', () => {
    const kasan = finding({ kind: 'kasan', title: 'KASAN: slab-use-after-free Write in msgbuf_write', test: 'race_writers' });
    const r = decide({ findings: [kasan] });
    assert.equal(r.verdict, 'fail');
    const race = testOf(r, 'race_writers');
    assert.equal(race.status, 'fail');
    assert.equal(race.points, 0);
    assert.match(race.output, /kernel reported during this test: KASAN: slab-use-after-free Write in msgbuf_write/);
    assert.equal(r.score, MAX - 5);
    assert.equal(testOf(r, 'write_read').status, 'pass');
    assert.match(r.summary, /^The kernel reported a problem, first: KASAN: slab-use-after-free Write in msgbuf_write \(msgbuf\.c:46\)/);
    assert.match(r.summary, /1 test failed \(race_writers\)/);
    assert.deepEqual(r.findings, [kasan]);
  });

  it('lists every finding of a test in its output and counts them in the summary', () => {
    const a = finding({ kind: 'lockdep', title: 'possible circular locking dependency detected', test: 'race_writers' });
    const b = finding({ kind: 'atomic-sleep', title: 'BUG: sleeping function called from invalid context in msgbuf_read', test: 'race_writers' });
    const r = decide({ findings: [a, b] });
    assert.match(testOf(r, 'race_writers').output, /possible circular locking dependency detected; BUG: sleeping function/);
    assert.match(r.summary, /The kernel reported 2 problems, first: possible circular locking/);
  });

  it('fails the run for a finding outside any test, and the score says so: the penalty comes off', () => {
    const w = finding({ kind: 'warning', title: 'WARNING in msgbuf_exit' });
    const r = decide({ findings: [w] });
    assert.equal(r.verdict, 'fail');
    assert.ok(r.tests.every((t) => t.status === 'pass'));
    assert.equal(r.score, MAX - 2);
    assert.deepEqual(r.deductions, [{ points: 2, reason: 'WARNING in msgbuf_exit (not tied to a test)' }]);
    assert.match(r.summary, /2 points off: WARNING in msgbuf_exit \(not tied to a test\)/);
  });

  it('takes the penalty once per kind, never below zero', () => {
    const flood = (n: number) => finding({ kind: 'console-flood', title: `console flood ${n}`, frames: [] });
    const r = decide({ findings: [flood(1), flood(2), finding({ kind: 'stack-frame', title: 'stack frame of msgbuf_write is 2048 bytes' })] });
    assert.equal(r.score, MAX - 4);
    assert.equal(r.deductions?.length, 2);
  });

  it('never leaves a failing driver its full score, even with no penalty set', () => {
    const spec = ExerciseSpec.parse({ ...exercise, scoring: { findingPenalty: 0 } });
    const r = decide({ exercise: spec, findings: [finding({ kind: 'warning', title: 'WARNING in msgbuf_exit' })] });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.score, MAX - 1);
  });

  it('passes a chatty driver when the exercise lets chatter be advice, and says so', () => {
    const flood = finding({ kind: 'console-flood', title: 'console flood: 300 KiB printed', frames: [], advisory: true });
    const r = decide({ findings: [flood] });
    assert.equal(r.verdict, 'pass');
    assert.equal(r.score, MAX);
    assert.match(r.summary, /note: console flood: 300 KiB printed/);
  });

  it('counts a follow-on report as a consequence, not a second problem', () => {
    const kasan = finding({ kind: 'kasan', title: 'KASAN: slab-out-of-bounds Write in msgbuf_write', test: 'race_writers' });
    const gpf = finding({ kind: 'oops', title: 'general protection fault in __lookup_object', test: 'race_writers', consequenceOf: 0, frames: [{ function: '__lookup_object' }] });
    const ev = events([['load', 'pass'], ['write_read', 'pass'], ['race_writers', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev }), findings: [kasan, gpf] });
    assert.match(r.summary, /^The kernel reported a problem, first: KASAN: slab-out-of-bounds Write in msgbuf_write \(msgbuf.c:46\), and 1 follow-on report caused by it\./);
  });

  it('marks a harness lost right after a report in the same test as its consequence', () => {
    const kasan = finding({ kind: 'kasan', title: 'KASAN: slab-out-of-bounds Write in msgbuf_write', test: 'race_writers' });
    const ev = events([['load', 'pass'], ['write_read', 'pass'], ['race_writers', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev, stoppedBy: 'stalled', stalledIn: 'race_writers' }), findings: [kasan] });
    const lost = r.findings.find((f) => f.kind === 'harness-lost');
    assert.equal(lost?.consequenceOf, 0);
    assert.match(r.summary, /a problem, first: KASAN/);
  });

  it('fails the crashed test with the crash title and skips the later ones', () => {
    const oops = finding({ kind: 'oops', title: 'BUG: kernel NULL pointer dereference in msgbuf_write', test: 'write_read' });
    const ev = events([['load', 'pass'], ['write_read', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev }), findings: [oops] });
    assert.equal(r.verdict, 'fail');
    assert.deepEqual(statuses(r), { load: 'pass', write_read: 'fail', race_writers: 'skip', unload: 'skip', kmemleak: 'skip' });
    assert.equal(r.score, 2);
    const wr = testOf(r, 'write_read');
    assert.match(wr.output, /^the kernel crashed \(BUG: kernel NULL pointer dereference in msgbuf_write\) during this test/);
    assert.match(wr.output, /kernel reported during this test: BUG: kernel NULL pointer dereference/);
    for (const name of ['race_writers', 'unload', 'kmemleak']) {
      assert.equal(testOf(r, name).output, 'not run: the kernel crashed (BUG: kernel NULL pointer dereference in msgbuf_write)');
    }
  });

  for (const kind of ['panic', 'bug', 'stack-corruption'] as const) {
    it(`treats a ${kind} finding as a crash`, () => {
      const crash = finding({ kind, title: `${kind} in msgbuf_write`, test: 'race_writers' });
      const ev = events([['load', 'pass'], ['write_read', 'pass'], ['race_writers', 'started']], { done: false });
      const r = decide({ vm: vm({ events: ev }), findings: [crash] });
      assert.equal(r.verdict, 'fail');
      assert.equal(testOf(r, 'race_writers').status, 'fail');
      assert.match(testOf(r, 'unload').output, new RegExp(`not run: the kernel crashed \\(${kind} in msgbuf_write\\)`));
    });
  }

  it('fails on a VM timeout, naming the limit', () => {
    const ev = events([['load', 'pass'], ['write_read', 'pass'], ['race_writers', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev, stoppedBy: 'timeout', timeoutSeconds: 240 }) });
    assert.equal(r.verdict, 'fail');
    assert.deepEqual(statuses(r), { load: 'pass', write_read: 'pass', race_writers: 'fail', unload: 'skip', kmemleak: 'skip' });
    assert.equal(testOf(r, 'race_writers').output, 'the VM hit the 240s time limit during this test');
    assert.equal(testOf(r, 'unload').output, 'not run: the VM hit the 240s time limit');
    assert.equal(r.score, 5);
    assert.match(r.summary, /^The run stopped early: the VM hit the 240s time limit\. 1 test failed \(race_writers\)\.$/);
  });

  it('fails on a console flood, naming its size', () => {
    const ev = events([['load', 'pass'], ['write_read', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev, stoppedBy: 'flood', consoleBytes: 64 * 1024 * 1024 + 10 }) });
    assert.equal(r.verdict, 'fail');
    // the wording of the size may change; it must say flooded, give a size and the test
    assert.match(testOf(r, 'write_read').output, /console was flooded \((64 MiB|65536 KiB)[^)]*\) and the VM was stopped during this test$/);
    assert.equal(testOf(r, 'kmemleak').status, 'skip');
    assert.match(r.summary, /console was flooded/);
  });

  it('prefers a crash over a flood or timeout as the stop reason', () => {
    const panic = finding({ kind: 'panic', title: 'Kernel panic - not syncing: Fatal exception', test: 'load' });
    const ev = events([['load', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev, stoppedBy: 'flood' }), findings: [panic] });
    assert.match(testOf(r, 'load').output, /^the kernel crashed \(Kernel panic - not syncing: Fatal exception\)/);
  });

  it('fails (not errors) when the OOM killer killed the harness', () => {
    const ev = events([['load', 'pass'], ['write_read', 'pass'], ['race_writers', 'started']], { done: false });
    const r = decide({ vm: vm({ events: ev, oomKilled: true }) });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.infrastructureError, undefined);
    assert.equal(testOf(r, 'race_writers').output, 'the kernel ran out of memory and killed the test harness during this test');
    assert.equal(testOf(r, 'unload').status, 'skip');
  });

  it('fails a test the harness skipped, with no points', () => {
    const ev = events([['load', 'fail'], ['write_read', 'skip'], ['race_writers', 'skip'], ['unload', 'skip'], ['kmemleak', 'skip']]);
    const r = decide({ vm: vm({ events: ev }) });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.score, 0);
    assert.deepEqual(Object.values(statuses(r)), ['fail', 'skip', 'skip', 'skip', 'skip']);
    assert.match(r.summary, /1 test failed \(load\)/);
    assert.doesNotMatch(r.summary, /write_read/);
  });

  it('skips tests the harness never reached after done, as not run', () => {
    const ev = events([['load', 'pass'], ['write_read', 'pass']]);
    const r = decide({ vm: vm({ events: ev }) });
    assert.equal(r.verdict, 'fail');
    assert.equal(testOf(r, 'race_writers').status, 'skip');
    assert.equal(testOf(r, 'race_writers').output, 'not run: an earlier test stopped the run');
  });

  it('drops kmemleak findings that do not involve the module and passes', () => {
    const foreign = finding({ kind: 'kmemleak', title: 'memory leak in kobject_set_name', frames: [{ function: 'kobject_set_name', offset: 1 }, { function: 'kobject_add', offset: 2 }] });
    const r = decide({ findings: [foreign] });
    assert.equal(r.verdict, 'pass');
    assert.deepEqual(r.findings, []);
    assert.equal(r.score, MAX);
  });

  it('keeps kmemleak findings with a frame in the module and fails the kmemleak test', () => {
    const leak = finding({
      kind: 'kmemleak',
      title: 'memory leak in msgbuf_write',
      test: 'kmemleak',
      frames: [{ function: '__kmalloc', offset: 1 }, { function: 'msgbuf_write', offset: 0x30, module: 'msgbuf' }],
    });
    const r = decide({ findings: [leak] });
    assert.equal(r.verdict, 'fail');
    assert.equal(testOf(r, 'kmemleak').status, 'fail');
    assert.deepEqual(r.findings, [leak]);
  });
});

describe('relevantFindings', () => {
  const kasan = finding({ kind: 'kasan', title: 'KASAN in core', frames: [{ function: 'memcpy' }] });
  const ownLeak = finding({ kind: 'kmemleak', title: 'memory leak in msgbuf_write', frames: [{ function: 'kmalloc_trace' }, { function: 'msgbuf_write', module: 'msgbuf' }] });
  const foreignLeak = finding({ kind: 'kmemleak', title: 'memory leak in other', frames: [{ function: 'other_alloc', module: 'othermod' }] });
  const noFrames = finding({ kind: 'kmemleak', title: 'memory leak', frames: [] });
  const warning = finding({ kind: 'warning', title: 'WARNING', frames: [] });

  it('keeps every non-kmemleak finding, even without module frames', () => {
    assert.deepEqual(relevantFindings([kasan, warning], 'msgbuf'), [kasan, warning]);
  });

  it('keeps kmemleak findings only with a frame in the module, in order', () => {
    assert.deepEqual(relevantFindings([foreignLeak, kasan, ownLeak, noFrames, warning], 'msgbuf'), [kasan, ownLeak, warning]);
  });

  it('matches the module name exactly', () => {
    assert.deepEqual(relevantFindings([ownLeak], 'msgbuf2'), []);
    assert.deepEqual(relevantFindings([foreignLeak], 'othermod'), [foreignLeak]);
  });

  it('renumbers consequenceOf when a dropped finding came before, and drops it when its cause goes', () => {
    const kernelLeak = finding({ kind: 'kmemleak', title: 'memory leak in kernel_thing', frames: [{ function: 'kernel_thing' }] });
    const kasan = finding({ kind: 'kasan', title: 'KASAN: x' });
    const gpf = finding({ kind: 'oops', title: 'GPF', consequenceOf: 1 });
    const orphan = finding({ kind: 'oops', title: 'orphan', consequenceOf: 0 });
    const kept = relevantFindings([kernelLeak, kasan, gpf, orphan], 'msgbuf');
    assert.deepEqual(kept.map((f) => [f.title, f.consequenceOf]), [['KASAN: x', undefined], ['GPF', 0], ['orphan', undefined]]);
  });

  it('returns a new array and leaves the input alone', () => {
    const input = [ownLeak, foreignLeak];
    const out = relevantFindings(input, 'msgbuf');
    assert.notEqual(out, input);
    assert.equal(input.length, 2);
  });
});

describe('infrastructureError', () => {
  it('skips every test, scores nothing, keeps the reason and says it does not count', () => {
    const r = infrastructureError(exercise, 'grading kernel not built', { ok: false, log: '', diagnostics: [] }, { build: 0, boot: 0, run: 0, analyze: 0, total: 1 });
    GradeResult.parse(r);
    assert.equal(r.verdict, 'error');
    assert.equal(r.score, 0);
    assert.equal(r.maxScore, exercise.tests.reduce((s, t) => s + t.points, 0));
    assert.ok(r.tests.every((t) => t.status === 'skip' && t.output === 'not run: infrastructure error'));
    assert.equal(r.infrastructureError, 'grading kernel not built');
    assert.match(r.summary, /\(grading kernel not built\); it will be retried and does not count against you\.$/);
  });
});
