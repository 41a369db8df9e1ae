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
  const deducted = (result.deductions ?? []).reduce((s, d) => s + d.points, 0);
  if (result.score !== Math.max(0, passed - deducted)) problems.push(`score ${result.score} is not the passed tests' points ${passed} less the deductions ${deducted}`);
  if (result.verdict === 'fail' && result.maxScore > 0 && result.score >= result.maxScore) problems.push('a failing driver kept its full score');
  if (expected.verdict === 'pass') {
    if (result.score !== result.maxScore) problems.push(`score ${result.score} of ${result.maxScore}, expected full marks`);
    const failing = result.findings.filter((f) => !f.advisory);
    if (failing.length > 0) problems.push(`expected no finding, got ${failing.map((f) => `[${f.kind}] ${f.title}`).join('; ')}`);
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
      // through its frames, or its suspect when no stack passes through the module; a follow-on
      // report maps through its cause
      for (const finding of matching.filter((f) => MUST_MAP_TO_SOURCE.has(f.kind) && f.consequenceOf === undefined)) {
        const frames = [...finding.frames, ...(finding.stacks ?? []).flatMap((s) => s.frames)];
        const viaFrames = frames.some((fr) => fr.file !== undefined && sources.includes(fr.file) && (fr.line ?? 0) > 0 && fr.source !== undefined);
        const viaSuspect = finding.suspect?.file !== undefined && sources.includes(finding.suspect.file) && (finding.suspect.line ?? 0) > 0;
        if (!viaFrames && !viaSuspect) problems.push(`finding ${finding.title} does not map to a line of the solution's source`);
      }
    }
  }
  if (expected.locatedAt) {
    const [file, line] = expected.locatedAt.split(':');
    const places = result.findings
      .filter((f) => expected.anyOfFindingKinds.length === 0 || expected.anyOfFindingKinds.includes(f.kind))
      .flatMap((f) => [...f.frames, ...(f.suspect ? [f.suspect] : [])]);
    if (!places.some((p) => p.file === file && p.line === Number(line))) problems.push(`no finding is located at ${expected.locatedAt}`);
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

type Variant = SolutionExpectation['variants'][number];

/** The exercise as a variant grades it: symbols allowed beyond its policy, a KCSAN pass over some tests. */
export function variantSpec(spec: ExerciseSpec, variant: Variant): ExerciseSpec {
  return {
    ...spec,
    ...(variant.allowSymbols.length > 0 ? { policy: { ...spec.policy, symbols: [...spec.policy.symbols, ...variant.allowSymbols] } } : {}),
    ...(variant.kcsanTests.length > 0 ? { kcsan: { tests: variant.kcsanTests } } : {}),
    ...(variant.consoleBytes !== undefined ? { limits: { ...spec.limits, consoleBytes: variant.consoleBytes } } : {}),
  };
}

/**
 * The promises of a variant that its grading breaks: its verdict, a finding of one of its kinds;
 * with symbols allowed, the module got past the policy check; with a KCSAN pass, the pass ran;
 * a failing variant never keeps full marks.
 */
export function variantProblems(result: Graded, variant: Variant): string[] {
  if (result.verdict === 'error') return [`infrastructure error: ${result.infrastructureError ?? result.summary}`];
  const problems: string[] = [];
  const what = variant.description;
  if (result.verdict !== variant.verdict) problems.push(`${what}: the verdict is ${result.verdict}, expected ${variant.verdict}`);
  if (variant.allowSymbols.length > 0 && result.findings.some((f) => f.kind === 'policy')) problems.push(`${what}: the widened policy (${variant.allowSymbols.join(', ')}) did not let the module run`);
  if (variant.kcsanTests.length > 0 && !((result.timings.kcsan ?? 0) > 0)) problems.push(`${what}: the KCSAN pass did not run`);
  if (variant.anyOfFindingKinds.length > 0 && !result.findings.some((f) => variant.anyOfFindingKinds.includes(f.kind))) {
    problems.push(`${what}: expected a finding of kind ${variant.anyOfFindingKinds.join('|')}`);
  }
  if (variant.verdict === 'fail' && !(result.score < result.maxScore)) problems.push(`${what}: it still scored full marks`);
  if (variant.consoleTruncated && !((result.consoleTruncatedBytes ?? 0) > 0)) problems.push(`${what}: expected the flooded console to be capped`);
  if (variant.verdict === 'pass' && result.findings.some((f) => !f.advisory)) problems.push(`${what}: expected no finding, got ${result.findings.map((f) => f.title).join('; ')}`);
  return problems;
}
