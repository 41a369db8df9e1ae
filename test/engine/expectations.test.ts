// The solution-expectation check of @kgrader/expectations (shared by grade-solutions.test.ts and
// exercise publishing): each promise of a SolutionExpectation, kept and broken, on synthetic results.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectationProblems, variantProblems, variantSpec } from '@kgrader/expectations';
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
  it('a variant with symbols allowed: still failing, past the policy check, caught by the named kind', () => {
    const variant = { description: 'with kernel_write allowed', allowSymbols: ['kernel_write'], kcsanTests: [], verdict: 'fail' as const, anyOfFindingKinds: ['tamper'] };
    const tamper = base({ verdict: 'fail', score: 1, findings: [{ kind: 'tamper', title: 'tamper', frames: [], raw: '', count: 1 }] });
    assert.deepEqual(variantProblems(tamper, variant), []);
    const policy = base({ verdict: 'fail', score: 0, findings: [{ kind: 'policy', title: 'policy: kernel_write', frames: [], raw: '', count: 1 }] });
    assert.match(variantProblems(policy, variant).join(), /did not let the module run/);
  });
  it('a variant with a KCSAN pass: the pass must have run', () => {
    const variant = { description: 'KCSAN', allowSymbols: [], kcsanTests: ['race'], verdict: 'fail' as const, anyOfFindingKinds: ['kcsan'] };
    const noPass = base({ verdict: 'fail', score: 1, findings: [{ kind: 'kcsan', title: 'KCSAN: data-race', frames: [], raw: '', count: 1 }] });
    assert.match(variantProblems(noPass, variant).join(), /the KCSAN pass did not run/);
  });
  it('a failing driver with its full score breaks the contract; deductions count', () => {
    const full = base({ verdict: 'fail', findings: [{ kind: 'console-flood', title: 'flood', frames: [], raw: '', count: 1 }] });
    assert.match(expectationProblems(full, expect({ verdict: 'fail' }), ['x.c']).join(), /kept its full score/);
    const deducted = base({ verdict: 'fail', score: 1, deductions: [{ points: 2, reason: 'flood' }], findings: [{ kind: 'console-flood', title: 'flood', frames: [], raw: '', count: 1 }] });
    assert.deepEqual(expectationProblems(deducted, expect({ verdict: 'fail', anyOfFindingKinds: ['console-flood'] }), ['x.c']), []);
  });
  it('variantSpec adds symbols or a KCSAN pass and keeps the rest of the spec', () => {
    const spec = ExerciseSpec.parse({ slug: 'x', title: 't', summary: 's', device: '/dev/x', policy: { symbols: ['a'] }, tests: [{ name: 'load', kind: 'load', description: 'd', points: 1 }] });
    const w = variantSpec(spec, { description: 'd', allowSymbols: ['b'], kcsanTests: ['load'], verdict: 'fail', anyOfFindingKinds: [] });
    assert.deepEqual(w.policy.symbols, ['a', 'b']);
    assert.deepEqual(w.kcsan, { tests: ['load'] });
    assert.deepEqual(spec.policy.symbols, ['a'], 'not mutated');
    assert.equal(w.tests, spec.tests);
  });
  it('a variant with a smaller console cap: the spec carries it, and a console left uncut breaks the promise', () => {
    const spec = ExerciseSpec.parse({ slug: 'x', title: 't', summary: 's', device: '/dev/x', tests: [{ name: 'load', kind: 'load', description: 'd', points: 1 }] });
    const variant = { description: 'capped', allowSymbols: [], kcsanTests: [], consoleBytes: 65536, consoleTruncated: true, verdict: 'fail' as const, anyOfFindingKinds: ['console-flood'] };
    const capped = variantSpec(spec, variant);
    assert.equal(capped.limits.consoleBytes, 65536);
    assert.equal(capped.limits.chatterBytes, spec.limits.chatterBytes, 'the other limits stay');
    assert.notEqual(spec.limits.consoleBytes, 65536, 'not mutated');
    const flood = { kind: 'console-flood' as const, title: 'flood', frames: [], raw: '', count: 1 };
    assert.match(variantProblems(base({ verdict: 'fail', score: 1, findings: [flood] }), variant).join(), /expected the flooded console to be capped/);
    assert.deepEqual(variantProblems(base({ verdict: 'fail', score: 1, findings: [flood], consoleTruncatedBytes: 4096 }), variant), []);
  });
});
