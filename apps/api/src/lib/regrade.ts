import { enqueueGrading, enqueueGradingBulk, recordSubmissionEvent, withinDeadline, type RunReason } from '@kgrader/db';
import type { ApiDeps } from '../deps.js';

/**
 * Puts submissions back in the queue: bumps their generation (so an older job still in flight
 * cannot write over the new result), commits, then enqueues. Submissions still being graded for
 * their current generation are left alone. Redis is best effort after the commit (a deadline per
 * step): when it is down the rows stay queued and the reconciler enqueues them.
 */
export async function regrade(
  deps: ApiDeps,
  opts: { submissionIds: string[]; reason: Extract<RunReason, 'regrade' | 'bulk_regrade'>; actorId: string; courseId: string; assignmentId: string },
): Promise<string[]> {
  const { db } = deps;
  const updated = await db.$transaction(async (tx) => {
    const rows = await tx.submission.findMany({
      where: { id: { in: opts.submissionIds }, status: { in: ['done', 'error', 'cancelled'] } },
      select: { id: true },
    });
    const ids = rows.map((r) => r.id);
    if (ids.length === 0) return [];
    await tx.submission.updateMany({
      where: { id: { in: ids } },
      data: { status: 'queued', generation: { increment: 1 }, reason: opts.reason, currentRunId: null },
    });
    await tx.auditEvent.create({
      data: {
        actorId: opts.actorId,
        action: opts.reason === 'bulk_regrade' ? 'assignment.regrade_all' : 'submission.regrade',
        courseId: opts.courseId,
        targetType: opts.reason === 'bulk_regrade' ? 'assignment' : 'submission',
        targetId: opts.reason === 'bulk_regrade' ? opts.assignmentId : ids[0]!,
        data: { submissions: ids.length },
      },
    });
    return tx.submission.findMany({ where: { id: { in: ids } }, select: { id: true, generation: true } });
  });
  const jobs = updated.map((s) => ({ submissionId: s.id, generation: s.generation, reason: opts.reason }));
  const ms = deps.config.redisDeadlineMs;
  const enqueue: Promise<unknown> =
    opts.reason === 'bulk_regrade' ? enqueueGradingBulk(deps.queue, jobs, deps.config.retry) : Promise.all(jobs.map((j) => enqueueGrading(deps.queue, j, deps.config.retry)));
  await withinDeadline(enqueue, ms).catch(() => {}); // the reconciler enqueues what did not make it
  for (const s of updated) {
    await recordSubmissionEvent(db, deps.redis, {
      type: 'status',
      submissionId: s.id,
      status: 'queued',
      message: opts.reason === 'bulk_regrade' ? 'queued for regrading (bulk, low priority)' : 'queued for regrading',
      attempt: null,
    }, { publishDeadlineMs: ms });
  }
  return updated.map((s) => s.id);
}
