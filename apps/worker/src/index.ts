export { runWorker, type RunningWorker } from './run.js';
export { WorkerEnv, workerConfigFromEnv, cacheDirOf, type WorkerConfig } from './config.js';
export type { Grader } from './grader.js';
export { createProcessor, ShutdownAbort, InfrastructureError, type JobOutcome } from './processor.js';
export { reconcile, startReconciler, type ReconcileOptions } from './reconciler.js';
export { engineGrader, engineConfigFromEnv } from './engine-grader.js';
export { startLmsLoops, PassbackDispatcher, lmsConfigOf, type LmsLoops, type PassbackSummary } from './lms.js';
export { DEFAULT_PASSBACK_SCHEDULE_MS, type WorkerLmsConfig } from './config.js';
export { startSimilarityLoop, runSimilarity, queueDueSimilarityRuns, DEFAULT_SIMILARITY_THRESHOLD } from './similarity.js';
