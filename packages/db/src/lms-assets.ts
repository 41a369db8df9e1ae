// Storage of the LTI Platform Notification Service and Asset Processor (issue 15): the LMS user
// behind a notice, the one way to insert a submission (REST upload or LMS asset), the platform
// service-call outbox (asset reports, notice-handler registrations) and the notice inbox, both
// claimed by the worker with a lease under `FOR UPDATE SKIP LOCKED`.
import { createHash } from 'node:crypto';
import { gradedReport, REPORT_TYPE, type AssetReportBody } from '@kgrader/lti';
import type { Db } from './client.js';
import type { Prisma, Submission } from './generated/client.js';
import type { Tx } from './lms.js';
import { writeWebhookEvent } from './lms.js';

const ts = (d: Date): string => d.toISOString();

/** A synthetic, unique address for an LMS user whose e-mail is unknown or taken (the LMS does not prove it). */
export function syntheticLtiEmail(issuer: string, sub: string): string {
  return `lti-${createHash('sha256').update(`${issuer}\n${sub}`).digest('hex').slice(0, 20)}@${new URL(issuer).hostname}.lti.invalid`;
}

/**
 * The kgrader user of an LMS user (platform + sub), created with its identity when unknown (never
 * matched by e-mail), and their membership of `courseId` with `role` (a launch or a notice never
 * downgrades an instructor). Returns the user id and the role held.
 */
export async function ensureLtiUser(
  tx: Tx,
  u: { platformId: string; issuer: string; sub: string; name?: string | undefined; email?: string | undefined },
  courseId: string,
  role: 'student' | 'instructor',
): Promise<{ userId: string; role: 'student' | 'instructor' }> {
  const identity = await tx.ltiIdentity.findUnique({ where: { platformId_sub: { platformId: u.platformId, sub: u.sub } } });
  let userId = identity?.userId;
  if (!userId) {
    const email = u.email && !(await tx.user.findUnique({ where: { email: u.email }, select: { id: true } })) ? u.email : syntheticLtiEmail(u.issuer, u.sub);
    const user = await tx.user.create({ data: { email, name: u.name || u.sub } });
    await tx.ltiIdentity.create({ data: { platformId: u.platformId, sub: u.sub, userId: user.id } });
    userId = user.id;
  }
  const m = await tx.membership.findUnique({ where: { userId_courseId: { userId, courseId } } });
  if (!m) {
    await tx.membership.create({ data: { userId, courseId, role } });
    return { userId, role };
  }
  if (m.role === 'student' && role === 'instructor') {
    await tx.membership.update({ where: { userId_courseId: { userId, courseId } }, data: { role } });
    return { userId, role };
  }
  return { userId, role: m.role };
}

/**
 * Inserts a submission (REST upload or LMS asset) in the caller's transaction: the content-addressed
 * blobs, the row and its files, the `submission.created` webhook outbox rows and the first
 * `queued` event. The caller enqueues the grading after the commit.
 */
export async function insertSubmission(
  tx: Tx,
  s: { assignmentId: string; courseId: string; userId: string; files: readonly { name: string; content: Buffer; sha256: string }[]; sha256: string; idempotencyKey: string | null },
): Promise<Submission> {
  await tx.blob.createMany({
    data: s.files.map((f) => ({ sha256: f.sha256, size: f.content.length, content: new Uint8Array(f.content) })),
    skipDuplicates: true,
  });
  const submission = await tx.submission.create({
    data: {
      assignmentId: s.assignmentId,
      userId: s.userId,
      sha256: s.sha256,
      idempotencyKey: s.idempotencyKey,
      files: { create: s.files.map((f) => ({ name: f.name, sha256: f.sha256, size: f.content.length })) },
    },
  });
  // webhook outbox, committed with the submission (issue 5)
  await writeWebhookEvent(
    tx,
    s.courseId,
    'submission.created',
    { submissionId: submission.id, assignmentId: s.assignmentId, userId: s.userId, createdAt: submission.createdAt.toISOString() },
    submission.createdAt,
  );
  // the first event is stored with the row: a stream opened later replays it
  await tx.submissionEvent.create({ data: { submissionId: submission.id, type: 'status', status: 'queued', message: 'queued for grading', attempt: null } });
  return submission;
}

// ---- the platform service-call outbox --------------------------------------------------------

export type ServiceCallKind = 'asset_report' | 'register_handler';

/**
 * Queues a call to a platform. Pending calls of the same subject that are older are superseded
 * by it (a newer asset report replaces an unsent older one; a new registration an unsent older one).
 */
export async function queueServiceCall(
  tx: Tx,
  c: { platformId: string; kind: ServiceCallKind; method: 'POST' | 'PUT'; url: string; scope: string; body: object; subject: string; noticeId?: string | null; submissionId?: string | null },
  now: Date = new Date(),
): Promise<string> {
  await tx.ltiServiceCall.updateMany({ where: { subject: c.subject, status: 'pending' }, data: { status: 'superseded', lastError: 'superseded by a newer call of the same subject' } });
  const row = await tx.ltiServiceCall.create({
    data: {
      platformId: c.platformId,
      kind: c.kind,
      method: c.method,
      url: c.url,
      scope: c.scope,
      body: c.body as Prisma.InputJsonValue,
      subject: c.subject,
      noticeId: c.noticeId ?? null,
      submissionId: c.submissionId ?? null,
      nextAttemptAt: now,
      createdAt: now,
    },
  });
  return row.id;
}

/** The subject of the reports of one asset of one notice (they go out in order, the newest wins). */
export const reportSubject = (noticeRowId: string, assetId: string) => `report:${noticeRowId}:${assetId}`;

/** One asset as stored on the notice row. */
export interface StoredAsset {
  assetId: string;
  url: string;
  name?: string | undefined;
  size?: number | undefined;
  contentType?: string | undefined;
  sha256?: string | undefined;
}

/** Queues one report per asset of a notice row. */
export async function queueAssetReports(
  tx: Tx,
  notice: { id: string; platformId: string; reportUrl: string | null; reportScope: string | null; assets: unknown; submissionId?: string | null },
  body: (assetId: string) => AssetReportBody,
  now: Date = new Date(),
): Promise<number> {
  if (!notice.reportUrl) return 0;
  const assets = (Array.isArray(notice.assets) ? notice.assets : []) as StoredAsset[];
  for (const a of assets) {
    await queueServiceCall(
      tx,
      {
        platformId: notice.platformId,
        kind: 'asset_report',
        method: 'POST',
        url: notice.reportUrl,
        scope: notice.reportScope ?? 'https://purl.imsglobal.org/spec/lti-ap/scope/report',
        body: body(a.assetId),
        subject: reportSubject(notice.id, a.assetId),
        noticeId: notice.id,
        submissionId: notice.submissionId ?? null,
      },
      now,
    );
  }
  return assets.length;
}

/**
 * The final Asset Reports of a graded (or finally failed) submission, in the verdict's
 * transaction: one per asset of every notice the submission grades, with the score, an indicator
 * color by verdict and the link to the submission page.
 */
export async function queueGradedReports(
  tx: Tx,
  g: { submissionId: string; verdict: 'pass' | 'fail' | 'error'; score: number | null; maxScore: number | null; summary: string | null },
  now: Date = new Date(),
): Promise<number> {
  const notices = await tx.ltiNotice.findMany({ where: { submissionId: g.submissionId, status: 'submitted' }, include: { processor: { select: { title: true } } } });
  let n = 0;
  for (const notice of notices) {
    const url = `${notice.toolUrl ?? ''}/app/submissions/${g.submissionId}`;
    const title = `kgrader: ${notice.processor?.title ?? 'driver grading'}`;
    n += await queueAssetReports(tx, notice, (assetId) => gradedReport(assetId, now, { title, verdict: g.verdict, score: g.score, maxScore: g.maxScore, summary: g.summary, url }), now);
  }
  return n;
}

/**
 * Claims due service calls (pending and due, or `sending` whose lease expired), one subject at a
 * time in order (a call waits while an older one of its subject is unsent), marking them
 * `sending` with a lease. Returns their ids.
 */
export async function claimDueServiceCalls(db: Db, now: Date, limit: number, leaseMs: number): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "LtiServiceCall" c SET status = 'sending', "lockedUntil" = ${ts(new Date(now.getTime() + leaseMs))}::timestamp(3), "updatedAt" = ${ts(now)}::timestamp(3)
    WHERE c.id IN (
      SELECT q.id FROM "LtiServiceCall" q
      WHERE ((q.status = 'pending' AND q."nextAttemptAt" <= ${ts(now)}::timestamp(3))
          OR (q.status = 'sending' AND q."lockedUntil" <= ${ts(now)}::timestamp(3)))
        AND NOT EXISTS (
          SELECT 1 FROM "LtiServiceCall" o
          WHERE o.subject = q.subject AND o."createdAt" < q."createdAt" AND o.status IN ('pending', 'sending'))
      ORDER BY q."nextAttemptAt" LIMIT ${limit} FOR UPDATE OF q SKIP LOCKED)
    RETURNING c.id::text AS id`;
  return rows.map((r) => r.id);
}

/** Claims due notices of the inbox (received and due, or `processing` whose lease expired). */
export async function claimDueNotices(db: Db, now: Date, limit: number, leaseMs: number): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "LtiNotice" n SET status = 'processing', "lockedUntil" = ${ts(new Date(now.getTime() + leaseMs))}::timestamp(3), "updatedAt" = ${ts(now)}::timestamp(3)
    WHERE n.id IN (
      SELECT q.id FROM "LtiNotice" q
      WHERE (q.status = 'received' AND q."nextAttemptAt" <= ${ts(now)}::timestamp(3))
         OR (q.status = 'processing' AND q."lockedUntil" <= ${ts(now)}::timestamp(3))
      ORDER BY q."nextAttemptAt" LIMIT ${limit} FOR UPDATE OF q SKIP LOCKED)
    RETURNING n.id::text AS id`;
  return rows.map((r) => r.id);
}

export { REPORT_TYPE };
