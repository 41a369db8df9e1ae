import { enqueueGrading, enqueueSolutionChecks, gradingJobId, solutionCheckJobId, type Db, type GradingJobData, type RunReason } from '@kgrader/db';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface ReconcileOptions {
  db: Db;
  redis: Redis;
  queue: Queue<GradingJobData>;
  retry: { attempts: number; backoffMs: number };
  /** a queued submission older than this without a live job is re-enqueued */
  queuedGraceSeconds: number;
  /**
   * a submission in a grading stage whose current run's heartbeat is older than this (its worker
   * died) is re-enqueued when it has no live job (Redis lost it, or bullmq failed it)
   */
  heartbeatStaleSeconds: number;
  logger?: Logger;
}

const LIVE = new Set(['waiting', 'prioritized', 'active', 'delayed', 'waiting-children']);

/**
 * PostgreSQL is the truth, Redis only a delivery mechanism: every submission that should be
 * graded but has no live job (the API died between commit and enqueue, Redis restarted empty,
 * a job failed without its final state being written) gets its job back. Safe to run anywhere
 * and concurrently: job ids are deterministic, so a second enqueue is a no-op.
 */
export async function reconcile(opts: ReconcileOptions): Promise<{ checked: number; requeued: string[] }> {
  const now = Date.now();
  const queuedBefore = new Date(now - opts.queuedGraceSeconds * 1000).toISOString();
  const staleBefore = new Date(now - opts.heartbeatStaleSeconds * 1000).toISOString();
  // a grading stage is alive while its current run's heartbeat is fresh (no run yet: the row's own update time)
  const rows = await opts.db.$queryRaw<{ id: string; generation: number; reason: RunReason; status: string }[]>`
    SELECT s.id::text AS id, s.generation, s.reason::text AS reason, s.status::text AS status
    FROM "Submission" s LEFT JOIN "GradingRun" r ON r.id = s."currentRunId"
    WHERE (s.status = 'queued' AND s."updatedAt" < ${queuedBefore}::timestamp(3))
       OR (s.status IN ('building', 'booting', 'running', 'analyzing')
           AND COALESCE(r."heartbeatAt", s."updatedAt") < ${staleBefore}::timestamp(3))
    ORDER BY s."createdAt" ASC
    LIMIT 1000`;
  const requeued: string[] = [];
  for (const s of rows) {
    const job = await opts.queue.getJob(gradingJobId(s.id, s.generation));
    const state = job ? await job.getState() : 'missing';
    if (LIVE.has(state)) continue;
    const added = await enqueueGrading(opts.queue, { submissionId: s.id, generation: s.generation, reason: s.reason }, opts.retry);
    if (added === 'added') {
      requeued.push(s.id);
      opts.logger?.warn({ submissionId: s.id, status: s.status, jobState: state }, 'reconciler re-enqueued a submission without a live job');
    }
  }
  // solution checks of exercise versions being published: the same rule
  const checks = await opts.db.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM "SolutionCheck"
    WHERE (status = 'queued' AND "createdAt" < ${queuedBefore}::timestamp(3))
       OR (status = 'running' AND COALESCE("heartbeatAt", "createdAt") < ${staleBefore}::timestamp(3))
    ORDER BY "createdAt" ASC LIMIT 1000`;
  for (const c of checks) {
    const job = await opts.queue.getJob(solutionCheckJobId(c.id));
    const state = job ? await job.getState() : 'missing';
    if (LIVE.has(state)) continue;
    if ((await enqueueSolutionChecks(opts.queue, [c.id], opts.retry)) > 0) {
      requeued.push(c.id);
      opts.logger?.warn({ checkId: c.id, jobState: state }, 'reconciler re-enqueued a solution check without a live job');
    }
  }
  return { checked: rows.length + checks.length, requeued };
}

/** Runs reconcile() every intervalMs; one process at a time holds a short Redis lease for it. */
export function startReconciler(opts: ReconcileOptions & { intervalMs: number; prefix: string }): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const lease = `${opts.prefix}:kgrader:reconciler-lease`;
  const tick = async () => {
    const got = await opts.redis.set(lease, String(process.pid), 'PX', Math.max(1000, opts.intervalMs - 100), 'NX').catch(() => null);
    if (got !== 'OK') return;
    await reconcile(opts).catch((err) => opts.logger?.error({ err }, 'reconcile failed'));
  };
  const loop = () => {
    if (stopped) return;
    running = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, opts.intervalMs);
    });
  };
  if (opts.intervalMs > 0) loop();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
