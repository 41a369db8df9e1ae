import type { ExerciseSpec, GradeResult, Stage } from '@kgrader/schemas';
import type { HealthCheck } from './health.js';

/** What the worker needs from the engine (`engineGrader` wraps @kgrader/engine). */
export interface Grader {
  loadExercise(slug: string): Promise<ExerciseSpec>;
  grade(opts: {
    exercise: ExerciseSpec;
    sourceDir: string;
    onProgress: (stage: Stage, message: string) => void;
    signal: AbortSignal;
  }): Promise<GradeResult>;
  /** the checks a grading needs (`kgrader doctor`); absent: nothing to check (stand-in graders) */
  doctor?(): Promise<HealthCheck[]>;
  /** what this worker grades on, pinned across the service: the grading kernels' keys by flavor (the built ones) */
  environment?(): Promise<{ kernelKeys: Record<string, string> }>;
}
