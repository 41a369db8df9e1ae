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

/**
 * Only findings that can be the student's: kmemleak reports must involve their module. The
 * `consequenceOf` indices are renumbered for the shorter list (dropped when their cause goes).
 */
export function relevantFindings(findings: readonly Finding[], moduleName: string): Finding[] {
  const kept: number[] = [];
  findings.forEach((f, i) => {
    if (f.kind !== 'kmemleak' || f.frames.some((fr) => fr.module === moduleName)) kept.push(i);
  });
  const newIndex = new Map(kept.map((old, i) => [old, i]));
  return kept.map((old) => {
    const f = findings[old]!;
    if (f.consequenceOf === undefined) return f;
    const cause = newIndex.get(f.consequenceOf);
    const { consequenceOf: _dropped, ...rest } = f;
    return cause === undefined ? rest : { ...rest, consequenceOf: cause };
  });
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
    // lost right after the kernel reported a bug in the same test: most likely its consequence
    const cause = findings.findIndex((f) => !f.advisory && f.consequenceOf === undefined && f.test === runningAtEnd);
    findings.push({
      kind: 'harness-lost',
      title: `harness lost: ${stopReason}`,
      frames: [],
      raw: `${stopReason}. Everything that happens after the module is loaded is the module's responsibility.`,
      count: 1,
      ...(runningAtEnd ? { test: runningAtEnd } : {}),
      ...(input.loadStartLine !== undefined ? { line: input.loadStartLine } : {}),
      ...(cause >= 0 ? { consequenceOf: cause } : {}),
    });
  }

  const tests: TestResult[] = exercise.tests.map((test) => {
    const end = ended.get(test.name);
    const during = findings.filter((f) => f.test === test.name && !f.advisory);
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

  const failing = findings.filter((f) => !f.advisory);
  const failedTests = tests.filter((t) => t.status !== 'pass');
  const pass = failedTests.length === 0 && failing.length === 0;
  const testScore = tests.reduce((sum, t) => sum + t.points, 0);
  const deductions = pass ? [] : deductionsFor(exercise, failing, testScore, base.maxScore);
  const score = Math.max(0, testScore - deductions.reduce((sum, d) => sum + d.points, 0));
  return {
    ...base,
    verdict: pass ? 'pass' : 'fail',
    score,
    summary: pass ? passSummary(tests.length, findings) : summarizeFailure(failedTests, failing, deductions, stopReason),
    tests,
    findings,
    ...(deductions.length > 0 ? { deductions } : {}),
  };
}

/**
 * Points taken off for failing findings that no test carries (a console flood, a stack frame,
 * tampering outside a test...): the exercise's penalty once per kind. A driver that fails never
 * keeps a full score: if nothing else took a point, one is taken for the first finding.
 */
function deductionsFor(exercise: ExerciseSpec, failing: Finding[], testScore: number, maxScore: number): Array<{ points: number; reason: string }> {
  const testNames = new Set(exercise.tests.map((t) => t.name));
  const untied = failing.filter((f) => f.consequenceOf === undefined && (f.test === undefined || !testNames.has(f.test)));
  const deductions: Array<{ points: number; reason: string }> = [];
  let left = testScore;
  for (const kind of [...new Set(untied.map((f) => f.kind))]) {
    const points = Math.min(exercise.scoring.findingPenalty, left);
    const first = untied.find((f) => f.kind === kind)!;
    if (points > 0) deductions.push({ points, reason: `${first.title} (not tied to a test)` });
    left -= points;
  }
  if (left === maxScore && maxScore > 0 && failing.length > 0) deductions.push({ points: 1, reason: `${failing[0]!.title}` });
  return deductions;
}

function passSummary(testCount: number, findings: Finding[]): string {
  const advice = findings.filter((f) => f.advisory);
  return `All ${testCount} tests passed and the kernel reported nothing${advice.length > 0 ? ` (note: ${advice.map((f) => f.title).join('; ')})` : ''}.`;
}

const NOT_KERNEL_REPORTS = new Set(['policy', 'stack-frame', 'console-flood', 'tamper', 'harness-lost']);

function summarizeFailure(failed: TestResult[], failing: Finding[], deductions: Array<{ points: number; reason: string }>, stopReason?: string): string {
  const parts: string[] = [];
  const independent = failing.filter((f) => f.consequenceOf === undefined);
  const consequences = failing.length - independent.length;
  const first = independent[0];
  if (first) {
    const frame = first.frames.find((f) => f.file && f.line);
    const place = frame ? ` (${frame.file}:${frame.line})` : first.suspect?.file ? ` (likely ${first.suspect.file}:${first.suspect.line})` : '';
    const count = independent.length === 1 ? 'a problem' : `${independent.length} problems`;
    // kgrader's own findings (build-time checks, tampering, a lost harness) are not the kernel's reports
    const who = independent.every((f) => !NOT_KERNEL_REPORTS.has(f.kind)) ? 'The kernel reported' : 'kgrader found';
    parts.push(`${who} ${count}, first: ${first.title}${place}${consequences > 0 ? `, and ${consequences} follow-on report${consequences === 1 ? '' : 's'} caused by ${independent.length === 1 ? 'it' : 'them'}` : ''}`);
  }
  if (stopReason && !first) parts.push(`The run stopped early: ${stopReason}`);
  const realFailures = failed.filter((t) => t.status === 'fail');
  if (realFailures.length > 0) parts.push(`${realFailures.length} test${realFailures.length === 1 ? '' : 's'} failed (${realFailures.map((t) => t.name).join(', ')})`);
  for (const d of deductions) parts.push(`${d.points} point${d.points === 1 ? '' : 's'} off: ${d.reason}`);
  return `${parts.join('. ')}.`;
}

export { FINDING_EXPLANATIONS, explainFinding } from './explain.js';
