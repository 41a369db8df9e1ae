import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { cpioNewc } from './cpio.js';
import { type Accelerator } from './qemu.js';
import { runVm } from './run.js';

const execFileAsync = promisify(execFile);

export type AcceleratorChoice = Accelerator | 'auto';

/**
 * Picks KVM when /dev/kvm exists *and* a probe boot under KVM works (nested or restricted KVM
 * can fail on CPU features, or hang silently), TCG otherwise. The probe's answer is cached per
 * host kernel, QEMU version and kernel image, so it runs once.
 */
export async function chooseAccelerator(opts: {
  choice: AcceleratorChoice;
  bzImage: string;
  busybox: string;
  cacheDir: string;
}): Promise<Accelerator> {
  if (opts.choice !== 'auto') return opts.choice;
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return 'tcg';
  }
  const key = await probeKey(opts.bzImage);
  const cacheFile = join(opts.cacheDir, 'accel-probe.json');
  try {
    const cached = JSON.parse(await readFile(cacheFile, 'utf8')) as { key: string; accel: Accelerator };
    if (cached.key === key) return cached.accel;
  } catch {
    /* no cached answer */
  }
  const accel: Accelerator = (await kvmBoots(opts.bzImage, opts.busybox)) ? 'kvm' : 'tcg';
  await mkdir(opts.cacheDir, { recursive: true });
  await writeFile(cacheFile, JSON.stringify({ key, accel, probedAt: new Date().toISOString() }));
  return accel;
}

async function probeKey(bzImage: string): Promise<string> {
  const [{ stdout: hostKernel }, { stdout: qemu }] = await Promise.all([
    execFileAsync('uname', ['-rv']),
    execFileAsync('qemu-system-x86_64', ['--version']).catch(() => ({ stdout: 'no qemu' })),
  ]);
  return `${hostKernel.trim()}|${qemu.split('\n')[0]}|${bzImage}`;
}

async function kvmBoots(bzImage: string, busybox: string): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), 'kgrader-kvm-probe-'));
  try {
    const init = '#!/bin/busybox sh\n/bin/busybox echo "{\\"event\\":\\"log\\",\\"message\\":\\"probe\\"}" > /dev/ttyS1\n/bin/busybox reboot -f\n';
    const initrd = join(dir, 'probe.cpio.gz');
    await writeFile(
      initrd,
      gzipSync(
        cpioNewc([
          { type: 'dir', path: 'bin' },
          { type: 'dir', path: 'dev' },
          { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
          { type: 'chardev', path: 'dev/ttyS1', major: 4, minor: 65 },
          { type: 'file', path: 'init', data: init, mode: 0o755 },
          { type: 'file', path: 'bin/busybox', data: await readFile(busybox), mode: 0o755 },
        ]),
      ),
    );
    const outcome = await runVm({
      bzImage,
      initrd,
      resultsPath: join(dir, 'results'),
      accel: 'kvm',
      timeoutSeconds: 30,
    });
    return outcome.events.some((e) => e.event === 'log' && e.message === 'probe');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
