import { loadExercise, SubmissionRejected, validateSubmissionFiles } from '@kgrader/exercises';
import type { ExerciseSpec } from '@kgrader/schemas';
import type { ExerciseCatalog } from './deps.js';

/** The exercises of a folder (the config's), cached per slug (a spec is read from disk once per process). */
export function folderCatalog(exercisesDir: string): ExerciseCatalog {
  const cache = new Map<string, ExerciseSpec>();
  return {
    async get(slug) {
      const hit = cache.get(slug);
      if (hit) return hit;
      try {
        const spec = await loadExercise(slug, exercisesDir);
        cache.set(slug, spec);
        return spec;
      } catch (err) {
        if ((err as Error).name === 'UnknownExerciseError') return null;
        throw err;
      }
    },
    validateFiles(files, exercise) {
      try {
        validateSubmissionFiles(files, exercise);
        return null;
      } catch (err) {
        if (err instanceof SubmissionRejected) return err.message;
        throw err;
      }
    },
  };
}
