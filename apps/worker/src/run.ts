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
import { checkHealth, startHealthServer, WorkerMetrics, type HealthState } from './health.js';
import { ExerciseSpec } from '@kgrader/schemas';

export interface RunningWorker {
  /** finishes the running gradings (or, after the grace period, aborts and releases them), then closes */
  shutdown(): Promise<void>;
  worker: Worker<QueueJobData, JobOutcome | CheckOutcome>;
  /** the last health check (config.health), undefined without one */
  health(): HealthState | undefined;
  /** the health and metrics server's port (config.health.http) */
  httpPort?: number;
}

/** Starts a grading worker process's machinery: bullmq consumer + reconciler. */
export async function runWorker(opts: { config: WorkerConfig; grader: Grader; logger: Logger; migrate?: boolean }): Promise<RunningWorker> {
  const { config, logger } = opts;
  if (opts.migrate) {
    await ensureDatabase(config.databaseUrl);
    await migrate({ databaseUrl: config.databaseUrl, log: (m) => logger.info(m) });
  }
  const swept = await sweepOrphanWorkFolders(tmpdir());
  if (swept.length > 0) logger.info({ swept }, 'removed work folders of dead workers');
  const db = createDb({ databaseUrl: config.databaseUrl, poolMax: Math.max(4, config.concurrency + 2) });
  const redis = createRedis(config.redisUrl);
  const queue = createGradingQueue(redis, config.queuePrefix);

  // health gate (issue 11): the doctor's checks and the environment pins, at start and periodically
  const metrics = config.health ? new WorkerMetrics({ concurrency: config.concurrency, workerId: config.workerId }) : undefined;
  let health: HealthState | undefined;
  const recheck = async (repin: boolean) => {
    const state = await checkHealth({ db, grader: opts.grader, workerId: config.workerId, toolKeysFile: config.lms?.toolKeysFile, repin });
    const failing = state.checks.filter((c) => !c.ok);
    if (!health || health.ready !== state.ready || JSON.stringify(health.checks.filter((c) => !c.ok)) !== JSON.stringify(failing)) {
      if (state.ready) logger.info({ checks: state.checks.map((c) => `${c.name}: ${c.ok ? 'ok' : 'FAILING'} (${c.detail})`) }, failing.length ? 'health: ready (with warnings)' : 'health: ready');
      else logger.error({ failing }, 'health: this worker cannot grade like the others; it takes no grading jobs until fixed');
    }
    health = state;
    metrics?.health(state);
    return state;
  };
  if (config.health) await recheck(config.health.repin);
  // a graded result must come from the kernel the service pins: never a silently different grading
  const grader: Grader = {
    ...opts.grader,
    async grade(o) {
      const result = await opts.grader.grade(o);
      const pinned = health?.kernelKeys['kasan'];
      const used = result.environment?.kernelKey;
      if (config.health && result.verdict !== 'error' && pinned !== used) {
        return { ...result, verdict: 'error', infrastructureError: `graded on kernel ${used ?? '(unknown)'} but the service grades on ${pinned ?? '(no pinned kernel)'}`, environment: undefined } as typeof result;
      }
      return result;
    },
  };

  const controllers = new Map<string, AbortController>();
  const signals = {
    register(jobId: string, c: AbortController) {
      controllers.set(jobId, c);
      return () => controllers.delete(jobId);
    },
  };
  const grading = createProcessor({ db, redis, grader, config, logger, ...(metrics ? { metrics } : {}) }, signals);
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
    // with a health gate the worker starts taking jobs once its checks pass
    autorun: !config.health,
  });
  let started = !config.health;
  const gate = async (ready: boolean) => {
    if (ready && !started) {
      started = true;
      worker.run().catch((err: unknown) => logger.error({ err }, 'worker loop failed'));
    } else if (ready && worker.isPaused()) {
      worker.resume();
      logger.info('health: taking grading jobs again');
    } else if (!ready && started && !worker.isPaused()) {
      await worker.pause(true);
    }
  };
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
  // grade passbacks are signed with the tool key: not with one the service does not publish
  const lmsConfig = health && !health.ltiKeyOk && config.lms ? { ...config, lms: { ...config.lms, toolKeysFile: undefined } } : config;
  // an LMS notice's exercise (its upload limits) comes from the database, never this host's disk
  const loadExercise = async (slug: string) => {
    const v = await db.exerciseVersion.findFirst({ where: { status: 'published', exercise: { slug } }, orderBy: { version: 'desc' } });
    return v ? ExerciseSpec.parse(v.spec) : opts.grader.loadExercise(slug);
  };
  const lms = await startLmsLoops({ db, config: lmsConfig, logger, queue, redis, loadExercise });
  const similarity = startSimilarityLoop({ db, logger, pollMs: config.similarityPollMs ?? 0 });
  let http: Awaited<ReturnType<typeof startHealthServer>> | undefined;
  if (config.health?.http && metrics) http = await startHealthServer({ ...config.health.http, metrics, state: () => health, logger });
  let rechecks: NodeJS.Timeout | undefined;
  if (config.health) {
    await gate(health!.ready);
    let checking = false;
    rechecks = setInterval(() => {
      if (checking) return;
      checking = true;
      recheck(false)
        .then((state) => gate(state.ready))
        .catch((err: unknown) => logger.warn({ err }, 'health check failed to run'))
        .finally(() => (checking = false));
    }, config.health.recheckMs);
    rechecks.unref();
  }
  logger.info({ concurrency: config.concurrency, workerId: config.workerId, takingJobs: started }, 'kgrader worker started');

  let closing: Promise<void> | undefined;
  return {
    worker,
    health: () => health,
    ...(http ? { httpPort: http.port } : {}),
    shutdown() {
      closing ??= (async () => {
        if (rechecks) clearInterval(rechecks);
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
        await http?.close();
        await db.$disconnect();
        logger.info('worker stopped');
      })();
      return closing;
    },
  };
}
