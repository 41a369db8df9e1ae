// The solution-expectation check of @kgrader/expectations (shared by grade-solutions.test.ts and
// exercise publishing): each promise of a SolutionExpectation, kept and broken, on synthetic results.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deeperDefenceProblems, expectationProblems, widenPolicy } from '@kgrader/expectations';
import { ExerciseSpec, SolutionExpectation, type GradeResult } from '@kgrader/schemas';

const base = (over: Partial<GradeResult> = {}): GradeResult => ({
  verdict: 'pass',
  score: 3,
  maxScore: 3,
  summary: 'ok',
  exercise: 'x',
  build: { ok: true, log: '', diagnostics: [] },
  tests: [
    { name: 'load', status: 'pass', points: 1, maxPoints: 1, output: '' },
    { name: 'read', status: 'pass', points: 2, maxPoints: 2, output: '' },
  ],
  findings: [],
  timings: { build: 1, boot: 1, run: 1, analyze: 0, total: 3 },
  ...over,
});
const kasan = (file: string, source?: string) => ({ kind: 'kasan' as const, title: 'KASAN: slab-out-of-bounds Read in x_read', frames: [{ function: 'x_read', file, line: 3, ...(source ? { source } : {}) }], raw: '', count: 1 });
const failing = base({ verdict: 'fail', score: 1, tests: [base().tests[0]!, { name: 'read', status: 'fail', points: 0, maxPoints: 2, output: '' }], findings: [kasan('x.c', 'buf[n]')] });
const expect = (e: object) => SolutionExpectation.parse({ description: 'd', ...e });

describe('expectationProblems', () => {
  it('a reference that passes with full marks and no finding keeps its promise', () => {
    assert.deepEqual(expectationProblems(base(), expect({ verdict: 'pass' }), ['x.c']), []);
  });
  it('a buggy solution caught as promised keeps it', () => {
    assert.deepEqual(expectationProblems(failing, expect({ verdict: 'fail', anyOfFindingKinds: ['kasan'], failingTests: ['read'], titleIncludes: 'out-of-bounds Read' }), ['x.c']), []);
  });
  it('each broken promise is named', () => {
    assert.match(expectationProblems(base(), expect({ verdict: 'fail' }), ['x.c']).join(), /verdict is pass, expected fail/);
    assert.match(expectationProblems(failing, expect({ verdict: 'fail', anyOfFindingKinds: ['lockdep'] }), ['x.c']).join(), /expected a finding of kind lockdep, got kasan/);
    assert.match(expectationProblems(failing, expect({ verdict: 'fail', anyOfFindingKinds: ['kasan'], titleIncludes: 'use-after-free' }), ['x.c']).join(), /title contains "use-after-free"/);
    assert.match(expectationProblems(failing, expect({ verdict: 'fail', failingTests: ['load'] }), ['x.c']).join(), /test load passed/);
    assert.match(expectationProblems(failing, expect({ verdict: 'fail', failingTests: ['nope'] }), ['x.c']).join(), /test nope does not exist/);
    const unmapped = base({ ...failing, findings: [kasan('other.c')] });
    assert.match(expectationProblems(unmapped, expect({ verdict: 'fail', anyOfFindingKinds: ['kasan'] }), ['x.c']).join(), /does not map to a line/);
    assert.match(expectationProblems(base({ score: 2 }), expect({ verdict: 'pass' }), ['x.c']).join(), /score 2 is not the passed tests' points 3/);
    assert.match(expectationProblems(base({ verdict: 'error', infrastructureError: 'no VM' }), expect({ verdict: 'pass' }), ['x.c']).join(), /infrastructure error: no VM/);
  });
  it('the deeper defence: still failing, past the policy check, caught by the named kind', () => {
    const deeper = { symbols: ['kernel_write'], anyOfFindingKinds: ['tamper'] };
    const tamper = base({ verdict: 'fail', score: 1, findings: [{ kind: 'tamper', title: 'tamper', frames: [], raw: '', count: 1 }] });
    assert.deepEqual(deeperDefenceProblems(tamper, deeper), []);
    const policy = base({ verdict: 'fail', score: 0, findings: [{ kind: 'policy', title: 'policy: kernel_write', frames: [], raw: '', count: 1 }] });
    assert.match(deeperDefenceProblems(policy, deeper).join(), /did not let the module run/);
  });
  it('widenPolicy adds symbols and keeps the rest of the spec', () => {
    const spec = ExerciseSpec.parse({ slug: 'x', title: 't', summary: 's', device: '/dev/x', policy: { symbols: ['a'] }, tests: [{ name: 'load', kind: 'load', description: 'd', points: 1 }] });
    const w = widenPolicy(spec, ['b']);
    assert.deepEqual(w.policy.symbols, ['a', 'b']);
    assert.deepEqual(spec.policy.symbols, ['a'], 'not mutated');
    assert.equal(w.tests, spec.tests);
  });
});
