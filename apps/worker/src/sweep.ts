import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Work folders carry their owner's pid: `kgrader-sub-<pid>-*` (worker), `kgrader-run-<pid>-*` (engine). */
const OWNED_FOLDER = /^kgrader-(?:sub|run)-(\d+)-/;

/**
 * Removes the work folders of processes that no longer exist: a worker killed mid-grading (SIGKILL,
 * OOM, power loss) cannot clean up after itself, and the next worker on the host does it.
 * Folders of live processes (other workers on this host) are left alone.
 */
export async function sweepOrphanWorkFolders(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(OWNED_FOLDER.exec(name)?.[1]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
