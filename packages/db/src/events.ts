import type { Redis } from 'ioredis';
import type { SubmissionStreamEvent } from '@kgrader/schemas';
import type { Db } from './client.js';
import { submissionChannel, withinDeadline } from './queue.js';

/** What travels on a submission's pub/sub channel: the stream event plus its stored row id. */
export interface PublishedEvent extends SubmissionStreamEvent {
  id: string;
}

/**
 * Stores a submission event (so late SSE listeners can replay it) and publishes it on Redis for
 * live listeners. Publishing is best effort: the stored row is the truth.
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
  });
  const out: PublishedEvent = { ...ev, id: row.id.toString(), at: row.createdAt.toISOString() };
  const publish = redis.publish(submissionChannel(ev.submissionId), JSON.stringify(out));
  await (opts.publishDeadlineMs === undefined ? publish : withinDeadline(publish, opts.publishDeadlineMs)).catch(() => 0);
  return out;
}
