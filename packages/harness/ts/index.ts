import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ExerciseSpec } from '@kgrader/schemas';

const execFileAsync = promisify(execFile);
const packageDir = fileURLToPath(new URL('../../', import.meta.url));

/** The harness's /init script, placed at the initramfs root. */
export const initScriptPath = join(packageDir, 'initramfs', 'init');

export interface PlanModule {
  /** where the module sits inside the VM, e.g. `/msgbuf.ko` */
  path: string;
  name: string;
}

/**
 * The harness plan for one exercise (see PROTOCOL.md): the module, the device (or `auto`), then
 * one line per test in spec order. Pure.
 */
export function planFor(exercise: ExerciseSpec, module: PlanModule): string {
  const lines = [
    `# kgrader plan: ${exercise.slug}`,
    `module ${module.path} ${module.name}`,
    `device ${exercise.device ?? 'auto'}`,
  ];
  for (const test of exercise.tests) {
    const params = Object.entries(test.params)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => `${key}=${value}`);
    lines.push(['test', test.name, test.kind, `timeout=${test.timeoutSeconds}`, ...params].join(' '));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Builds the static harness binary once per version of its sources and returns its path. The
 * binary is cached outside the repository under `<cacheDir>/harness/<source hash>/`.
 */
export async function ensureHarness(cacheDir: string): Promise<string> {
  const srcDir = join(packageDir, 'src');
  const buildScript = join(packageDir, 'scripts', 'build-harness.sh');
  const hash = createHash('sha256');
  for (const name of (await readdir(srcDir)).sort()) {
    hash.update(name).update(await readFile(join(srcDir, name)));
  }
  hash.update(await readFile(buildScript));
  const dir = join(cacheDir, 'harness', hash.digest('hex').slice(0, 16));
  const binary = join(dir, 'kgrader-harness');
  try {
    await access(binary);
    return binary;
  } catch {
    /* not built yet */
  }
  // built into a folder of its own, then renamed into place: workers sharing the cache (even on
  // several hosts) never see half a binary, and a reader is never pulled out from under
  const staging = `${dir}.tmp-${randomBytes(6).toString('hex')}`;
  await mkdir(staging, { recursive: true });
  try {
    await execFileAsync('bash', [buildScript, staging]);
    await mkdir(join(cacheDir, 'harness'), { recursive: true });
    try {
      await rename(staging, dir);
    } catch (err) {
      // another worker put the same build in place first: theirs is as good as ours
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return binary;
}
