import { spawn } from 'node:child_process';
import { access, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildResult, ExerciseSpec } from '@kgrader/schemas';
import { cleanBuildLog, parseDiagnostics } from './diagnostics.js';
import { readInspection, type ModuleInspection } from './inspect.js';
import { inferModuleName, kbuildFor, type KbuildLayout } from './kbuild.js';
import { SubmissionRejected, validateSubmissionFiles } from '@kgrader/exercises';

/** Infrastructure is missing or broken (not the student's fault): the grading should be retried. */
export class BuildInfrastructureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildInfrastructureError';
  }
}

export interface CompileOptions {
  exercise: ExerciseSpec;
  /** the submitted files (validated here) */
  sourceDir: string;
  /** an empty folder the build may write to; nothing else is writable inside the sandbox */
  buildDir: string;
  kernelTree: string;
  /** cap on the captured compiler output */
  maxLogBytes?: number;
  memoryBytes?: number;
  signal?: AbortSignal;
}

export interface CompiledModule extends BuildResult {
  module: string;
  /** the built module, when ok (with debug info: the symbolizer reads it) */
  koPath?: string;
  /** the same module without debug info: what is sent into the VM */
  vmKoPath?: string;
  /** what the sandbox read off the built module for the policy check, when ok */
  inspection?: ModuleInspection;
  layout: KbuildLayout;
  /** submitted file name -> text, for showing source lines next to findings */
  sources: Record<string, string>;
  seconds: number;
}

/** Reads and validates a submission folder: regular .c/.h files only, within the exercise's limits. */
export async function readSubmission(sourceDir: string, exercise: ExerciseSpec): Promise<Record<string, string>> {
  let entries;
  try {
    entries = await readdir(sourceDir, { withFileTypes: true });
  } catch (err) {
    throw new SubmissionRejected(`cannot read the submission folder ${sourceDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const files = [];
  for (const entry of entries) {
    if (!entry.isFile()) {
      throw new SubmissionRejected(
        `${JSON.stringify(entry.name)} is not a regular file: a submission is a flat folder of .c and .h files`,
        entry.name,
      );
    }
    files.push({ name: entry.name, bytes: (await stat(join(sourceDir, entry.name))).size });
  }
  validateSubmissionFiles(files, exercise);
  const sources: Record<string, string> = {};
  for (const file of files) sources[file.name] = await readFile(join(sourceDir, file.name), 'utf8');
  return sources;
}

/**
 * Compiles the submission as an external module of the grading kernel inside bubblewrap: no
 * network, no host file writable but the build folder, only /usr and the kernel tree visible,
 * no capabilities, address-space and time limits. A compiler error is a result, not an exception.
 */
export async function compileModule(opts: CompileOptions): Promise<CompiledModule> {
  const started = Date.now();
  const sources = await readSubmission(opts.sourceDir, opts.exercise);
  const module = opts.exercise.module ?? inferModuleName(Object.entries(sources).map(([name, text]) => ({ name, text })));
  const layout = kbuildFor(module, Object.keys(sources), opts.exercise.limits.stackFrameBytes);
  await mkdir(opts.buildDir, { recursive: true });
  for (const [name, buildName] of Object.entries(layout.buildNames)) {
    await copyFile(join(opts.sourceDir, name), join(opts.buildDir, buildName));
  }
  await writeFile(join(opts.buildDir, 'Kbuild'), layout.kbuild);

  try {
    await access('/usr/bin/bwrap');
  } catch {
    throw new BuildInfrastructureError('bubblewrap (bwrap) is not installed: run npm run setup');
  }
  const timeoutMs = opts.exercise.limits.buildTimeoutSeconds * 1000;
  const run = await runSandboxed(sandboxArgs(opts, timeoutMs, buildScript(opts.kernelTree, opts.buildDir, module)), timeoutMs, opts.maxLogBytes ?? 256 * 1024, opts.signal);
  if (run.spawnError) throw new BuildInfrastructureError(`cannot start the build sandbox: ${run.spawnError}`);

  const submittedNameOf = Object.fromEntries(Object.entries(layout.buildNames).map(([s, b]) => [b, s]));
  let log = cleanBuildLog(run.output, opts.buildDir, opts.kernelTree, submittedNameOf);
  if (run.truncated) log += `\n[kgrader: build output cut at ${opts.maxLogBytes ?? 256 * 1024} bytes]\n`;
  if (run.timedOut) log += `\n[kgrader: the build took longer than ${opts.exercise.limits.buildTimeoutSeconds}s and was stopped]\n`;
  if (/bwrap: /.test(run.output) && run.exitCode !== 0 && !/error:/.test(run.output)) {
    throw new BuildInfrastructureError(`the build sandbox failed: ${run.output.slice(0, 500)}`);
  }
  const koPath = join(opts.buildDir, `${module}.ko`);
  const vmKoPath = join(opts.buildDir, INSPECTION_DIR, `${module}.vm.ko`);
  let ok = run.exitCode === 0 && !run.timedOut;
  let inspection: ModuleInspection | undefined;
  if (ok) {
    try {
      await access(koPath);
    } catch {
      ok = false;
      log += `\n[kgrader: the build finished but produced no ${module}.ko]\n`;
    }
  }
  if (ok) {
    try {
      inspection = await readInspection(join(opts.buildDir, INSPECTION_DIR), opts.buildDir, submittedNameOf);
      await access(vmKoPath);
    } catch (err) {
      throw new BuildInfrastructureError(`the build sandbox did not inspect the module: ${(err as Error).message}`);
    }
  }
  return {
    ok,
    log,
    diagnostics: parseDiagnostics(log),
    module,
    ...(ok ? { koPath, vmKoPath, inspection } : {}),
    layout,
    sources,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Where the sandbox leaves what it read off the built module (inside the build folder). */
const INSPECTION_DIR = '.kgrader';

/**
 * The build, then, still inside the sandbox (the tools parse compiler output built from
 * untrusted source), the inspection the policy check reads: the module without debug info for
 * the VM, its undefined symbols, and its disassembly with source lines and relocations.
 */
function buildScript(kernelTree: string, buildDir: string, module: string): string[] {
  const ko = `${module}.ko`;
  const out = INSPECTION_DIR;
  return [
    'sh', '-c',
    [
      `make -C '${kernelTree}' M='${buildDir}' -j1 modules || exit $?`,
      `mkdir -p ${out}`,
      `objcopy --strip-debug ${ko} ${out}/${module}.vm.ko || exit 90`,
      `nm --undefined-only --format=posix ${ko} > ${out}/undefined.txt || exit 91`,
      `objdump --disassemble --reloc --line-numbers --inlines --no-show-raw-insn --wide ${ko} > ${out}/disasm.txt || exit 92`,
    ].join('\n'),
  ];
}

function sandboxArgs(opts: CompileOptions, timeoutMs: number, command: string[]): string[] {
  const cpuSeconds = Math.ceil(timeoutMs / 1000);
  return [
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--cap-drop', 'ALL',
    // mounts first: a later --tmpfs /tmp would hide a build folder under /tmp.
    // No /proc at all: the host's /proc/cmdline, /proc/version... must not reach the build log,
    // and make and gcc do not need it.
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--ro-bind', '/usr', '/usr',
    // site-local programs and secrets have no business in a compiler sandbox
    '--tmpfs', '/usr/local',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/sbin', '/sbin',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--ro-bind', '/etc/alternatives', '/etc/alternatives',
    '--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache',
    '--ro-bind', opts.kernelTree, opts.kernelTree,
    '--bind', opts.buildDir, opts.buildDir,
    '--clearenv',
    '--setenv', 'PATH', '/usr/bin:/bin',
    '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'HOME', '/tmp',
    '--chdir', opts.buildDir,
    '--',
    'prlimit',
    `--as=${opts.memoryBytes ?? 3 * 1024 ** 3}`,
    `--cpu=${cpuSeconds}`,
    `--fsize=${64 * 1024 ** 2}`,
    '--',
    ...command,
  ];
}

interface SandboxRun {
  exitCode: number | null;
  output: string;
  truncated: boolean;
  timedOut: boolean;
  spawnError?: string;
}

function runSandboxed(args: string[], timeoutMs: number, maxBytes: number, signal?: AbortSignal): Promise<SandboxRun> {
  return new Promise((resolve) => {
    // bwrap itself starts with an empty environment: with a PID namespace it is PID 1 of the
    // sandbox, and its /proc/1/environ would otherwise hold the worker's (database URL...).
    // --clearenv only clears the environment of bwrap's child.
    const child = spawn('/usr/bin/bwrap', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: {} });
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    let timedOut = false;
    const collect = (chunk: Buffer) => {
      if (size >= maxBytes) {
        truncated = true;
        return;
      }
      const part = chunk.subarray(0, maxBytes - size);
      if (part.length < chunk.length) truncated = true;
      chunks.push(part);
      size += part.length;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: null, output: '', truncated: false, timedOut: false, spawnError: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      resolve({ exitCode: code, output: Buffer.concat(chunks).toString('utf8'), truncated, timedOut });
    });
  });
}
