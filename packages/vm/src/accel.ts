import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Accelerator } from './qemu.js';
import { VmSession } from './session.js';

const execFileAsync = promisify(execFile);

export type AcceleratorChoice = Accelerator | 'auto';

/**
 * Picks KVM when /dev/kvm exists *and* a probe boot under KVM works (nested or restricted KVM
 * can fail on CPU features, or hang silently), TCG otherwise. The probe's answer is cached per
 * host kernel, QEMU version and kernel image, so it runs once.
 */
export async function chooseAccelerator(opts: {
  choice: AcceleratorChoice;
  /** the grading VM's kernel and initramfs: the probe boots them until the harness answers */
  kernel: string;
  initrd: string;
  cacheDir: string;
}): Promise<Accelerator> {
  if (opts.choice !== 'auto') return opts.choice;
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return 'tcg';
  }
  const key = await probeKey(opts.kernel);
  const cacheFile = join(opts.cacheDir, 'accel-probe.json');
  try {
    const cached = JSON.parse(await readFile(cacheFile, 'utf8')) as { key: string; accel: Accelerator };
    if (cached.key === key) return cached.accel;
  } catch {
    /* no cached answer */
  }
  const accel: Accelerator = (await kvmBoots(opts.kernel, opts.initrd)) ? 'kvm' : 'tcg';
  await mkdir(opts.cacheDir, { recursive: true });
  await writeFile(cacheFile, JSON.stringify({ key, accel, probedAt: new Date().toISOString() }));
  return accel;
}

async function probeKey(kernel: string): Promise<string> {
  const [{ stdout: hostKernel }, { stdout: qemu }] = await Promise.all([
    execFileAsync('uname', ['-rv']),
    execFileAsync('qemu-system-x86_64', ['--version']).catch(() => ({ stdout: 'no qemu' })),
  ]);
  return `${hostKernel.trim()}|${qemu.split('\n')[0]}|${kernel}`;
}

async function kvmBoots(kernel: string, initrd: string): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), 'kgrader-kvm-probe-'));
  let session: VmSession | undefined;
  try {
    session = await VmSession.start({ kernel, initrd, accel: 'kvm', controlSocket: join(dir, 'ctl') });
    const ready = await session.hello(30_000);
    return ready.ran >= 1;
  } catch {
    return false;
  } finally {
    await session?.close();
    await rm(dir, { recursive: true, force: true });
  }
}
