import { defaultEngineConfig, doctor, gradeSubmission, loadExercise, locateKernel, type EngineConfig } from '@kgrader/engine';
import { cacheDirOf, type WorkerEnv } from './config.js';
import type { Grader } from './grader.js';

export function engineConfigFromEnv(env: WorkerEnv): EngineConfig {
  const base = defaultEngineConfig(cacheDirOf(env));
  return {
    ...base,
    ...(env.KGRADER_EXERCISES_DIR ? { exercisesDir: env.KGRADER_EXERCISES_DIR } : {}),
    accel: env.KGRADER_ACCEL,
    ...(env.KGRADER_VM_CPUS ? { vmCpus: env.KGRADER_VM_CPUS } : {}),
    ...(env.KGRADER_VM_MEMORY_MIB ? { vmMemoryMiB: env.KGRADER_VM_MEMORY_MIB } : {}),
  };
}

/** Checks a worker can grade without: the KCSAN kernel serves only exercises with a data-race pass. */
const OPTIONAL_CHECKS = new Set(['grading kernel (kcsan)']);

/** The real engine: compile in a sandbox, boot the sanitizer kernel under QEMU, analyze. */
export function engineGrader(config: EngineConfig): Grader {
  return {
    loadExercise: (slug) => loadExercise(slug, config.exercisesDir),
    grade: ({ exercise, sourceDir, onProgress, signal }) => gradeSubmission({ exercise, sourceDir, config, onProgress, signal }),
    doctor: async () => (await doctor(config)).map((c) => ({ ...c, required: !OPTIONAL_CHECKS.has(c.name) })),
    environment: async () => {
      const kernelKeys: Record<string, string> = {};
      for (const flavor of ['kasan', 'kcsan'] as const) {
        const kernel = await locateKernel(config.cacheDir, flavor).catch(() => undefined);
        if (kernel) kernelKeys[flavor] = kernel.key;
      }
      return { kernelKeys };
    },
  };
}
