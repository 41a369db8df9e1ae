import type { BuildResult, ExerciseSpec, Finding, GradeResult, HarnessEvent, TestResult, Timings } from '@kgrader/schemas';

/** What happened to the VM, as far as scoring cares. */
export interface VmSummary {
  /** authenticated harness events, in plan order */
  events: HarnessEvent[];
  /** what the harness reported before its work was sent: CPUs online and CPUs that ran a pinned task */
  ready: { cpus: number; ran: number };
  /** the harness announced the load test: from then on everything is the submission's doing */
  moduleMayBeLoaded: boolean;
  /** the harness finished its plan (authenticated `done`) */
  done: boolean;
  /** the host stopped the VM itself */
  stoppedBy?: 'timeout' | 'flood' | 'channel-flood' | 'stalled' | 'aborted' | 'after-done';
  /** the test the VM stopped reporting in, when stalled */
  stalledIn?: string;
  /** QEMU failed on the host's side (crashed, killed by the host, could not start): never the student's */
  qemuFailure?: string;
  consoleBytes: number;
  /** the console mentions the OOM killer: the harness may have been killed by the driver's allocations */
  oomKilled: boolean;
  timeoutSeconds: number;
  /** result-channel problems before the module could have been loaded: kgrader's own fault */
  violationsBeforeLoad: string[];
}

export interface VerdictInput {
  exercise: ExerciseSpec;
  build: BuildResult;
  /** build-time policy findings: the module was not loaded because it uses what the exercise does not allow */
  policyFindings?: Finding[];
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
  const policy = input.policyFindings ?? [];
  if (policy.length > 0) {
    const first = policy[0]!;
    const frame = first.frames.find((f) => f.file && f.line);
    return {
      ...base,
      verdict: 'fail',
      score: 0,
      summary: `The module was not loaded: ${first.title.replace(/^policy: /, '')}${frame ? ` (${frame.file}:${frame.line})` : ''}${policy.length > 1 ? `, and ${policy.length - 1} more` : ''}.`,
      tests: allSkipped('not run: the module uses what this exercise does not allow'),
      findings: policy,
    };
  }
  if (!vm) return infrastructure('no VM run for a successful build');
  if (vm.qemuFailure) return infrastructure(vm.qemuFailure);
  if (vm.ready.ran < 2) return infrastructure(`the VM ran tasks on ${vm.ready.ran} CPU${vm.ready.ran === 1 ? '' : 's'} (of ${vm.ready.cpus} online); races need at least 2`);
  if (vm.violationsBeforeLoad.length > 0) return infrastructure(`the result channel failed before the module was loaded: ${vm.violationsBeforeLoad[0]}`);
  const early = input.findings.filter((f) => input.loadStartLine === undefined || (f.line ?? 0) < input.loadStartLine);
  if (early.length > 0 && early.some((f) => f.kind !== 'tamper')) {
    return infrastructure(`a kernel report appeared before the module was loaded: ${early.find((f) => f.kind !== 'tamper')!.title}`, early);
  }
  if (!vm.moduleMayBeLoaded) {
    const why = vm.stoppedBy === 'timeout' ? `the VM hit the ${vm.timeoutSeconds}s time limit` : vm.stoppedBy ? `the VM was stopped (${vm.stoppedBy})` : 'the VM ended';
    return infrastructure(`the test harness did not get to loading the module: ${why}`);
  }

  // From here on the module may have run: whatever happens is the submission's responsibility.
  const findings = relevantFindings(input.findings, input.moduleName);
  const ended = new Map<string, Extract<HarnessEvent, { event: 'test_end' }>>();
  const started = new Set<string>();
  for (const e of vm.events) {
    if (e.event === 'test_end') ended.set(e.name, e);
    if (e.event === 'test_start') started.add(e.name);
  }
  const runningAtEnd = [...started].find((name) => !ended.has(name));
  const crash = findings.find((f) => ['panic', 'oops', 'bug', 'stack-corruption'].includes(f.kind));
  const stopReason = vm.done
    ? undefined
    : crash
      ? `the kernel crashed (${crash.title})`
      : vm.stoppedBy === 'flood'
        ? `the kernel console was flooded (${Math.round(vm.consoleBytes / 1024)} KiB of output) and the VM was stopped`
        : vm.stoppedBy === 'channel-flood'
          ? 'the result channel was flooded and the VM was stopped'
          : vm.stoppedBy === 'timeout'
            ? `the VM hit the ${vm.timeoutSeconds}s time limit`
            : vm.oomKilled
              ? 'the kernel ran out of memory and killed the test harness'
              : vm.stoppedBy === 'stalled'
                ? `the VM stopped reporting during test ${vm.stalledIn ?? runningAtEnd ?? '?'}`
                : `the test harness vanished${runningAtEnd ? ` during test ${runningAtEnd}` : ''} (it was killed, or the kernel stopped running it)`;
  if (stopReason && !crash && !['flood', 'channel-flood', 'timeout'].includes(vm.stoppedBy ?? '') && !vm.oomKilled) {
    findings.push({
      kind: 'harness-lost',
      title: `harness lost: ${stopReason}`,
      frames: [],
      raw: `${stopReason}. Everything that happens after the module is loaded is the module's responsibility.`,
      count: 1,
      ...(runningAtEnd ? { test: runningAtEnd } : {}),
      ...(input.loadStartLine !== undefined ? { line: input.loadStartLine } : {}),
    });
  }

  const tests: TestResult[] = exercise.tests.map((test) => {
    const end = ended.get(test.name);
    const during = findings.filter((f) => f.test === test.name);
    const reported = during.length > 0 ? `\nkernel reported during this test: ${during.map((f) => f.title).join('; ')}` : '';
    if (end) {
      // after load a harness `error` is what the module did to the test process: a failure
      const status = end.status === 'error' || (end.status === 'pass' && during.length > 0) ? 'fail' : end.status;
      const note = end.status === 'error' ? '\n(the test could not run to completion with this module loaded)' : '';
      return {
        name: test.name,
        status,
        points: status === 'pass' ? test.points : 0,
        maxPoints: test.points,
        output: `${end.output}${note}${reported}`.trim(),
        durationMs: end.durationMs,
      };
    }
    if (started.has(test.name)) {
      return { name: test.name, status: 'fail', points: 0, maxPoints: test.points, output: `${stopReason ?? 'did not finish'} during this test${reported}` };
    }
    return { name: test.name, status: 'skip', points: 0, maxPoints: test.points, output: `not run: ${stopReason ?? 'an earlier test stopped the run'}` };
  });

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
