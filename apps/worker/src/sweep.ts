import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Work folders carry their owner's pid: `kgrader-sub-<pid>-*` (worker), `kgrader-run-<pid>-*` (engine). */
const OWNED_FOLDER = /^kgrader-(?:sub|run)-(\d+)-/;

/** The pid of the process owning a work folder, from its name; undefined for other names. */
export function workFolderOwner(name: string): number | undefined {
  const pid = Number(OWNED_FOLDER.exec(name)?.[1]);
  return pid > 0 ? pid : undefined;
}

/** Work folders under `dir` whose owner process no longer exists (never this process's own). */
export async function orphanWorkFolders(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((name) => {
    const pid = workFolderOwner(name);
    return pid !== undefined && pid !== process.pid && !isAlive(pid);
  });
}

/**
 * Removes the work folders of processes that no longer exist: a worker killed mid-grading (SIGKILL,
 * OOM, power loss) cannot clean up after itself, and the next worker on the host does it.
 * Folders of live processes (other workers on this host) are left alone.
 */
export async function sweepOrphanWorkFolders(dir: string): Promise<string[]> {
  const removed = await orphanWorkFolders(dir);
  for (const name of removed) await rm(join(dir, name), { recursive: true, force: true });
  return removed;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
