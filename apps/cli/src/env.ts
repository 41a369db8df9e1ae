import { homedir } from 'node:os';
import { z } from 'zod';

/** The CLI's environment, parsed once at start. */
export const CliEnv = z.object({
  KGRADER_CACHE_DIR: z.string().min(1).optional(),
  XDG_CACHE_HOME: z.string().min(1).optional(),
  KGRADER_EXERCISES_DIR: z.string().min(1).optional(),
  KGRADER_ACCEL: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  KGRADER_KEEP_WORKDIR: z.enum(['0', '1']).default('0'),
  /** gradings tried when kgrader's own infrastructure fails (verdict error): the CLI's one retry layer */
  KGRADER_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(2),
  /** 0: boot every grading VM instead of restoring the saved booted state */
  KGRADER_SNAPSHOTS: z.enum(['0', '1']).default('1'),
  NO_COLOR: z.string().optional(),
});
export type CliEnv = z.infer<typeof CliEnv>;

export function cacheDirOf(env: CliEnv): string {
  return env.KGRADER_CACHE_DIR ?? `${env.XDG_CACHE_HOME ?? `${homedir()}/.cache`}/kgrader`;
}
