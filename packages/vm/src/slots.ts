import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/**
 * How many grading VMs this host runs at once: one per `vcpus` cores (a VM with 2 vCPUs under
 * TCG keeps 2 cores busy), at least one, and no more than fit in 80 % of the memory with
 * 256 MiB of QEMU overhead each.
 */
export function hostVmSlots(vcpus: number, memoryMiB: number, host = { cores: cpus().length, memoryMiB: totalmem() / 1024 / 1024 }): number {
  const byCores = Math.floor(host.cores / Math.max(1, vcpus));
  const byMemory = Math.floor((host.memoryMiB * 0.8) / (memoryMiB + 256));
  return Math.max(1, Math.min(byCores, byMemory));
}

export interface VmSlot {
  index: number;
  release(): void;
}

/**
 * Takes one of the host's VM slots, waiting while all are taken. A slot is a file under `dir`
 * locked with flock(1) by a small holder process: every worker process on the host (and every
 * container sharing `dir`) counts against the same budget, and a worker killed mid-grading
 * frees its slot at once (the holder dies with it, the kernel drops the lock).
 */
export async function acquireVmSlot(dir: string, slots: number, signal?: AbortSignal, pollMs = 250): Promise<VmSlot> {
  await mkdir(dir, { recursive: true });
  for (;;) {
    for (let index = 0; index < slots; index++) {
      const holder = await tryHold(join(dir, `slot-${index}.lock`));
      if (holder) {
        return {
          index,
          release: () => {
            holder.kill('SIGKILL');
          },
        };
      }
    }
    if (signal?.aborted) throw new Error('aborted while waiting for a VM slot');
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** A process holding an exclusive flock on `path`, or undefined when another holds it. */
function tryHold(path: string): Promise<ChildProcess | undefined> {
  return new Promise((resolve) => {
    // setpriv: flock dies with this process, and its command dies with flock; flock -n: fail at
    // once (exit 99) when taken; -o: only flock itself holds the lock, so killing it frees the
    // slot. The command prints once the lock is held, then waits to be killed.
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'flock', '-n', '-o', '-E', '99', path, 'setpriv', '--pdeathsig', 'KILL', '--', 'sh', '-c', 'echo held; exec sleep 2147483647'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let settled = false;
    child.stdout!.once('data', () => {
      settled = true;
      child.stdout!.destroy();
      resolve(child);
    });
    child.once('exit', () => {
      if (!settled) resolve(undefined);
    });
    child.once('error', () => {
      if (!settled) resolve(undefined);
    });
  });
}
