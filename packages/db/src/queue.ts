import { Queue, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { DEFAULT_GRADING_RETRY, type GradingRetryPolicy } from '@kgrader/schemas';
import { z } from 'zod';

/**
 * The grading queue contract shared by the API (producer), the worker (consumer) and the reconciler.
 * One bullmq queue with priority lanes: live submissions (1) always dequeue before single regrades
 * (2), which dequeue before bulk regrades (100), so a regrade-all never starves students.
 */
export const GRADING_QUEUE = 'kgrader-grading';

export const JobReason = z.enum(['submit', 'regrade', 'bulk_regrade']);
export type JobReason = z.infer<typeof JobReason>;

export const GradingJobData = z.object({
  submissionId: z.string().uuid(),
  /** the submission generation this job grades; a stale job (older generation) is dropped */
  generation: z.number().int().positive(),
  reason: JobReason,
});
export type GradingJobData = z.infer<typeof GradingJobData>;

export const PRIORITY: Record<JobReason, number> = { submit: 1, regrade: 2, bulk_regrade: 100 };

/** Deterministic job id: enqueueing the same (submission, generation) twice is a no-op. */
export function gradingJobId(submissionId: string, generation: number): string {
  return `${submissionId}_g${generation}`;
}

/** Redis pub/sub channel carrying a submission's live events to SSE listeners. */
export function submissionChannel(submissionId: string): string {
  return `kgrader:submission:${submissionId}`;
}

/**
 * Redis pub/sub channel carrying the events of every submission of an assignment (the same
 * messages as `submissionChannel`): the instructors' live submissions table.
 */
export function assignmentChannel(assignmentId: string): string {
  return `kgrader:assignment:${assignmentId}`;
}

/** The one retry policy of gradings (parsed once per process from `GradingRetryEnv` of @kgrader/schemas). */
export type RetryPolicy = GradingRetryPolicy;
export const defaultRetryPolicy: RetryPolicy = DEFAULT_GRADING_RETRY;

/** ioredis connection suitable for bullmq workers (blocking commands need maxRetriesPerRequest: null). */
export function createRedis(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...opts });
}

/**
 * A connection for request paths (the API: enqueueing, publishing, SSE subscriptions) that fails
 * fast instead of queueing commands while Redis is away: no offline queue, one retry, and a reply
 * deadline, so that a request never hangs on Redis.
 */
export function createFailFastRedis(url: string, opts: RedisOptions = {}): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 2_000, enableReadyCheck: true, ...opts });
}

/** Resolves once the connection is ready (a fail-fast connection refuses commands before that). */
export async function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await withinDeadline(
    new Promise<void>((resolve) => redis.once('ready', () => resolve())),
    timeoutMs,
  );
}

export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/**
 * `p`, or a DeadlineError after `ms`. The work itself goes on (its late failure is swallowed): use
 * it for side effects that are safe to finish late or never (an idempotent enqueue, a publish).
 */
export function withinDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  p.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function createGradingQueue(connection: Redis, prefix?: string): Queue<GradingJobData> {
  return new Queue<GradingJobData>(GRADING_QUEUE, { connection, ...(prefix ? { prefix } : {}) });
}

export function gradingJobOptions(data: GradingJobData, retry: RetryPolicy = defaultRetryPolicy): JobsOptions {
  return {
    jobId: gradingJobId(data.submissionId, data.generation),
    priority: PRIORITY[data.reason],
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    removeOnComplete: { age: 3600, count: 1000 },
    removeOnFail: { age: 24 * 3600, count: 1000 },
  };
}

/**
 * Enqueues a grading job for a submission row that is already committed. Idempotent: a job with
 * the same id that is still waiting, delayed or active is left alone; a finished one is replaced.
 */
export async function enqueueGrading(
  queue: Queue<GradingJobData>,
  data: GradingJobData,
  retry: RetryPolicy = defaultRetryPolicy,
): Promise<'added' | 'exists'> {
  const opts = gradingJobOptions(data, retry);
  const existing = await queue.getJob(opts.jobId!);
  if (existing) {
    const state = await existing.getState();
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return 'exists';
    await existing.remove().catch(() => {});
  }
  await queue.add('grade', data, opts);
  return 'added';
}

/** Many jobs in one round trip (bulk regrade). */
export async function enqueueGradingBulk(
  queue: Queue<GradingJobData>,
  items: GradingJobData[],
  retry: RetryPolicy = defaultRetryPolicy,
): Promise<void> {
  for (let i = 0; i < items.length; i += 500) {
    const chunk = items.slice(i, i + 500);
    await queue.addBulk(chunk.map((data) => ({ name: 'grade', data, opts: gradingJobOptions(data, retry) })));
  }
}

// ---- solution checks of an exercise version being published (issue 12) ---------------------------

/** Job name of a solution check in the grading queue (gradings are named `grade`). */
export const CHECK_JOB = 'check';

/** One solution of a version being published, graded in the grading queue's low-priority lane. */
export const SolutionCheckJobData = z.object({ checkId: z.string().uuid() });
export type SolutionCheckJobData = z.infer<typeof SolutionCheckJobData>;

/** What travels in the grading queue: gradings of submissions (`grade`) and solution checks (`check`). */
export type QueueJobData = GradingJobData | SolutionCheckJobData;

export function solutionCheckJobId(checkId: string): string {
  return `check_${checkId}`;
}

function checkJobOptions(checkId: string, retry: RetryPolicy): JobsOptions {
  return {
    jobId: solutionCheckJobId(checkId),
    // the bulk lane: publishing an exercise never delays a student's grading
    priority: PRIORITY.bulk_regrade,
    attempts: retry.attempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    removeOnComplete: { age: 3600, count: 1000 },
    removeOnFail: { age: 24 * 3600, count: 1000 },
  };
}

/** Enqueues solution checks whose rows are committed (idempotent per check, like enqueueGrading). */
export async function enqueueSolutionChecks(queue: Queue<GradingJobData>, checkIds: string[], retry: RetryPolicy = defaultRetryPolicy): Promise<number> {
  const q = queue as unknown as Queue<SolutionCheckJobData>;
  let added = 0;
  for (const checkId of checkIds) {
    const existing = await q.getJob(solutionCheckJobId(checkId));
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') continue;
      await existing.remove().catch(() => {});
    }
    await q.add(CHECK_JOB, { checkId }, checkJobOptions(checkId, retry));
    added++;
  }
  return added;
}
