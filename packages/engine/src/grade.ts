import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { BuildInfrastructureError, checkModulePolicy, compileModule, largeFrames, stackFrameFindings, type CompiledModule } from '@kgrader/builder';
import { ensureHarness, planFor } from '@kgrader/harness';
import { KernelNotBuiltError, locateKernel, type KernelFlavor, type KernelInfo } from '@kgrader/kernel';
import { parseConsoleLog } from '@kgrader/log-parser';
import type { ExerciseSpec, Finding, GradeResult, HarnessEvent, Stage } from '@kgrader/schemas';
import { decideVerdict, infrastructureError } from '@kgrader/verdict';
import { acquireVmSlot, launchVm, newGradingSecrets, ResultChannelVerifier, type LaunchedVm, type VmOutcome } from '@kgrader/vm';
import type { EngineConfig } from './config.js';
import { analyzeRun, type RunAnalysis } from './run-analysis.js';
import { gradingImage } from './vm-image.js';

export interface GradeOptions {
  exercise: ExerciseSpec;
  /** flat folder of the submitted .c/.h files */
  sourceDir: string;
  config: EngineConfig;
  /** overrides the exercise's VM time limit */
  timeoutSeconds?: number;
  /** the version of the exercise the caller pinned (recorded in the result's environment) */
  exerciseVersion?: number;
  onProgress?: (stage: Stage, message: string) => void;
  signal?: AbortSignal;
}

type Progress = (stage: Stage, message: string) => void;

/** One VM run of a plan on one kernel flavor. */
interface Phase {
  vm: LaunchedVm;
  outcome: VmOutcome;
  analysis: RunAnalysis;
  analyzeSeconds: number;
  timeoutSeconds: number;
}

/** kgrader's own fault while running a phase: the grading is an infrastructure error. */
class PhaseInfrastructureError extends Error {}

/**
 * Grades one submission: compile in a sandbox and check the module against the exercise's
 * policy, start the grading VM (restored from its saved booted state, or booted), hand the
 * harness its plan, the module and this grading's secrets over the control port, run the
 * tests, analyze, decide. Exercises that ask for it run their race tests a second time on the
 * KCSAN kernel. One attempt: retrying belongs to the caller (the worker's queue, the CLI).
 * Throws SubmissionRejected for a submission that cannot be graded at all (bad names, sizes);
 * every other outcome, including kgrader's own failures (`verdict: 'error'`), is a result.
 */
export async function gradeSubmission(opts: GradeOptions): Promise<GradeResult> {
  const started = Date.now();
  const progress: Progress = opts.onProgress ?? (() => {});
  const { exercise, config } = opts;
  // the pid lets a later worker remove the folder if this process is killed mid-grading
  const workDir = await mkdtemp(join(tmpdir(), `kgrader-run-${process.pid}-`));
  const seconds = (since: number) => round((Date.now() - since) / 1000);
  const errorResult = (why: string, buildSeconds = 0): GradeResult =>
    infrastructureError(exercise, why, { ok: false, log: '', diagnostics: [] }, { build: buildSeconds, boot: 0, run: 0, analyze: 0, total: seconds(started) });

  try {
    let kernel: KernelInfo;
    try {
      kernel = await locateKernel(config.cacheDir);
    } catch (err) {
      if (err instanceof KernelNotBuiltError) return errorResult(err.message);
      throw err;
    }

    // what grades it, recorded with every verdict (a build failure too: it built against this kernel)
    const environment = await environmentOf(config, kernel, exercise, opts.exerciseVersion);
    progress('building', `compiling against Linux ${kernel.kernelRelease} (KASAN, lockdep, kmemleak, UBSAN)`);
    let compiled: CompiledModule;
    try {
      compiled = await compileModule({ exercise, sourceDir: opts.sourceDir, buildDir: join(workDir, 'build'), kernelTree: kernel.tree, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (err instanceof BuildInfrastructureError) return errorResult(err.message);
      throw err;
    }
    const build = { ok: compiled.ok, log: compiled.log, diagnostics: compiled.diagnostics };
    const buildSeconds = round(compiled.seconds);
    const buildOnly = (policyFindings: Finding[] = []) => ({
      ...decideVerdict({ exercise, build, policyFindings, findings: [], moduleName: compiled.module, timings: { build: buildSeconds, boot: 0, run: 0, analyze: 0, total: seconds(started) } }),
      environment,
    });
    if (!compiled.ok || !compiled.inspection) {
      progress('done', 'build failed');
      return buildOnly();
    }
    const policyFindings = checkModulePolicy(compiled.inspection, exercise.policy);
    if (policyFindings.length > 0) {
      progress('done', 'the module uses what the exercise does not allow');
      return buildOnly(policyFindings);
    }

    // the VM slot is held while QEMU runs, not while the log is analyzed: the host's next grading
    // starts its VM meanwhile (as it builds its module while this one runs)
    const run = async (kernelInfo: KernelInfo, module: CompiledModule, spec: ExerciseSpec, tag: string): Promise<Phase> => {
      const phase: PhaseOptions = { kernel: kernelInfo, compiled: module, exercise: spec, config, workDir, tag, progress, ...(opts.timeoutSeconds ? { timeoutSeconds: opts.timeoutSeconds } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
      const ran = await inVmSlot(config, opts.signal, progress, () => runVm(phase));
      return analyzePhase(phase, ran);
    };

    let main: Phase;
    try {
      main = await run(kernel, compiled, exercise, 'main');
    } catch (err) {
      if (err instanceof PhaseInfrastructureError) return errorResult(err.message, buildSeconds);
      throw err;
    }
    const findings = [...main.analysis.findings, ...stackFrameFindings(largeFrames(compiled.log))];

    // the race tests again on the KCSAN kernel: data races KASAN cannot see
    let kcsanSeconds: number | undefined;
    if (exercise.kcsan && main.outcome.done) {
      const kcsanStarted = Date.now();
      try {
        findings.push(...(await kcsanPass(exercise, exercise.kcsan.tests, opts, workDir, progress, run)));
      } catch (err) {
        if (err instanceof PhaseInfrastructureError) return errorResult(`KCSAN pass: ${err.message}`, buildSeconds);
        throw err;
      }
      kcsanSeconds = seconds(kcsanStarted);
    }

    const { vm, outcome } = main;
    const verdict = decideVerdict({
      exercise,
      build,
      vm: {
        events: outcome.events,
        ready: vm.ready,
        moduleMayBeLoaded: outcome.moduleMayBeLoaded,
        done: outcome.done,
        ...(outcome.stoppedBy ? { stoppedBy: outcome.stoppedBy } : {}),
        ...(outcome.stalledIn ? { stalledIn: outcome.stalledIn } : {}),
        ...(outcome.qemuFailure ? { qemuFailure: outcome.qemuFailure } : {}),
        consoleBytes: outcome.consoleBytes,
        oomKilled: /Out of memory: Killed process|invoked oom-killer/.test(outcome.console),
        timeoutSeconds: main.timeoutSeconds,
        violationsBeforeLoad: outcome.violations.filter((v) => !v.afterLoad).map((v) => `${v.kind}: ${v.detail}`),
      },
      findings,
      ...(main.analysis.loadStartLine !== undefined ? { loadStartLine: main.analysis.loadStartLine } : {}),
      moduleName: compiled.module,
      timings: { ...timingsOf(buildSeconds, vm, outcome, main.analyzeSeconds, seconds(started)), ...(kcsanSeconds !== undefined ? { kcsan: kcsanSeconds } : {}) },
    });
    progress('done', verdict.verdict);
    return {
      ...verdict,
      ...(verdict.verdict === 'error' ? {} : { environment }),
      console: outcome.console,
      ...(outcome.consoleDroppedBytes > 0 ? { consoleTruncatedBytes: outcome.consoleDroppedBytes } : {}),
    };
  } finally {
    if (config.keepWorkDir) progress('done', `work folder kept at ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The KCSAN pass: the module built again against the KCSAN kernel (the instrumentation is
 * compiled in), loaded, and the named tests run; its data-race reports join the findings,
 * tied to the same tests. Other reports of this pass repeat what the main run saw.
 */
async function kcsanPass(
  exercise: ExerciseSpec,
  testNames: readonly string[],
  opts: GradeOptions,
  workDir: string,
  progress: Progress,
  run: (kernel: KernelInfo, module: CompiledModule, spec: ExerciseSpec, tag: string) => Promise<Phase>,
): Promise<Finding[]> {
  let kernel: KernelInfo;
  try {
    kernel = await locateKernel(opts.config.cacheDir, 'kcsan' satisfies KernelFlavor);
  } catch (err) {
    throw new PhaseInfrastructureError((err as Error).message);
  }
  progress('building', `compiling again against the KCSAN kernel for ${testNames.join(', ')}`);
  let compiled: CompiledModule;
  try {
    compiled = await compileModule({ exercise, sourceDir: opts.sourceDir, buildDir: join(workDir, 'build-kcsan'), kernelTree: kernel.tree, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (err instanceof BuildInfrastructureError) throw new PhaseInfrastructureError(err.message);
    throw err;
  }
  // it built against the main kernel: not building here is kgrader's problem
  if (!compiled.ok) throw new PhaseInfrastructureError(`the module did not build against the KCSAN kernel: ${compiled.log.slice(-300)}`);
  // KCSAN samples one memory access in thousands by default (syzkaller's setting, for fuzzing
  // runs of hours). The grading kernel instruments only the student's module (patches/kcsan),
  // so during a race test of seconds every access of the module can be watched, a little longer
  // than the default (the boot, and the saved VM, keep the default). Each watch stalls the access
  // for a while, so the timed races run at least KCSAN_MIN_RACE_MS here, whatever the KASAN run
  // was calibrated to (bench/race-calibration.mjs)
  const raced = exercise.tests
    .filter((t) => testNames.includes(t.name))
    .map((t) => ({ ...t, params: { ...t.params, ...kcsanRaceTime(t), kcsan_skip_watch: KCSAN_SKIP_WATCH, kcsan_udelay: KCSAN_UDELAY_US } }));
  const spec: ExerciseSpec = { ...exercise, tests: [exercise.tests[0]!, ...raced] };
  const phase = await run(kernel, compiled, spec, 'kcsan');
  // races inside the kernel alone (its own, or of unknown origin) are not the student's
  const involvesModule = (f: Finding) => [...f.frames, ...(f.stacks ?? []).flatMap((s) => s.frames)].some((fr) => fr.module === compiled.module);
  return phase.analysis.findings.filter((f) => f.kind === 'kcsan' && involvesModule(f));
}

const KCSAN_SKIP_WATCH = 1;
const KCSAN_UDELAY_US = 200;

/** Runs `body` holding one of the host's VM slots, saying so when it had to wait. */
async function inVmSlot<T>(config: EngineConfig, signal: AbortSignal | undefined, progress: Progress, body: () => Promise<T>): Promise<T> {
  const waitStarted = Date.now();
  const slot = await acquireVmSlot(join(config.cacheDir, 'vm-slots'), config.vmSlots, signal);
  const waited = (Date.now() - waitStarted) / 1000;
  if (waited > 1) progress('booting', `waited ${waited.toFixed(1)}s for one of this host's ${config.vmSlots} VM slots`);
  try {
    return await body();
  } finally {
    slot.release();
  }
}

interface PhaseOptions {
  kernel: KernelInfo;
  compiled: CompiledModule;
  exercise: ExerciseSpec;
  config: EngineConfig;
  workDir: string;
  /** names this phase's files in the work folder */
  tag: string;
  timeoutSeconds?: number;
  progress: Progress;
  signal?: AbortSignal;
}

interface VmRun {
  vm: LaunchedVm;
  outcome: VmOutcome;
  nonce: string;
  timeoutSeconds: number;
}

/** Starts a VM on the kernel and runs the exercise's plan with the module; the VM is gone when this returns. */
async function runVm(p: PhaseOptions): Promise<VmRun> {
  const { exercise, compiled, progress } = p;
  if (!compiled.koPath || !compiled.vmKoPath || !compiled.inspection) throw new Error('runVm needs a built and inspected module');
  let vm: LaunchedVm;
  try {
    const image = await gradingImage(p.config, p.kernel);
    progress('booting', `starting the grading VM (${p.kernel.flavor}, ${image.accel === 'kvm' ? 'KVM' : 'TCG emulation'}, ${image.cpus} CPUs)`);
    vm = await launchVm({
      image,
      workDir: p.workDir,
      consoleKillBytes: exercise.limits.consoleKillBytes,
      consoleHeadBytes: Math.floor(exercise.limits.consoleBytes / 2),
      consoleTailBytes: Math.floor(exercise.limits.consoleBytes / 2),
      ...(p.config.vmSnapshots ? { snapshotDir: join(p.config.cacheDir, 'snapshots') } : {}),
      bootProblem: (console) => parseConsoleLog(console).findings[0]?.title,
      bootTimeoutSeconds: 120,
    });
  } catch (err) {
    throw new PhaseInfrastructureError(`cannot start the grading VM: ${(err as Error).message}`);
  }
  if (vm.restoreFailure) progress('booting', `restoring the saved VM failed (${vm.restoreFailure}); booted instead`);
  progress('running', `kernel up with ${vm.ready.cpus} CPUs (${vm.restored ? 'restored' : 'booted'} in ${vm.bootSeconds.toFixed(1)}s)`);

  const secrets = newGradingSecrets();
  const timeoutSeconds = p.timeoutSeconds ?? exercise.limits.vmTimeoutSeconds;
  let outcome: VmOutcome;
  try {
    vm.session.sendWork({ ...secrets, plan: planFor(exercise, { path: `/${compiled.module}.ko`, name: compiled.module }), module: await readFile(compiled.vmKoPath) });
    const testTimeout = new Map(exercise.tests.map((t) => [t.name, t.timeoutSeconds]));
    outcome = await vm.session.run({
      verifier: new ResultChannelVerifier(secrets.key, exercise.tests.map((t) => t.name)),
      timeoutSeconds: timeoutSeconds + vm.bootSeconds,
      // the harness's own watchdog ends a hung test after its timeout (and kills it within
      // seconds); a VM silent well past that has stopped working
      testDeadlineSeconds: (name) => (testTimeout.get(name) ?? 20) + 30,
      onEvent: (event) => reportEvent(event, progress),
      ...(p.signal ? { signal: p.signal } : {}),
    });
  } finally {
    await vm.session.close();
  }
  if (outcome.stoppedBy === 'aborted') throw new Error('grading aborted');
  if (p.config.keepWorkDir) await writeFile(join(p.workDir, `vm-outcome-${p.tag}.json`), JSON.stringify({ ...outcome, nonce: secrets.nonce }));
  return { vm, outcome, nonce: secrets.nonce, timeoutSeconds };
}

/** Reads what the VM run left: harness events, kernel reports, the module's symbols. */
async function analyzePhase(p: PhaseOptions, { vm, outcome, nonce, timeoutSeconds }: VmRun): Promise<Phase> {
  const { exercise, compiled, progress } = p;
  if (!compiled.koPath || !compiled.inspection) throw new Error('analyzePhase needs a built and inspected module');
  progress('analyzing', 'reading the kernel log');
  const analyzeStarted = Date.now();
  const modules = outcome.events.filter((e): e is Extract<HarnessEvent, { event: 'module' }> => e.event === 'module');
  const analysis = await analyzeRun(outcome, {
    nonce,
    loadTestName: exercise.tests[0]!.name,
    chatterBytes: exercise.limits.chatterBytes,
    chatterFails: exercise.scoring.chatterFails,
    moduleCalls: compiled.inspection.symbolUses,
    module: {
      name: compiled.module,
      koPath: compiled.koPath,
      // where the module was last loaded (load_cycles loads it again elsewhere), and before
      sections: modules.at(-1)?.sections ?? {},
      earlierSections: modules.slice(0, -1).map((e) => e.sections),
      submittedNameOf: Object.fromEntries(Object.entries(compiled.layout.buildNames).map(([s, b]) => [b, s])),
      sources: compiled.sources,
    },
  });
  return { vm, outcome, analysis, analyzeSeconds: round((Date.now() - analyzeStarted) / 1000), timeoutSeconds };
}

/** What graded it: comparable across hosts (a worker on another host must match or refuse). */
async function environmentOf(config: EngineConfig, kernel: KernelInfo, exercise: ExerciseSpec, exerciseVersion?: number): Promise<NonNullable<GradeResult['environment']>> {
  const harness = await ensureHarness(config.cacheDir);
  return {
    kernelKey: kernel.key,
    harnessHash: basename(dirname(harness)),
    exerciseHash: createHash('sha256').update(JSON.stringify(exercise)).digest('hex').slice(0, 16),
    ...(exerciseVersion !== undefined ? { exerciseVersion } : {}),
  };
}

function reportEvent(event: HarnessEvent, progress: Progress): void {
  if (event.event === 'test_start') progress('running', `test ${event.name}`);
  if (event.event === 'test_end') progress('running', `test ${event.name}: ${event.status}`);
}

function timingsOf(build: number, vm: LaunchedVm, outcome: VmOutcome, analyze: number, total: number) {
  return {
    build,
    boot: round(vm.bootSeconds),
    run: round(Math.max(0, outcome.totalSeconds - vm.bootSeconds)),
    analyze,
    total,
    kernelBoot: round(vm.ready.uptimeMs / 1000),
    vmStart: vm.restored ? ('restore' as const) : ('boot' as const),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Timed race tests (the harness's `ms`, else `seconds`) run at least this long in the KCSAN pass. */
const KCSAN_MIN_RACE_MS = 3000;
const TIMED_RACE_KINDS: ReadonlySet<string> = new Set(['race_writers', 'race_open_close', 'generic_stress']);
function kcsanRaceTime(t: ExerciseSpec['tests'][number]): { ms?: number } {
  if (!TIMED_RACE_KINDS.has(t.kind)) return {};
  const ms = typeof t.params['ms'] === 'number' ? t.params['ms'] : (typeof t.params['seconds'] === 'number' ? t.params['seconds'] : 3) * 1000;
  return { ms: Math.max(ms, KCSAN_MIN_RACE_MS) };
}
