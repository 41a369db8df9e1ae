import type { Redis } from 'ioredis';
import type { SubmissionStreamEvent } from '@kgrader/schemas';
import type { Db } from './client.js';
import { assignmentChannel, submissionChannel, withinDeadline } from './queue.js';

/** What travels on a submission's pub/sub channel: the stream event plus its stored row id. */
export interface PublishedEvent extends SubmissionStreamEvent {
  id: string;
}

/**
 * Stores a submission event (so late SSE listeners can replay it) and publishes it on Redis for
 * live listeners, on the submission's channel and on its assignment's (the instructors' live
 * table). Publishing is best effort: the stored row is the truth.
 */
export async function recordSubmissionEvent(
  db: Db,
  redis: Redis,
  ev: Omit<SubmissionStreamEvent, 'at'>,
  opts: { /** give up publishing after this long (Redis down or slow); default: wait */ publishDeadlineMs?: number } = {},
): Promise<PublishedEvent> {
  const row = await db.submissionEvent.create({
    data: {
      submissionId: ev.submissionId,
      type: ev.type,
      status: ev.status,
      message: ev.message,
      attempt: ev.attempt,
    },
    select: { id: true, createdAt: true, submission: { select: { assignmentId: true } } },
  });
  const out: PublishedEvent = { ...ev, id: row.id.toString(), at: row.createdAt.toISOString() };
  const message = JSON.stringify(out);
  const publish = Promise.all([redis.publish(submissionChannel(ev.submissionId), message), redis.publish(assignmentChannel(row.submission.assignmentId), message)]);
  await (opts.publishDeadlineMs === undefined ? publish : withinDeadline(publish, opts.publishDeadlineMs)).catch(() => 0);
  return out;
}

/**
 * Tells the assignment's live table (its pub/sub channel) about a new submission, whose first
 * event (`queued`) was stored in the submission's own transaction and so was never published.
 * Only the assignment channel gets it: nobody can watch the submission's own yet. Best effort.
 */
export async function announceSubmission(redis: Redis, s: { id: string; assignmentId: string; createdAt: Date }): Promise<void> {
  const ev: PublishedEvent = { id: '0', type: 'status', submissionId: s.id, status: 'queued', message: 'queued for grading', attempt: null, at: s.createdAt.toISOString() };
  await redis.publish(assignmentChannel(s.assignmentId), JSON.stringify(ev));
}
