// The one implementation of "does this grading keep the promise its solution makes"
// (`SolutionExpectation`, exercises/<slug>/solutions.json): used by the end-to-end tests of the
// shipped solutions and by the service when an instructor publishes an exercise version.
// Pure: a grading result in, the list of broken promises out (empty: kept).
import type { ExerciseSpec, GradeResult, SolutionExpectation } from '@kgrader/schemas';

/** kinds whose reports carry a stack through the student's code: it must be mapped to their source */
export const MUST_MAP_TO_SOURCE: ReadonlySet<string> = new Set(['kasan', 'atomic-sleep', 'kmemleak', 'lockdep', 'oops']);

type Graded = Omit<GradeResult, 'console'>;

/** One line of context for a problem message: verdict, summary, tests and findings. */
export function describeResult(result: Graded): string {
  return `verdict ${result.verdict}: ${result.summary}\ntests: ${result.tests.map((t) => `${t.name}=${t.status}`).join(' ')}\nfindings: ${result.findings.map((f) => `[${f.kind}] ${f.title}`).join('; ')}`;
}

/**
 * The promises `expected` makes that `result` breaks, as sentences (empty: the solution grades as
 * promised). `sources`: the solution's file names (findings must map to one of them).
 * An `error` verdict (kgrader's own infrastructure) is reported as such: it says nothing about the
 * solution.
 */
export function expectationProblems(result: Graded, expected: SolutionExpectation, sources: readonly string[]): string[] {
  const problems: string[] = [];
  if (result.verdict === 'error') return [`infrastructure error: ${result.infrastructureError ?? result.summary}`];
  if (result.verdict !== expected.verdict) problems.push(`verdict is ${result.verdict}, expected ${expected.verdict}`);
  if (result.build.ok !== expected.builds) problems.push(expected.builds ? 'the build failed' : 'the build succeeded, expected it to fail');
  const testsMax = result.tests.reduce((s, t) => s + t.maxPoints, 0);
  if (result.maxScore !== testsMax) problems.push(`maxScore ${result.maxScore} is not the tests' total ${testsMax}`);
  const passed = result.tests.filter((t) => t.status === 'pass').reduce((s, t) => s + t.points, 0);
  if (result.score !== passed) problems.push(`score ${result.score} is not the passed tests' points ${passed}`);
  if (expected.verdict === 'pass') {
    if (result.score !== result.maxScore) problems.push(`score ${result.score} of ${result.maxScore}, expected full marks`);
    if (result.findings.length > 0) problems.push(`expected no finding, got ${result.findings.map((f) => `[${f.kind}] ${f.title}`).join('; ')}`);
  }
  if (!expected.builds && !result.build.ok) {
    if (!result.build.diagnostics.some((d) => d.severity === 'error' && sources.includes(d.file) && d.line > 0)) {
      problems.push('no compiler error points into a file of the solution');
    }
  }
  if (expected.anyOfFindingKinds.length > 0) {
    const matching = result.findings.filter((f) => expected.anyOfFindingKinds.includes(f.kind));
    if (matching.length === 0) {
      problems.push(`expected a finding of kind ${expected.anyOfFindingKinds.join('|')}, got ${result.findings.map((f) => f.kind).join(', ') || 'none'}`);
    } else {
      if (expected.titleIncludes && !matching.some((f) => f.title.includes(expected.titleIncludes!))) {
        problems.push(`no ${expected.anyOfFindingKinds.join('|')} finding title contains ${JSON.stringify(expected.titleIncludes)}`);
      }
      for (const finding of matching.filter((f) => MUST_MAP_TO_SOURCE.has(f.kind))) {
        const frames = [...finding.frames, ...(finding.stacks ?? []).flatMap((s) => s.frames)];
        if (!frames.some((fr) => fr.file !== undefined && sources.includes(fr.file) && (fr.line ?? 0) > 0 && fr.source !== undefined)) {
          problems.push(`finding ${finding.title} does not map to a line of the solution's source`);
        }
      }
    }
  }
  for (const name of expected.failingTests) {
    const t = result.tests.find((x) => x.name === name);
    if (!t) problems.push(`test ${name} does not exist`);
    else if (t.status === 'pass') problems.push(`test ${name} passed, expected it not to`);
  }
  if (expected.consoleTruncated && !((result.consoleTruncatedBytes ?? 0) > 0)) problems.push('expected the flooded console to be capped');
  if (!(result.timings.total > 0)) problems.push('no total time recorded');
  return problems;
}

/** The exercise with its policy widened by some kernel symbols (the deeper-defence grading). */
export function widenPolicy(spec: ExerciseSpec, symbols: readonly string[]): ExerciseSpec {
  return { ...spec, policy: { ...spec.policy, symbols: [...spec.policy.symbols, ...symbols] } };
}

/**
 * The promises of `withSymbolsAllowed` that a grading with the widened policy breaks: it must
 * still fail, caught by a finding of one of the kinds, with the module past the policy check.
 */
export function deeperDefenceProblems(result: Graded, deeper: NonNullable<SolutionExpectation['withSymbolsAllowed']>): string[] {
  if (result.verdict === 'error') return [`infrastructure error: ${result.infrastructureError ?? result.summary}`];
  const problems: string[] = [];
  if (result.verdict !== 'fail') problems.push(`with ${deeper.symbols.join(', ')} allowed the verdict is ${result.verdict}, expected fail`);
  if (result.findings.some((f) => f.kind === 'policy')) problems.push(`the widened policy (${deeper.symbols.join(', ')}) did not let the module run`);
  if (!result.findings.some((f) => deeper.anyOfFindingKinds.includes(f.kind))) {
    problems.push(`with ${deeper.symbols.join(', ')} allowed, expected a finding of kind ${deeper.anyOfFindingKinds.join('|')}`);
  }
  if (!(result.score < result.maxScore)) problems.push('with the widened policy it still scored full marks');
  return problems;
}
