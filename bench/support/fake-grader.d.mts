// Types of fake-grader.mjs (the queue benchmark's stand-in for the engine; never used in production).
import type { ExerciseSpec } from '@kgrader/schemas';
import type { Grader } from '@kgrader/worker';

export declare function fakeGrader(loadExercise: (slug: string) => Promise<ExerciseSpec>): Grader & { calls: Map<string, number> };
