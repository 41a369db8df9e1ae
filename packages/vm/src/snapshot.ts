import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kernelCommandLine, type Accelerator, type Machine } from './qemu.js';
import { VmSession, VmStartError, type Ready, type VmStartOptions } from './session.js';

const execFileAsync = promisify(execFile);

/** Everything that makes two grading VMs the same machine (a saved state restores only into its twin). */
export interface VmImage {
  kernel: string;
  initrd: string;
  accel: Accelerator;
  machine: Machine;
  cpus: number;
  memoryMiB: number;
  append?: readonly string[];
}

export interface LaunchOptions {
  image: VmImage;
  /** per-grading folder for the sockets */
  workDir: string;
  consoleHeadBytes?: number;
  consoleTailBytes?: number;
  consoleKillBytes?: number;
  /** where saved VM states live; absent: always cold-boot */
  snapshotDir?: string;
  /** why a freshly booted kernel is not fit to be saved (a report during boot), or undefined */
  bootProblem: (console: string) => string | undefined;
  /** seconds a cold boot may take to reach the harness */
  bootTimeoutSeconds: number;
}

export interface LaunchedVm {
  session: VmSession;
  ready: Ready;
  /** restored from a saved state (else cold-booted) */
  restored: boolean;
  /** why a restore was not used, when it was tried and failed */
  restoreFailure?: string;
  /** seconds from QEMU start to READY */
  bootSeconds: number;
}

/**
 * A grading VM whose harness is up and waiting for its work: restored from the saved state for
 * this image when there is one (created on first use), cold-booted otherwise or when the
 * restore fails. Every grading thus starts from the same pristine kernel.
 */
export async function launchVm(opts: LaunchOptions): Promise<LaunchedVm> {
  let restoreFailure: string | undefined;
  if (opts.snapshotDir) {
    try {
      const state = await ensureSnapshot(opts.image, opts.snapshotDir, opts);
      const started = Date.now();
      const session = await VmSession.start({ ...startOptions(opts, 'restore'), incoming: state });
      try {
        await session.resumeAfterRestore(30_000);
        const ready = await session.hello(15_000);
        return { session, ready, restored: true, bootSeconds: (Date.now() - started) / 1000 };
      } catch (err) {
        await session.close();
        throw err;
      }
    } catch (err) {
      restoreFailure = (err as Error).message;
    }
  }
  const started = Date.now();
  const session = await VmSession.start(startOptions(opts, 'boot'));
  try {
    const ready = await session.hello(opts.bootTimeoutSeconds * 1000);
    return { session, ready, restored: false, bootSeconds: (Date.now() - started) / 1000, ...(restoreFailure ? { restoreFailure } : {}) };
  } catch (err) {
    await session.close();
    throw err;
  }
}

function startOptions(opts: LaunchOptions, tag: string): VmStartOptions {
  const { image } = opts;
  return {
    kernel: image.kernel,
    initrd: image.initrd,
    accel: image.accel,
    machine: image.machine,
    cpus: image.cpus,
    memoryMiB: image.memoryMiB,
    ...(image.append ? { append: image.append } : {}),
    controlSocket: join(opts.workDir, `${tag}.ctl`),
    qmpSocket: join(opts.workDir, `${tag}.qmp`),
    ...(opts.consoleHeadBytes ? { consoleHeadBytes: opts.consoleHeadBytes } : {}),
    ...(opts.consoleTailBytes ? { consoleTailBytes: opts.consoleTailBytes } : {}),
    ...(opts.consoleKillBytes ? { consoleKillBytes: opts.consoleKillBytes } : {}),
  };
}

/** The key of a saved state: the image's files and settings, the kernel command line it booted with and the QEMU that saved it. */
export async function snapshotKey(image: VmImage): Promise<string> {
  const [kernel, initrd, qemu] = await Promise.all([
    stat(image.kernel),
    readFile(image.initrd),
    execFileAsync('qemu-system-x86_64', ['--version']).then((r) => r.stdout.split('\n')[0]),
  ]);
  return createHash('sha256')
    .update(JSON.stringify({ ...image, kernel: `${image.kernel}:${kernel.size}:${kernel.mtimeMs}`, initrd: createHash('sha256').update(initrd).digest('hex'), cmdline: kernelCommandLine(image.append), qemu, v: 1 }))
    .digest('hex')
    .slice(0, 20);
}

/**
 * The saved state for this image: created on first use by booting once until the harness waits
 * for work, checking the boot printed no kernel report, and saving the paused VM. Concurrent
 * creators each write their own file and rename it into place, so a reader never sees half of
 * one. Returns the state file.
 */
export async function ensureSnapshot(image: VmImage, snapshotDir: string, opts: Pick<LaunchOptions, 'workDir' | 'bootProblem' | 'bootTimeoutSeconds'>): Promise<string> {
  const dir = join(snapshotDir, await snapshotKey(image));
  const state = join(dir, 'state');
  try {
    await stat(join(dir, 'manifest.json'));
    return state;
  } catch {
    /* not saved yet */
  }
  await mkdir(dir, { recursive: true });
  const started = Date.now();
  const session = await VmSession.start({ ...startOptions({ image, workDir: opts.workDir, bootProblem: opts.bootProblem, bootTimeoutSeconds: opts.bootTimeoutSeconds }, 'save') });
  const staging = `${state}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const ready = await session.hello(opts.bootTimeoutSeconds * 1000);
    if (ready.ran < image.cpus) throw new VmStartError(`the VM ran tasks on ${ready.ran} of ${image.cpus} CPUs`);
    const problem = opts.bootProblem(session.consoleText);
    if (problem) throw new VmStartError(`the kernel reported a problem while booting: ${problem}`);
    await session.saveAndQuit(staging, 120_000);
    await rename(staging, state);
    const info = { image, ready, bootSeconds: (Date.now() - started) / 1000, bytes: (await stat(state)).size, savedAt: new Date().toISOString() };
    await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(info, null, 2)}\n`);
    return state;
  } finally {
    await session.close();
    await rm(staging, { force: true });
  }
}
