import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildInfrastructureError, checkModulePolicy, compileModule, largeFrames, stackFrameFindings, type CompiledModule } from '@kgrader/builder';
import { planFor } from '@kgrader/harness';
import { KernelNotBuiltError, locateKernel, type KernelInfo } from '@kgrader/kernel';
import { parseConsoleLog } from '@kgrader/log-parser';
import type { ExerciseSpec, GradeResult, HarnessEvent, Stage } from '@kgrader/schemas';
import { decideVerdict, infrastructureError } from '@kgrader/verdict';
import { acquireVmSlot, launchVm, newGradingSecrets, ResultChannelVerifier, type LaunchedVm, type VmOutcome } from '@kgrader/vm';
import { analyzeRun } from './run-analysis.js';
import type { EngineConfig } from './config.js';
import { gradingImage } from './vm-image.js';

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
 * Grades one submission: compile in a sandbox and check the module against the exercise's
 * policy, start the grading VM (restored from its saved booted state, or booted), hand the
 * harness its plan, the module and this grading's secrets over the control port, run the
 * tests, analyze, decide. One attempt: retrying belongs to the caller (the worker's queue, the
 * CLI). Throws SubmissionRejected for a submission that cannot be graded at all (bad names,
 * sizes); every other outcome, including kgrader's own failures (`verdict: 'error'`), is a
 * result.
 */
export async function gradeSubmission(opts: GradeOptions): Promise<GradeResult> {
  const started = Date.now();
  const progress = opts.onProgress ?? (() => {});
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
    const buildOnly = (policyFindings: GradeResult['findings'] = []) =>
      decideVerdict({ exercise, build, policyFindings, findings: [], moduleName: compiled.module, timings: { build: buildSeconds, boot: 0, run: 0, analyze: 0, total: seconds(started) } });
    if (!compiled.ok || !compiled.koPath || !compiled.vmKoPath || !compiled.inspection) {
      progress('done', 'build failed');
      return buildOnly();
    }
    const { koPath, vmKoPath, inspection } = compiled;
    const policyFindings = checkModulePolicy(compiled.inspection, exercise.policy);
    if (policyFindings.length > 0) {
      progress('done', 'the module uses what the exercise does not allow');
      return buildOnly(policyFindings);
    }

    // the rest runs while holding one of the host's VM slots
    const runInVm = async (): Promise<GradeResult> => {
      let vm: LaunchedVm;
      try {
        const image = await gradingImage(config, kernel);
        progress('booting', `starting the grading VM (${image.accel === 'kvm' ? 'KVM' : 'TCG emulation'}, ${image.cpus} CPUs)`);
        vm = await launchVm({
          image,
          workDir,
          consoleKillBytes: exercise.limits.consoleKillBytes,
          consoleHeadBytes: Math.floor(exercise.limits.consoleBytes / 2),
          consoleTailBytes: Math.floor(exercise.limits.consoleBytes / 2),
          ...(config.vmSnapshots ? { snapshotDir: join(config.cacheDir, 'snapshots') } : {}),
          bootProblem: (console) => parseConsoleLog(console).findings[0]?.title,
          bootTimeoutSeconds: 120,
        });
      } catch (err) {
        return errorResult(`cannot start the grading VM: ${(err as Error).message}`, buildSeconds);
      }
      if (vm.restoreFailure) progress('booting', `restoring the saved VM failed (${vm.restoreFailure}); booted instead`);
      progress('running', `kernel up with ${vm.ready.cpus} CPUs (${vm.restored ? 'restored' : 'booted'} in ${vm.bootSeconds.toFixed(1)}s)`);

      const secrets = newGradingSecrets();
      const modulePath = `/${compiled.module}.ko`;
      const timeoutSeconds = opts.timeoutSeconds ?? exercise.limits.vmTimeoutSeconds;
      let outcome: VmOutcome;
      try {
        vm.session.sendWork({ ...secrets, plan: planFor(exercise, { path: modulePath, name: compiled.module }), module: await readFile(vmKoPath) });
        const testTimeout = new Map(exercise.tests.map((t) => [t.name, t.timeoutSeconds]));
        outcome = await vm.session.run({
          verifier: new ResultChannelVerifier(secrets.key, exercise.tests.map((t) => t.name)),
          timeoutSeconds: timeoutSeconds + vm.bootSeconds,
          // the harness's own watchdog ends a hung test after its timeout (and kills it within
          // seconds); a VM silent well past that has stopped working
          testDeadlineSeconds: (name) => (testTimeout.get(name) ?? 20) + 30,
          onEvent: (event) => reportEvent(event, progress),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } finally {
        await vm.session.close();
      }
      if (outcome.stoppedBy === 'aborted') throw new Error('grading aborted');
      if (config.keepWorkDir) await writeFile(join(workDir, 'vm-outcome.json'), JSON.stringify({ ...outcome, nonce: secrets.nonce }));

      progress('analyzing', 'reading the kernel log');
      const analyzeStarted = Date.now();
      const analysis = await analyzeRun(outcome, {
        nonce: secrets.nonce,
        loadTestName: exercise.tests[0]!.name,
        chatterBytes: exercise.limits.chatterBytes,
        chatterFails: exercise.scoring.chatterFails,
        moduleCalls: inspection.symbolUses,
        module: {
          name: compiled.module,
          koPath,
          sections: moduleSections(outcome.events),
        earlierSections: earlierModuleSections(outcome.events),
          submittedNameOf: Object.fromEntries(Object.entries(compiled.layout.buildNames).map(([s, b]) => [b, s])),
          sources: compiled.sources,
        },
      });
      // build-time findings that do not stop the module from running: oversized stack frames
      analysis.findings.push(...stackFrameFindings(largeFrames(compiled.log)));
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
          timeoutSeconds,
          violationsBeforeLoad: outcome.violations.filter((v) => !v.afterLoad).map((v) => `${v.kind}: ${v.detail}`),
        },
        findings: analysis.findings,
        ...(analysis.loadStartLine !== undefined ? { loadStartLine: analysis.loadStartLine } : {}),
        moduleName: compiled.module,
        timings: timingsOf(buildSeconds, vm, outcome, seconds(analyzeStarted), seconds(started)),
      });
      progress('done', verdict.verdict);
      return { ...verdict, console: outcome.console, ...(outcome.consoleDroppedBytes > 0 ? { consoleTruncatedBytes: outcome.consoleDroppedBytes } : {}) };
    };
    const waitStarted = Date.now();
    const slot = await acquireVmSlot(join(config.cacheDir, 'vm-slots'), config.vmSlots, opts.signal);
    if (Date.now() - waitStarted > 1000) progress('booting', `waited ${seconds(waitStarted)}s for one of this host's ${config.vmSlots} VM slots`);
    try {
      return await runInVm();
    } finally {
      slot.release();
    }
  } finally {
    if (config.keepWorkDir) progress('done', `work folder kept at ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
}

function reportEvent(event: HarnessEvent, progress: (stage: Stage, message: string) => void): void {
  if (event.event === 'test_start') progress('running', `test ${event.name}`);
  if (event.event === 'test_end') progress('running', `test ${event.name}: ${event.status}`);
}

/** Where the module was loaded before its last load (load_cycles), oldest first. */
function earlierModuleSections(events: HarnessEvent[]): Array<Record<string, string>> {
  return events.filter((e): e is Extract<HarnessEvent, { event: 'module' }> => e.event === 'module').slice(0, -1).map((e) => e.sections);
}

/** Where the module was last loaded (load_cycles loads it again elsewhere): raw addresses in late reports are there. */
function moduleSections(events: HarnessEvent[]): Record<string, string> {
  const module = events.filter((e): e is Extract<HarnessEvent, { event: 'module' }> => e.event === 'module').at(-1);
  return module?.sections ?? {};
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
