import type { BuildResult, ExerciseSpec, Finding, GradeResult, HarnessEvent, TestResult, Timings } from '@kgrader/schemas';

/** What happened to the VM, as far as scoring cares. */
export interface VmSummary {
  events: HarnessEvent[];
  timedOut: boolean;
  flooded: boolean;
  /** QEMU could not be started */
  startError?: string;
  consoleBytes: number;
  /** the console mentions the OOM killer: the harness may have been killed by the driver's allocations */
  oomKilled: boolean;
  timeoutSeconds: number;
}

export interface VerdictInput {
  exercise: ExerciseSpec;
  build: BuildResult;
  /** absent when the build failed and no VM ran */
  vm?: VmSummary;
  /** symbolized findings, each attributed to the test it appeared in */
  findings: Finding[];
  /** console line where the harness started loading the student's module, if it got there */
  loadStartLine?: number;
  moduleName: string;
  timings: Timings;
}

/** Only findings that can be the student's: kmemleak reports must involve their module. */
export function relevantFindings(findings: readonly Finding[], moduleName: string): Finding[] {
  return findings.filter((f) => f.kind !== 'kmemleak' || f.frames.some((fr) => fr.module === moduleName));
}

/**
 * The `error` result: kgrader's own infrastructure failed (retryable, never the student's fault).
 * Every test is skipped; findings seen so far are kept for the operators.
 */
export function infrastructureError(
  exercise: ExerciseSpec,
  why: string,
  build: BuildResult,
  timings: Timings,
  findings: Finding[] = [],
): Omit<GradeResult, 'console' | 'consoleTruncatedBytes'> {
  return {
    exercise: exercise.slug,
    build,
    timings,
    maxScore: maxScoreOf(exercise),
    verdict: 'error',
    score: 0,
    summary: `kgrader could not grade this submission (${why}); it will be retried and does not count against you.`,
    tests: skippedTests(exercise, 'not run: infrastructure error'),
    findings,
    infrastructureError: why,
  };
}

const maxScoreOf = (exercise: ExerciseSpec) => exercise.tests.reduce((sum, t) => sum + t.points, 0);
const skippedTests = (exercise: ExerciseSpec, why: string): TestResult[] =>
  exercise.tests.map((t) => ({ name: t.name, status: 'skip', points: 0, maxPoints: t.points, output: why }));

/**
 * Decides the verdict. `error` only for faults of kgrader's own infrastructure (retryable);
 * everything the driver does, including panics, hangs and floods, is `fail`.
 */
export function decideVerdict(input: VerdictInput): Omit<GradeResult, 'console' | 'consoleTruncatedBytes'> {
  const { exercise, build, vm, timings } = input;
  const base = { exercise: exercise.slug, build, timings, maxScore: maxScoreOf(exercise) };
  const allSkipped = (why: string) => skippedTests(exercise, why);
  const infrastructure = (why: string, findings: Finding[] = []) => infrastructureError(exercise, why, build, timings, findings);

  if (!build.ok) {
    const errors = build.diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0];
    const where = first ? `; first: ${first.file ? `${first.file}:${first.line}: ` : ''}${first.message}` : '';
    return {
      ...base,
      verdict: 'fail',
      score: 0,
      summary: `The build failed with ${errors.length === 0 ? 'an error' : `${errors.length} error${errors.length === 1 ? '' : 's'}`}${where}.`,
      tests: allSkipped('not run: the build failed'),
      findings: [],
    };
  }
  if (!vm) return infrastructure('no VM run for a successful build');
  if (vm.startError) return infrastructure(`QEMU could not start: ${vm.startError}`);
  const hello = vm.events.find((e) => e.event === 'hello');
  if (!hello) {
    return infrastructure(vm.timedOut ? 'the grading kernel did not reach the harness before the time limit' : 'the grading kernel stopped before the harness started');
  }
  if (hello.cpus < 2) return infrastructure(`the VM came up with ${hello.cpus} CPU; races need at least 2`);
  const early = input.findings.filter((f) => input.loadStartLine === undefined || (f.line ?? 0) < input.loadStartLine);
  if (early.length > 0) {
    return infrastructure(`a kernel report appeared before the module was loaded: ${early[0]!.title}`, early);
  }

  const findings = relevantFindings(input.findings, input.moduleName);
  const ended = new Map<string, Extract<HarnessEvent, { event: 'test_end' }>>();
  const started = new Set<string>();
  for (const e of vm.events) {
    if (e.event === 'test_end') ended.set(e.name, e);
    if (e.event === 'test_start') started.add(e.name);
  }
  const done = vm.events.some((e) => e.event === 'done');
  const crash = findings.find((f) => ['panic', 'oops', 'bug', 'stack-corruption'].includes(f.kind));
  const stopReason = crash
    ? `the kernel crashed (${crash.title})`
    : vm.flooded
      ? `the kernel console was flooded (${Math.round(vm.consoleBytes / 1024)} KiB of output) and the VM was stopped`
      : vm.timedOut
        ? `the VM hit the ${vm.timeoutSeconds}s time limit`
        : vm.oomKilled
          ? 'the kernel ran out of memory and killed the test harness'
          : undefined;
  if (!done && !stopReason) {
    return infrastructure('the test harness ended without finishing its plan');
  }

  let harnessError: string | undefined;
  const tests: TestResult[] = exercise.tests.map((test) => {
    const end = ended.get(test.name);
    const during = findings.filter((f) => f.test === test.name);
    const reported = during.length > 0 ? `\nkernel reported during this test: ${during.map((f) => f.title).join('; ')}` : '';
    if (end) {
      if (end.status === 'error') harnessError ??= `the harness could not run test ${test.name}: ${end.output.slice(0, 200)}`;
      const status = end.status === 'pass' && during.length > 0 ? 'fail' : end.status;
      return {
        name: test.name,
        status,
        points: status === 'pass' ? test.points : 0,
        maxPoints: test.points,
        output: `${end.output}${reported}`.trim(),
        durationMs: end.durationMs,
      };
    }
    if (started.has(test.name)) {
      return { name: test.name, status: 'fail', points: 0, maxPoints: test.points, output: `${stopReason ?? 'did not finish'} during this test${reported}` };
    }
    return { name: test.name, status: 'skip', points: 0, maxPoints: test.points, output: `not run: ${stopReason ?? 'an earlier test stopped the run'}` };
  });
  if (harnessError) return infrastructure(harnessError, findings);

  const score = tests.reduce((sum, t) => sum + t.points, 0);
  const failed = tests.filter((t) => t.status !== 'pass');
  const pass = failed.length === 0 && findings.length === 0;
  return {
    ...base,
    verdict: pass ? 'pass' : 'fail',
    score,
    summary: pass
      ? `All ${tests.length} tests passed and the kernel reported nothing.`
      : summarizeFailure(failed, findings, stopReason),
    tests,
    findings,
  };
}

function summarizeFailure(failed: TestResult[], findings: Finding[], stopReason?: string): string {
  const parts: string[] = [];
  const first = findings[0];
  if (first) {
    const frame = first.frames.find((f) => f.file && f.line);
    parts.push(`The kernel reported ${findings.length === 1 ? 'a problem' : `${findings.length} problems`}, first: ${first.title}${frame ? ` (${frame.file}:${frame.line})` : ''}`);
  }
  if (stopReason && !first) parts.push(`The run stopped early: ${stopReason}`);
  const realFailures = failed.filter((t) => t.status === 'fail');
  if (realFailures.length > 0) parts.push(`${realFailures.length} test${realFailures.length === 1 ? '' : 's'} failed (${realFailures.map((t) => t.name).join(', ')})`);
  return `${parts.join('. ')}.`;
}

export { FINDING_EXPLANATIONS, explainFinding } from './explain.js';
