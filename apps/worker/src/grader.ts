import type { ExerciseSpec, GradeResult, Stage } from '@kgrader/schemas';

/** What the worker needs from the engine (`engineGrader` wraps @kgrader/engine). */
export interface Grader {
  loadExercise(slug: string): Promise<ExerciseSpec>;
  grade(opts: {
    exercise: ExerciseSpec;
    sourceDir: string;
    onProgress: (stage: Stage, message: string) => void;
    signal: AbortSignal;
  }): Promise<GradeResult>;
}
