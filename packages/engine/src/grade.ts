import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildInfrastructureError, compileModule, type CompiledModule } from '@kgrader/builder';
import { ensureHarness, initScriptPath, planFor } from '@kgrader/harness';
import { KernelNotBuiltError, locateKernel, type KernelInfo } from '@kgrader/kernel';
import type { ExerciseSpec, GradeResult, HarnessEvent, Stage } from '@kgrader/schemas';
import { decideVerdict, infrastructureError } from '@kgrader/verdict';
import { chooseAccelerator, gradingInitramfs, runVm, type VmOutcome } from '@kgrader/vm';
import { analyzeConsole } from './analyze.js';
import { chatterFinding, measureChatter } from './chatter.js';
import type { EngineConfig } from './config.js';

export interface GradeOptions {
  exercise: ExerciseSpec;
  /** flat folder of the submitted .c/.h files */
  sourceDir: string;
  config: EngineConfig;
  /** overrides the exercise's VM time limit */
  timeoutSeconds?: number;
  onProgress?: (stage: Stage, message: string) => void;
  signal?: AbortSignal;
}

/**
 * Grades one submission: compile in a sandbox, boot the grading kernel with the module and the
 * harness, run the exercise's tests, analyze the console, decide. Throws SubmissionRejected for
 * a submission that cannot be graded at all (bad names, sizes); every other outcome, including
 * kgrader's own failures (`verdict: 'error'`), is a result.
 */
export async function gradeSubmission(opts: GradeOptions): Promise<GradeResult> {
  const started = Date.now();
  const progress = opts.onProgress ?? (() => {});
  const { exercise, config } = opts;
  // the pid lets a later worker remove the folder if this process is killed mid-grading
  const workDir = await mkdtemp(join(tmpdir(), `kgrader-run-${process.pid}-`));
  const seconds = (since: number) => round((Date.now() - since) / 1000);
  const errorResult = (why: string): GradeResult =>
    infrastructureError(exercise, why, { ok: false, log: '', diagnostics: [] }, { build: 0, boot: 0, run: 0, analyze: 0, total: seconds(started) });

  try {
    let kernel: KernelInfo;
    try {
      kernel = await locateKernel(config.cacheDir);
    } catch (err) {
      if (err instanceof KernelNotBuiltError) return errorResult(err.message);
      throw err;
    }

    progress('building', `compiling against Linux ${kernel.kernelRelease} (KASAN, lockdep, kmemleak, UBSAN)`);
    let compiled: CompiledModule;
    try {
      compiled = await compileModule({
        exercise,
        sourceDir: opts.sourceDir,
        buildDir: join(workDir, 'build'),
        kernelTree: kernel.tree,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if (err instanceof BuildInfrastructureError) return errorResult(err.message);
      throw err;
    }
    const build = { ok: compiled.ok, log: compiled.log, diagnostics: compiled.diagnostics };
    const buildSeconds = round(compiled.seconds);
    if (!compiled.ok || !compiled.koPath) {
      progress('done', 'build failed');
      return decideVerdict({ exercise, build, findings: [], moduleName: compiled.module, timings: { build: buildSeconds, boot: 0, run: 0, analyze: 0, total: seconds(started) } });
    }

    let harness: string;
    let accel: Awaited<ReturnType<typeof chooseAccelerator>>;
    try {
      harness = await ensureHarness(config.cacheDir);
      accel = await chooseAccelerator({ choice: config.accel, bzImage: kernel.bzImage, busybox: config.busybox, cacheDir: config.cacheDir });
    } catch (err) {
      return errorResult(`cannot prepare the VM: ${(err as Error).message}`);
    }
    const modulePath = `/${compiled.module}.ko`;
    const initrd = join(workDir, 'initramfs.cpio.gz');
    await writeFile(
      initrd,
      gradingInitramfs({
        init: await readFile(initScriptPath, 'utf8'),
        busybox: await readFile(config.busybox),
        harness: await readFile(harness),
        plan: planFor(exercise, { path: modulePath, name: compiled.module }),
        modules: { [modulePath]: await readFile(compiled.koPath) },
      }),
    );

    const timeoutSeconds = opts.timeoutSeconds ?? exercise.limits.vmTimeoutSeconds;
    let result: GradeResult | undefined;
    for (let attempt = 1; attempt <= config.vmAttempts; attempt++) {
      progress('booting', `booting the grading kernel (${accel === 'kvm' ? 'KVM' : 'TCG emulation'}, ${config.vmCpus} CPUs)${attempt > 1 ? `, attempt ${attempt}` : ''}`);
      const vm = await runVm({
        bzImage: kernel.bzImage,
        initrd,
        resultsPath: join(workDir, `results-${attempt}.jsonl`),
        accel,
        cpus: config.vmCpus,
        memoryMiB: config.vmMemoryMiB,
        timeoutSeconds,
        consoleKillBytes: exercise.limits.consoleBytes,
        consoleHeadBytes: Math.floor(exercise.limits.consoleBytes / 8),
        consoleTailBytes: Math.floor(exercise.limits.consoleBytes / 8),
        onEvent: (event) => reportEvent(event, progress),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      if (vm.aborted) throw new Error('grading aborted');
      progress('analyzing', 'reading the kernel log');
      const analyzeStarted = Date.now();
      const analysis = await analyzeConsole(vm.console, {
        loadTestName: exercise.tests[0]!.name,
        module: {
          name: compiled.module,
          koPath: compiled.koPath,
          sections: moduleSections(vm.events),
          submittedNameOf: Object.fromEntries(Object.entries(compiled.layout.buildNames).map(([s, b]) => [b, s])),
          sources: compiled.sources,
        },
      });
      const flood =
        analysis.loadStartLine === undefined
          ? undefined
          : chatterFinding(measureChatter(vm.console, analysis.loadStartLine, analysis.findings, vm.consoleDroppedBytes), exercise.limits.chatterBytes, analysis.loadStartLine);
      if (flood) analysis.findings.push(flood);
      const verdict = decideVerdict({
        exercise,
        build,
        vm: {
          events: vm.events,
          timedOut: vm.timedOut,
          flooded: vm.flooded,
          ...(vm.startError ? { startError: vm.startError } : {}),
          consoleBytes: vm.consoleBytes,
          oomKilled: /Out of memory: Killed process|invoked oom-killer/.test(vm.console),
          timeoutSeconds,
        },
        findings: analysis.findings,
        ...(analysis.loadStartLine !== undefined ? { loadStartLine: analysis.loadStartLine } : {}),
        moduleName: compiled.module,
        timings: timingsOf(buildSeconds, vm, seconds(analyzeStarted), seconds(started)),
      });
      result = { ...verdict, console: vm.console, ...(vm.consoleDroppedBytes > 0 ? { consoleTruncatedBytes: vm.consoleDroppedBytes } : {}) };
      if (config.keepWorkDir) await writeFile(join(workDir, `console-${attempt}.log`), vm.console);
      if (result.verdict !== 'error' || vm.startError) break;
      progress('booting', `infrastructure fault (${result.infrastructureError}); retrying`);
    }
    progress('done', result!.verdict);
    return result!;
  } finally {
    if (config.keepWorkDir) progress('done', `work folder kept at ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
}

function reportEvent(event: HarnessEvent, progress: (stage: Stage, message: string) => void): void {
  if (event.event === 'hello') progress('running', `kernel up with ${event.cpus} CPUs after ${(event.uptimeMs / 1000).toFixed(1)}s`);
  if (event.event === 'test_start') progress('running', `test ${event.name}`);
  if (event.event === 'test_end') progress('running', `test ${event.name}: ${event.status}`);
}

function moduleSections(events: HarnessEvent[]): Record<string, string> {
  const module = events.find((e): e is Extract<HarnessEvent, { event: 'module' }> => e.event === 'module');
  return module?.sections ?? {};
}

function timingsOf(build: number, vm: VmOutcome, analyze: number, total: number) {
  const boot = round(vm.bootSeconds ?? vm.totalSeconds);
  const hello = vm.events.find((e) => e.event === 'hello');
  return {
    build,
    boot,
    run: round(Math.max(0, vm.totalSeconds - boot)),
    analyze,
    total,
    ...(hello?.event === 'hello' ? { kernelBoot: round(hello.uptimeMs / 1000) } : {}),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

