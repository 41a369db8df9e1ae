import { enqueueGrading, gradingJobId, type Db, type GradingJobData } from '@kgrader/db';
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
  /** a submission in a grading stage whose job vanished (Redis lost it) is re-enqueued after this */
  activeGraceSeconds: number;
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
  const rows = await opts.db.submission.findMany({
    where: {
      OR: [
        { status: 'queued', updatedAt: { lt: new Date(now - opts.queuedGraceSeconds * 1000) } },
        { status: { in: ['building', 'booting', 'running', 'analyzing'] }, updatedAt: { lt: new Date(now - opts.activeGraceSeconds * 1000) } },
      ],
    },
    select: { id: true, generation: true, reason: true, status: true },
    orderBy: { createdAt: 'asc' },
    take: 1000,
  });
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
  return { checked: rows.length, requeued };
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
