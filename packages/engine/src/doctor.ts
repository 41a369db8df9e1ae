import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ensureHarness } from '@kgrader/harness';
import { locateKernel, type KernelInfo } from '@kgrader/kernel';
import type { EngineConfig } from './config.js';
import { gradingImage } from './vm-image.js';

const execFileAsync = promisify(execFile);

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** Checks everything a grading needs, building the cheap parts (harness, accelerator probe). */
export async function doctor(config: EngineConfig): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const check = async (name: string, run: () => Promise<string>) => {
    try {
      checks.push({ name, ok: true, detail: await run() });
    } catch (err) {
      checks.push({ name, ok: false, detail: (err as Error).message.split('\n')[0] ?? String(err) });
    }
  };
  let kernel: KernelInfo | undefined;
  await check('grading kernel', async () => {
    kernel = await locateKernel(config.cacheDir);
    return `Linux ${kernel.kernelRelease} (${kernel.key})`;
  });
  await check('grading kernel (kcsan)', async () => {
    const kcsan = await locateKernel(config.cacheDir, 'kcsan');
    return `Linux ${kcsan.kernelRelease} (${kcsan.key}), for exercises with a data-race pass`;
  });
  await check('qemu', async () => (await execFileAsync('qemu-system-x86_64', ['--version'])).stdout.split('\n')[0]!);
  await check('bubblewrap sandbox', async () => {
    await execFileAsync('bwrap', ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--unshare-all', '--cap-drop', 'ALL', '--', '/usr/bin/true']);
    return 'works (no network, read-only host)';
  });
  await check('busybox (static)', async () => {
    const { stdout } = await execFileAsync('file', ['-L', config.busybox]).catch(() => ({ stdout: 'statically linked (file(1) missing)' }));
    if (!/statically linked/.test(stdout)) throw new Error(`${config.busybox} is not static: install busybox-static`);
    return config.busybox;
  });
  await check('harness', async () => ensureHarness(config.cacheDir));
  await check('accelerator', async () => {
    if (!kernel) throw new Error('needs the kernel');
    const { accel } = await gradingImage(config, kernel);
    if (accel === 'kvm') {
      // chosen (KGRADER_ACCEL=kvm) rather than probed: the device must at least open
      const kvm = await open('/dev/kvm', 'r+').catch((err: NodeJS.ErrnoException) => {
        throw new Error(`KVM was chosen but /dev/kvm cannot be opened (${err.code ?? err.message}): pass the device or use KGRADER_ACCEL=auto`);
      });
      await kvm.close();
      return 'KVM';
    }
    return 'TCG (software emulation; KVM absent or not usable)';
  });
  return checks;
}
