import { tmpdir } from 'node:os';
import { CHECK_JOB, createDb, createGradingQueue, createRedis, ensureDatabase, GRADING_QUEUE, migrate, type GradingJobData, type QueueJobData, type SolutionCheckJobData } from '@kgrader/db';
import { Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import type { Grader } from './grader.js';
import { createProcessor, ShutdownAbort, type JobOutcome } from './processor.js';
import { createCheckProcessor, type CheckOutcome } from './checks.js';
import type { Job } from 'bullmq';
import { startLmsLoops } from './lms.js';
import { startSimilarityLoop } from './similarity.js';
import { startReconciler } from './reconciler.js';
import { sweepOrphanWorkFolders } from './sweep.js';

export interface RunningWorker {
  /** finishes the running gradings (or, after the grace period, aborts and releases them), then closes */
  shutdown(): Promise<void>;
  worker: Worker<QueueJobData, JobOutcome | CheckOutcome>;
}

/** Starts a grading worker process's machinery: bullmq consumer + reconciler. */
export async function runWorker(opts: { config: WorkerConfig; grader: Grader; logger: Logger; migrate?: boolean }): Promise<RunningWorker> {
  const { config, grader, logger } = opts;
  if (opts.migrate) {
    await ensureDatabase(config.databaseUrl);
    await migrate({ databaseUrl: config.databaseUrl, log: (m) => logger.info(m) });
  }
  const swept = await sweepOrphanWorkFolders(tmpdir());
  if (swept.length > 0) logger.info({ swept }, 'removed work folders of dead workers');
  const db = createDb({ databaseUrl: config.databaseUrl, poolMax: Math.max(4, config.concurrency + 2) });
  const redis = createRedis(config.redisUrl);
  const queue = createGradingQueue(redis, config.queuePrefix);

  const controllers = new Map<string, AbortController>();
  const signals = {
    register(jobId: string, c: AbortController) {
      controllers.set(jobId, c);
      return () => controllers.delete(jobId);
    },
  };
  const grading = createProcessor({ db, redis, grader, config, logger }, signals);
  const checking = createCheckProcessor({ db, grader, config, logger }, signals);
  // one queue, two kinds of job: gradings of submissions and solution checks of exercise versions
  const processor = (job: Job<QueueJobData>, token?: string): Promise<JobOutcome | CheckOutcome> =>
    job.name === CHECK_JOB ? checking(job as Job<SolutionCheckJobData>) : grading(job as Job<GradingJobData>, token);
  const workerConnection = createRedis(config.redisUrl);
  const worker = new Worker<QueueJobData, JobOutcome | CheckOutcome>(GRADING_QUEUE, processor, {
    connection: workerConnection,
    prefix: config.queuePrefix,
    concurrency: config.concurrency,
    lockDuration: config.lockMs,
    stalledInterval: config.stalledIntervalMs,
    // a job whose worker died is given back this many times before it is failed
    maxStalledCount: 3,
    autorun: true,
  });
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, err: err.message, attemptsMade: job?.attemptsMade }, 'job failed'));
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled (its worker died); it will run again'));

  const reconciler = startReconciler({
    db,
    redis,
    queue,
    retry: config.retry,
    queuedGraceSeconds: config.reconcile.queuedGraceSeconds,
    heartbeatStaleSeconds: config.heartbeat.staleSeconds,
    intervalMs: config.reconcile.intervalMs,
    prefix: config.queuePrefix,
    logger,
  });
  const lms = await startLmsLoops({ db, config, logger, queue, loadExercise: (slug) => grader.loadExercise(slug) });
  const similarity = startSimilarityLoop({ db, logger, pollMs: config.similarityPollMs ?? 0 });
  logger.info({ concurrency: config.concurrency, workerId: config.workerId }, 'kgrader worker started');

  let closing: Promise<void> | undefined;
  return {
    worker,
    shutdown() {
      closing ??= (async () => {
        await reconciler.stop();
        await lms.stop();
        await similarity.stop();
        const grace = setTimeout(() => {
          if (controllers.size) logger.warn({ jobs: [...controllers.keys()] }, 'grace period over: aborting and releasing jobs');
          for (const c of controllers.values()) c.abort(new ShutdownAbort());
        }, config.shutdownGraceMs);
        await worker.close(); // stops taking jobs, waits for the running ones
        clearTimeout(grace);
        await queue.close();
        // bullmq does not close connections it was handed
        workerConnection.disconnect();
        redis.disconnect();
        await db.$disconnect();
        logger.info('worker stopped');
      })();
      return closing;
    },
  };
}
