import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';

const execFileAsync = promisify(execFile);

/** The script that builds the kernel; also the one place that knows the cache key. */
export const buildKernelScript = fileURLToPath(new URL('../../scripts/build-kernel.sh', import.meta.url));

/** Sanitizer flavors of the grading kernel (config/<flavor>.config). */
export type KernelFlavor = 'kasan' | 'kcsan';

export const KernelInfo = z.object({
  key: z.string(),
  /** absent in manifests written before flavors existed: those are kasan */
  flavor: z.enum(['kasan', 'kcsan']).default('kasan'),
  sourceVersion: z.string(),
  configHash: z.string(),
  kernelRelease: z.string(),
  /** built tree that student modules compile against (`make -C tree M=...`) */
  tree: z.string(),
  bzImage: z.string(),
  buildSeconds: z.number(),
});
export type KernelInfo = z.infer<typeof KernelInfo>;

export class KernelNotBuiltError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelNotBuiltError';
  }
}

/**
 * Finds the grading kernel that the current config fragment and installed linux-source produce.
 * Never builds: building takes minutes and belongs to `npm run setup`.
 */
export async function locateKernel(cacheDir: string, flavor: KernelFlavor = 'kasan'): Promise<KernelInfo> {
  let dir: string;
  try {
    const { stdout } = await execFileAsync('bash', [buildKernelScript, '--flavor', flavor, '--print-dir'], {
      env: { ...minimalEnv(), KGRADER_CACHE_DIR: cacheDir },
    });
    dir = stdout.trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new KernelNotBuiltError(stderr || 'cannot locate the grading kernel (run: npm run setup)');
  }
  let manifest: string;
  try {
    manifest = await readFile(`${dir}/kernel.json`, 'utf8');
  } catch {
    throw new KernelNotBuiltError(`the ${flavor} grading kernel is not built yet (expected ${dir}); run: npm run setup`);
  }
  const info = KernelInfo.parse(JSON.parse(manifest));
  // the manifest's paths are where the kernel was built; the cache may be mounted elsewhere since
  // (a container's volume, a copy on another host): the files are where the manifest is
  return { ...info, tree: `${dir}/linux`, bzImage: `${dir}/linux/arch/x86/boot/bzImage` };
}

/** A fixed PATH and locale: the build script must not depend on the caller's environment. */
function minimalEnv(): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
  };
}
