export { runWorker, type RunningWorker } from './run.js';
export { WorkerEnv, workerConfigFromEnv, cacheDirOf, type WorkerConfig } from './config.js';
export type { Grader } from './grader.js';
export { createProcessor, ShutdownAbort, InfrastructureError, type JobOutcome } from './processor.js';
export { reconcile, startReconciler, type ReconcileOptions } from './reconciler.js';
export { fakeGrader } from './fake-grader.js';
export { engineGrader, engineConfigFromEnv } from './engine-grader.js';
