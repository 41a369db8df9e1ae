// The worker's LTI Asset Processor loops (issue 15), both DB-polled like the passback loop
// (nothing lost if Redis is flushed; rows claimed with a lease under FOR UPDATE SKIP LOCKED):
// - notices: each received LtiAssetProcessorSubmissionNotice is mapped to its kgrader assignment
//   (the processor attached by deep linking) and LMS user, its assets are fetched from the
//   platform's Asset Service (SSRF-checked, size-capped) and accepted by the same rule as REST
//   uploads, the submission is inserted and its grading enqueued; refusals become Failed reports;
// - service calls: asset reports and notice-handler registrations owed to platforms, sent with a
//   client-credentials token, retried on the schedule, their state visible to instructors.
import type { Redis } from 'ioredis';
import { PollingLoop } from '@kgrader/webhooks';
import {
  announceSubmission,
  claimDueNotices,
  claimDueServiceCalls,
  enqueueGrading,
  ensureLtiUser,
  insertSubmission,
  isUniqueViolation,
  queueAssetReports,
  queueGradedReports,
  type Db,
  type GradingJobData,
} from '@kgrader/db';
import {
  acceptUpload,
  checkUploadName,
  fileSetSha256,
  rawUploadCap,
  SubmissionRejected,
  UploadRejected,
  validateSubmissionFiles,
  type RawUpload,
} from '@kgrader/engine';
import { AGS_SCOPE, AgsClient, AgsError, failedReport, parseSubmissionNotice, type SubmissionNotice, type ToolKey } from '@kgrader/lti';
import type { ExerciseSpec, GradingRetryPolicy } from '@kgrader/schemas';
import { guardedFetch } from '@kgrader/webhooks';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { WorkerLmsConfig } from './config.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The HTTP client of the LMS services: SSRF-guarded (every hop), the tool key's assertions. */
export function lmsServiceClient(key: ToolKey, config: WorkerLmsConfig): AgsClient {
  return new AgsClient({
    key,
    allowInsecureUrls: config.allowInsecureUrls,
    fetch: guardedFetch({ allowPrivate: config.allowPrivateUrls }),
    retry: { maxAttempts: config.passback.agsAttempts, baseDelayMs: config.passback.agsBaseDelayMs },
    timeoutMs: config.passback.timeoutMs,
  });
}

export interface NoticeSummary {
  claimed: number;
  submitted: number;
  rejected: number;
  failed: number;
  retried: number;
}

type Outcome = 'submitted' | 'rejected' | 'failed' | 'retried';

/** A refusal that ends the notice with Failed reports (a student's file, a missing binding). */
class Refusal extends Error {
  constructor(
    readonly errorCode: 'UNSUPPORTED_ASSET_TYPE' | 'ASSET_TOO_LARGE' | 'DOWNLOAD_FAILED' | 'KGRADER_NOT_ATTACHED',
    message: string,
    readonly status: 'rejected' | 'failed' = 'rejected',
  ) {
    super(message);
  }
}

/** The notice inbox: `runOnce()` is one polling round (tests call it directly). */
export class NoticeDispatcher {
  /** runOnce every interval (start/stop) */
  private readonly loop = new PollingLoop(() => this.runOnce(), (err: unknown) => this.opts.logger?.error({ err }, 'notice round failed'));

  constructor(
    private readonly opts: {
      db: Db;
      ags: AgsClient;
      config: WorkerLmsConfig;
      /** enqueues a grading (the worker's queue); failures are left to the reconciler */
      queue?: Queue<GradingJobData> | undefined;
      /** tells the assignment's live table about each submission created (best effort) */
      redis?: Redis | undefined;
      retry?: GradingRetryPolicy | undefined;
      loadExercise: (slug: string) => Promise<ExerciseSpec>;
      logger?: Logger;
      now?: () => Date;
    },
  ) {}

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async runOnce(): Promise<NoticeSummary> {
    const { db } = this.opts;
    const sum: NoticeSummary = { claimed: 0, submitted: 0, rejected: 0, failed: 0, retried: 0 };
    const ids = await claimDueNotices(db, this.now(), 5, 5 * 60_000);
    sum.claimed = ids.length;
    for (const id of ids) {
      const outcome = await this.one(id).catch(async (err: unknown) => {
        // a bug or the database: back to the inbox for a later round
        this.opts.logger?.error({ err, noticeId: id }, 'notice processing failed');
        await db.ltiNotice
          .update({ where: { id }, data: { status: 'received', lockedUntil: null, lastError: String((err as Error)?.message ?? err).slice(0, 1000), nextAttemptAt: new Date(this.now().getTime() + 60_000) } })
          .catch(() => {});
        return 'retried' as const;
      });
      sum[outcome]++;
    }
    return sum;
  }

  private async one(id: string): Promise<Outcome> {
    const { db, config, logger } = this.opts;
    const n = await db.ltiNotice.findUnique({ where: { id }, include: { platform: true } });
    if (!n) return 'failed';
    const attempts = n.attempts + 1;
    const notice = parseSubmissionNotice(n.claims as Record<string, unknown>); // checked when it was received
    const title = 'kgrader';
    const end = async (r: Refusal): Promise<Outcome> => {
      await db.$transaction(async (tx) => {
        await tx.ltiNotice.update({ where: { id }, data: { status: r.status, attempts, lockedUntil: null, lastError: `${r.errorCode}: ${r.message}`.slice(0, 1000) } });
        await queueAssetReports(tx, n, (assetId) => failedReport(assetId, this.now(), { title, errorCode: r.errorCode, comment: r.message }), this.now());
      });
      logger?.warn({ noticeId: n.noticeId, code: r.errorCode, why: r.message }, 'asset processor notice refused');
      return r.status;
    };
    try {
      // 1. the LMS assignment's kgrader exercise: the processor attached by deep linking
      const processor = await this.processorOf(n.platformId, notice);
      if (!processor) throw new Refusal('KGRADER_NOT_ATTACHED', 'this LMS assignment has no kgrader exercise attached: attach kgrader again from the assignment settings (deep linking)');
      const exercise = await this.opts.loadExercise(processor.exerciseSlug);
      const idempotencyKey = `lti-asset:${processor.id}:${notice.submissionId ?? n.noticeId}`;
      // 2. the same LMS submission again (a platform's resubmitted notice): no second grading
      const existing = await db.submission.findFirst({ where: { assignmentId: processor.assignmentId, idempotencyKey } });
      if (existing) return this.attach(n.id, existing, attempts, processor.id);
      // 3. the assets, accepted by the rule of REST uploads
      const parts = await this.download(n.platform, notice, exercise);
      let files;
      try {
        files = acceptUpload(parts, exercise.limits);
        validateSubmissionFiles(files.map((f) => ({ name: f.name, bytes: f.content.length })), exercise);
      } catch (e) {
        if (e instanceof UploadRejected) throw new Refusal(e.statusCode === 413 ? 'ASSET_TOO_LARGE' : 'UNSUPPORTED_ASSET_TYPE', e.message);
        if (e instanceof SubmissionRejected) throw new Refusal('UNSUPPORTED_ASSET_TYPE', e.message);
        throw e;
      }
      // 4. the submission, for the LMS user, in the processor's assignment
      const course = await db.assignment.findUniqueOrThrow({ where: { id: processor.assignmentId }, select: { courseId: true } });
      let submission;
      try {
        submission = await db.$transaction(async (tx) => {
          const { userId } = await ensureLtiUser(
            tx,
            { platformId: n.platformId, issuer: n.platform.issuer, sub: notice.userId, name: notice.userName, email: notice.userEmail },
            course.courseId,
            'student',
          );
          const s = await insertSubmission(tx, { assignmentId: processor.assignmentId, courseId: course.courseId, userId, files: files!, sha256: fileSetSha256(files!), idempotencyKey });
          await tx.ltiNotice.update({
            where: { id: n.id },
            data: { status: 'submitted', attempts, lockedUntil: null, lastError: null, submissionId: s.id, processorId: processor.id },
          });
          // the score goes to the gradebook through AGS when the notice names the line item
          if (notice.ags?.lineitem && notice.ags.scopes.includes(AGS_SCOPE.score)) {
            const resourceLinkId = `asset-processor:${processor.id}`;
            await tx.ltiResourceLink.upsert({
              where: { platformId_resourceLinkId: { platformId: n.platformId, resourceLinkId } },
              create: { platformId: n.platformId, resourceLinkId, deploymentId: n.deploymentId, contextId: processor.contextId, assignmentId: processor.assignmentId, lineitemUrl: notice.ags.lineitem, agsScopes: notice.ags.scopes },
              update: { lineitemUrl: notice.ags.lineitem, agsScopes: notice.ags.scopes },
            });
          }
          return s;
        });
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        const again = await db.submission.findFirst({ where: { assignmentId: processor.assignmentId, idempotencyKey } });
        if (!again) throw e;
        return this.attach(n.id, again, attempts, processor.id);
      }
      if (this.opts.redis) {
        await announceSubmission(this.opts.redis, submission).catch((err: unknown) => logger?.warn({ err, submissionId: submission.id }, 'could not announce the submission to the live table'));
      }
      if (this.opts.queue) {
        await enqueueGrading(this.opts.queue, { submissionId: submission.id, generation: submission.generation, reason: 'submit' }, this.opts.retry).catch((err: unknown) =>
          logger?.warn({ err, submissionId: submission.id }, 'enqueue failed; the reconciler takes over'),
        );
      }
      logger?.info({ noticeId: n.noticeId, submissionId: submission.id, files: files!.map((f) => f.name) }, 'asset processor submission created');
      return 'submitted';
    } catch (e) {
      if (e instanceof Refusal) return end(e);
      if (e instanceof AgsError && e.retryable) {
        const delay = config.assets.schedule[attempts - 1];
        if (delay !== undefined) {
          await db.ltiNotice.update({
            where: { id },
            data: { status: 'received', attempts, lockedUntil: null, nextAttemptAt: new Date(this.now().getTime() + Math.max(delay, e.retryAfterMs ?? 0)), lastError: e.message.slice(0, 1000) },
          });
          logger?.warn({ noticeId: n.noticeId, attempts, err: e.message }, 'asset download failed; will retry');
          return 'retried';
        }
        return end(new Refusal('DOWNLOAD_FAILED', `the platform's Asset Service failed ${attempts} times: ${e.message}`, 'failed'));
      }
      if (e instanceof AgsError) return end(new Refusal(e.code === 'asset_too_large' ? 'ASSET_TOO_LARGE' : 'DOWNLOAD_FAILED', e.message, e.code === 'asset_too_large' ? 'rejected' : 'failed'));
      throw e;
    }
  }

  /** The notice grades an existing submission: attach it; its final report goes now when it is graded. */
  private async attach(noticeRowId: string, s: { id: string; status: string; verdict: 'pass' | 'fail' | 'error' | null; score: number | null; maxScore: number | null; summary: string | null }, attempts: number, processorId: string): Promise<Outcome> {
    await this.opts.db.$transaction(async (tx) => {
      await tx.ltiNotice.update({ where: { id: noticeRowId }, data: { status: 'submitted', attempts, lockedUntil: null, lastError: null, submissionId: s.id, processorId } });
      if ((s.status === 'done' || s.status === 'error') && s.verdict) {
        await queueGradedReports(tx, { submissionId: s.id, verdict: s.verdict, score: s.score, maxScore: s.maxScore, summary: s.summary }, this.now());
      }
    });
    return 'submitted';
  }

  /** The processor a notice is for: its custom parameter `kgrader_processor` (ours, from deep linking), else the LMS activity. */
  private async processorOf(platformId: string, notice: SubmissionNotice) {
    const byCustom = notice.custom['kgrader_processor'];
    if (byCustom && UUID.test(byCustom)) {
      const p = await this.opts.db.ltiAssetProcessor.findFirst({ where: { id: byCustom, platformId } });
      if (p) return p;
    }
    if (notice.activityId) return this.opts.db.ltiAssetProcessor.findUnique({ where: { platformId_activityId: { platformId, activityId: notice.activityId } } });
    return null;
  }

  /** Downloads the assets, refusing names and sizes the upload rule refuses before reading bytes. */
  private async download(platform: { clientId: string; tokenEndpoint: string; tokenAudience: string | null }, notice: SubmissionNotice, exercise: ExerciseSpec): Promise<RawUpload[]> {
    const cap = rawUploadCap(exercise.limits);
    const parts: RawUpload[] = [];
    for (const a of notice.assets) {
      if (!a.name) throw new Refusal('UNSUPPORTED_ASSET_TYPE', `asset ${a.assetId} is not a file (a text entry?): submit .c/.h files or one .tar.gz`);
      try {
        checkUploadName(a.name);
      } catch (e) {
        if (e instanceof UploadRejected) throw new Refusal('UNSUPPORTED_ASSET_TYPE', e.message);
        throw e;
      }
      if (a.size !== undefined && a.size > cap) throw new Refusal('ASSET_TOO_LARGE', `file "${a.name}" is ${a.size} bytes (at most ${cap})`);
      const got = await this.opts.ags.downloadAsset(
        { clientId: platform.clientId, tokenEndpoint: platform.tokenEndpoint, tokenAudience: platform.tokenAudience ?? undefined },
        [notice.assetScope],
        a.url,
        { maxBytes: cap },
      );
      parts.push({ name: a.name, content: got.bytes });
    }
    return parts;
  }

  start(intervalMs: number): void {
    this.loop.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}

export interface ServiceCallSummary {
  claimed: number;
  sent: number;
  superseded: number;
  retried: number;
  failed: number;
}

/** The outbox of calls owed to platforms: `runOnce()` is one polling round. */
export class ServiceCallDispatcher {
  /** runOnce every interval (start/stop) */
  private readonly loop = new PollingLoop(() => this.runOnce(), (err: unknown) => this.opts.logger?.error({ err }, 'platform call round failed'));

  constructor(private readonly opts: { db: Db; ags: AgsClient; config: WorkerLmsConfig; logger?: Logger; now?: () => Date }) {}

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async runOnce(): Promise<ServiceCallSummary> {
    const { db, config } = this.opts;
    const sum: ServiceCallSummary = { claimed: 0, sent: 0, superseded: 0, retried: 0, failed: 0 };
    const leaseMs = config.passback.timeoutMs * (config.passback.agsAttempts + 2) + 60_000;
    const ids = await claimDueServiceCalls(db, this.now(), 20, leaseMs);
    sum.claimed = ids.length;
    for (const id of ids) {
      const outcome = await this.one(id).catch(async (err: unknown) => {
        this.opts.logger?.error({ err, callId: id }, 'platform call failed');
        await db.ltiServiceCall
          .update({ where: { id }, data: { status: 'pending', lockedUntil: null, lastError: String((err as Error)?.message ?? err).slice(0, 1000), nextAttemptAt: new Date(this.now().getTime() + 60_000) } })
          .catch(() => {});
        return 'retried' as const;
      });
      sum[outcome]++;
    }
    return sum;
  }

  private async one(id: string): Promise<'sent' | 'superseded' | 'retried' | 'failed'> {
    const { db, config, logger } = this.opts;
    const c = await db.ltiServiceCall.findUnique({ where: { id }, include: { platform: true } });
    if (!c) return 'failed';
    const attempts = c.attempts + 1;
    const platform = { clientId: c.platform.clientId, tokenEndpoint: c.platform.tokenEndpoint, tokenAudience: c.platform.tokenAudience ?? undefined };
    try {
      const r = await this.opts.ags.serviceRequest(platform, [c.scope], { method: c.method, url: c.url, json: c.body });
      if (r.status >= 200 && r.status < 300) {
        await db.ltiServiceCall.update({ where: { id }, data: { status: 'sent', attempts, lockedUntil: null, lastStatus: r.status, lastError: null, sentAt: this.now() } });
        return 'sent';
      }
      if (r.status === 409 && c.kind === 'asset_report') {
        // the platform holds a newer report of this asset and type: this one is moot
        await db.ltiServiceCall.update({ where: { id }, data: { status: 'superseded', attempts, lockedUntil: null, lastStatus: 409, lastError: `the platform has a newer report: ${r.body.slice(0, 300)}` } });
        return 'superseded';
      }
      await db.ltiServiceCall.update({ where: { id }, data: { status: 'failed', attempts, lockedUntil: null, lastStatus: r.status, lastError: `HTTP ${r.status}: ${r.body.slice(0, 500)}` } });
      logger?.error({ callId: id, kind: c.kind, status: r.status }, 'the platform refused a call');
      return 'failed';
    } catch (e) {
      const err = e instanceof AgsError ? e : undefined;
      const message = String((e as Error)?.message ?? e).slice(0, 1000);
      const delay = config.assets.schedule[attempts - 1];
      if (err?.retryable !== false && delay !== undefined) {
        await db.ltiServiceCall.update({
          where: { id },
          data: { status: 'pending', attempts, lockedUntil: null, nextAttemptAt: new Date(this.now().getTime() + Math.max(delay, err?.retryAfterMs ?? 0)), lastStatus: err?.httpStatus ?? null, lastError: message },
        });
        logger?.warn({ callId: id, kind: c.kind, attempts, err: message }, 'platform call failed; will retry');
        return 'retried';
      }
      await db.ltiServiceCall.update({ where: { id }, data: { status: 'failed', attempts, lockedUntil: null, lastStatus: err?.httpStatus ?? null, lastError: message } });
      logger?.error({ callId: id, kind: c.kind, attempts, err: message }, 'platform call failed for good');
      return 'failed';
    }
  }

  start(intervalMs: number): void {
    this.loop.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
