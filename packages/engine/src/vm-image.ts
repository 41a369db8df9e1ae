import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureHarness, initScriptPath } from '@kgrader/harness';
import type { KernelInfo } from '@kgrader/kernel';
import { chooseAccelerator, gradingInitramfs, type VmImage } from '@kgrader/vm';
import type { EngineConfig } from './config.js';

/**
 * The grading VM for this kernel: the initramfs (init, busybox, harness; the same for every
 * grading, cached by content under `<cacheDir>/initramfs/`), the accelerator and the VM
 * settings. Two gradings with the same image run the same machine, so a saved state of one
 * restores into the other.
 */
export async function gradingImage(config: EngineConfig, kernel: KernelInfo): Promise<VmImage> {
  const harness = await ensureHarness(config.cacheDir);
  const initrd = await ensureInitramfs(config.cacheDir, harness, config.busybox);
  const accel = await chooseAccelerator({ choice: config.accel, kernel: kernel.bzImage, initrd, cacheDir: config.cacheDir });
  return { kernel: kernel.bzImage, initrd, accel, machine: 'pc', cpus: config.vmCpus, memoryMiB: config.vmMemoryMiB };
}

async function ensureInitramfs(cacheDir: string, harnessPath: string, busyboxPath: string): Promise<string> {
  const data = gradingInitramfs({
    init: await readFile(initScriptPath, 'utf8'),
    busybox: await readFile(busyboxPath),
    harness: await readFile(harnessPath),
  });
  const dir = join(cacheDir, 'initramfs');
  const path = join(dir, `${createHash('sha256').update(data).digest('hex').slice(0, 16)}.cpio.gz`);
  try {
    await access(path);
    return path;
  } catch {
    /* first use */
  }
  await mkdir(dir, { recursive: true });
  // written whole, then renamed: workers sharing the cache never read half a file
  const staging = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(staging, data);
  await rename(staging, path);
  return path;
}
