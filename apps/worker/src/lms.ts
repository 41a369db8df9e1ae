// The worker's LMS loops (issue 5), both DB-polled outboxes (nothing lost if Redis is flushed):
// - webhooks: the Standard Webhooks outbox dispatcher over PrismaOutboxStore;
// - LTI AGS passback: claims due LtiPassback rows, picks the score by the assignment's policy
//   (latest|best), publishes it with a client-credentials token, retries with backoff.
import { claimDuePassbacks, effectiveDueAt, latePolicyOf, PrismaOutboxStore, purgeExpiredLtiState, type Db } from '@kgrader/db';
import { lateness, penalized } from '@kgrader/schemas';
import { AgsClient, AgsError, gradedScore, readToolKeyFile, scoreToPublish, type ToolKey } from '@kgrader/lti';
import { guardedFetch, OutboxDispatcher } from '@kgrader/webhooks';
import type { Logger } from 'pino';
import type { GradingJobData } from '@kgrader/db';
import type { Redis } from 'ioredis';
import { PollingLoop } from '@kgrader/webhooks';
import type { ExerciseSpec } from '@kgrader/schemas';
import type { Queue } from 'bullmq';
import { DEFAULT_LTI_SERVICE_SCHEDULE_MS, DEFAULT_PASSBACK_SCHEDULE_MS, type WorkerConfig, type WorkerLmsConfig } from './config.js';
import { lmsServiceClient, NoticeDispatcher, ServiceCallDispatcher } from './lms-assets.js';

export function lmsConfigOf(config: WorkerConfig): WorkerLmsConfig {
  const l = config.lms ?? {};
  return {
    toolKeysFile: l.toolKeysFile,
    allowInsecureUrls: l.allowInsecureUrls ?? false,
    allowPrivateUrls: l.allowPrivateUrls ?? false,
    webhooks: { allowPrivate: false, timeoutMs: 10_000, pollMs: 1_000, ...l.webhooks },
    passback: { pollMs: 2_000, schedule: DEFAULT_PASSBACK_SCHEDULE_MS, agsAttempts: 3, agsBaseDelayMs: 1_000, timeoutMs: 10_000, ...l.passback },
    assets: { pollMs: 1_000, schedule: DEFAULT_LTI_SERVICE_SCHEDULE_MS, ...l.assets },
  };
}

export interface PassbackSummary {
  claimed: number;
  sent: number;
  retried: number;
  failed: number;
  skipped: number;
}

/** The AGS passback outbox. `runOnce()` is one polling round (tests call it directly). */
export class PassbackDispatcher {
  /** runOnce every interval (start/stop) */
  private readonly loop = new PollingLoop(() => this.runOnce(), (err: unknown) => this.opts.logger?.error({ err }, 'passback round failed'));
  readonly ags: AgsClient;

  constructor(
    private readonly opts: {
      db: Db;
      key: ToolKey;
      config: WorkerLmsConfig;
      logger?: Logger;
      now?: () => Date;
      batchSize?: number;
    },
  ) {
    const p = opts.config.passback;
    this.ags = new AgsClient({
      key: opts.key,
      allowInsecureUrls: opts.config.allowInsecureUrls,
      // the platform's token endpoint and line item URLs are SSRF-checked on every call
      fetch: guardedFetch({ allowPrivate: opts.config.allowPrivateUrls }),
      retry: { maxAttempts: p.agsAttempts, baseDelayMs: p.agsBaseDelayMs },
      timeoutMs: p.timeoutMs,
    });
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async runOnce(): Promise<PassbackSummary> {
    const { db, config } = this.opts;
    const sum: PassbackSummary = { claimed: 0, sent: 0, retried: 0, failed: 0, skipped: 0 };
    const leaseMs = config.passback.timeoutMs * (config.passback.agsAttempts + 2) + 60_000;
    const ids = await claimDuePassbacks(db, this.now(), this.opts.batchSize ?? 10, leaseMs);
    sum.claimed = ids.length;
    for (const id of ids) {
      const outcome = await this.one(id).catch(async (err: unknown) => {
        // a bug or the database: put it back for a later round
        this.opts.logger?.error({ err, passbackId: id }, 'passback round failed');
        await db.ltiPassback.update({ where: { id }, data: { status: 'pending', lockedUntil: null, lastError: String((err as Error)?.message ?? err).slice(0, 500), nextAttemptAt: new Date(this.now().getTime() + 60_000) } }).catch(() => {});
        return 'retried' as const;
      });
      sum[outcome]++;
    }
    return sum;
  }

  private async one(id: string): Promise<'sent' | 'retried' | 'failed' | 'skipped'> {
    const { db, config, logger } = this.opts;
    const p = await db.ltiPassback.findUnique({
      where: { id },
      include: { resourceLink: { include: { platform: true, assignment: { select: { id: true, scorePolicy: true, dueAt: true, latePolicy: true } } } }, submission: { select: { userId: true } } },
    });
    if (!p) return 'skipped';
    const link = p.resourceLink;
    const attempts = p.attempts + 1;
    const skip = async (why: string) => {
      await db.ltiPassback.update({ where: { id }, data: { status: 'skipped', attempts, lockedUntil: null, lastError: why } });
      return 'skipped' as const;
    };
    if (!link.lineitemUrl) return skip('the LMS link has no line item');
    const runs = await db.submission.findMany({
      where: { assignmentId: link.assignmentId, userId: p.submission.userId, status: 'done' },
      select: { score: true, maxScore: true, verdict: true, finishedAt: true, updatedAt: true, createdAt: true },
    });
    // the late policy applies to what the gradebook gets: each submission's score after its penalty
    // (against the student's own due date: an extension, else the assignment's)
    const policy = latePolicyOf(link.assignment);
    const due = await effectiveDueAt(db, link.assignment, p.submission.userId);
    const choice = scoreToPublish(
      link.assignment.scorePolicy,
      runs.map((r) => ({
        score: r.score === null ? null : penalized(r.score, lateness(policy, due, r.createdAt).penaltyPercent),
        maxScore: r.maxScore,
        verdict: r.verdict,
        gradedAt: r.finishedAt ?? r.updatedAt,
      })),
    );
    if (!choice) return skip('no graded submission counts yet');
    const platform = { clientId: link.platform.clientId, tokenEndpoint: link.platform.tokenEndpoint, tokenAudience: link.platform.tokenAudience ?? undefined };
    try {
      const r = await this.ags.publishScore(platform, link.lineitemUrl, gradedScore(p.ltiUserId, choice));
      await db.ltiPassback.update({
        where: { id },
        data: {
          status: 'sent',
          attempts,
          lockedUntil: null,
          scoreGiven: choice.scoreGiven,
          scoreMaximum: choice.scoreMaximum,
          sentTimestamp: choice.timestamp,
          sentAt: this.now(),
          lastStatus: r.status,
          lastError: null,
        },
      });
      logger?.info({ passbackId: id, submissionId: p.submissionId, score: choice.scoreGiven, of: choice.scoreMaximum, httpAttempts: r.attempts }, 'grade passback sent');
      return 'sent';
    } catch (e) {
      const err = e instanceof AgsError ? e : undefined;
      const message = String((e as Error)?.message ?? e).slice(0, 1000);
      const delay = config.passback.schedule[attempts - 1];
      if (err?.retryable !== false && delay !== undefined) {
        const wait = Math.max(delay, err?.retryAfterMs ?? 0);
        await db.ltiPassback.update({
          where: { id },
          data: { status: 'pending', attempts, lockedUntil: null, nextAttemptAt: new Date(this.now().getTime() + wait), lastStatus: err?.httpStatus ?? null, lastError: message },
        });
        logger?.warn({ passbackId: id, attempts, retryInMs: wait, err: message }, 'grade passback failed; will retry');
        return 'retried';
      }
      await db.ltiPassback.update({ where: { id }, data: { status: 'failed', attempts, lockedUntil: null, lastStatus: err?.httpStatus ?? null, lastError: message } });
      logger?.error({ passbackId: id, attempts, err: message }, 'grade passback failed for good');
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

export interface LmsLoops {
  webhooks: OutboxDispatcher;
  passback: PassbackDispatcher | undefined;
  /** LTI Asset Processor notice inbox (issue 15), with a tool key */
  notices: NoticeDispatcher | undefined;
  /** calls owed to platforms: asset reports, notice-handler registrations (issue 15), with a tool key */
  serviceCalls: ServiceCallDispatcher | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the webhook dispatcher and, when a tool key is configured, the passback dispatcher and
 * the Asset Processor loops (notice inbox, platform-call outbox).
 */
export async function startLmsLoops(opts: {
  db: Db;
  config: WorkerConfig;
  logger: Logger;
  autostart?: boolean;
  /** the grading queue (notices enqueue the submissions they create) */
  queue?: Queue<GradingJobData>;
  /** announces the submissions notices create to the assignment's live table */
  redis?: Redis;
  loadExercise?: (slug: string) => Promise<ExerciseSpec>;
}): Promise<LmsLoops> {
  const cfg = lmsConfigOf(opts.config);
  const { logger } = opts;
  const webhooks = new OutboxDispatcher({
    store: new PrismaOutboxStore(opts.db),
    allowPrivate: cfg.webhooks.allowPrivate,
    timeoutMs: cfg.webhooks.timeoutMs,
    ...(cfg.webhooks.schedule ? { schedule: cfg.webhooks.schedule } : {}),
    onError: (err) => logger.error({ err }, 'webhook dispatch round failed'),
  });
  let passback: PassbackDispatcher | undefined;
  let notices: NoticeDispatcher | undefined;
  let serviceCalls: ServiceCallDispatcher | undefined;
  if (cfg.toolKeysFile) {
    try {
      const [key] = await readToolKeyFile(cfg.toolKeysFile);
      passback = new PassbackDispatcher({ db: opts.db, key: key!, config: cfg, logger });
      const ags = lmsServiceClient(key!, cfg);
      serviceCalls = new ServiceCallDispatcher({ db: opts.db, ags, config: cfg, logger });
      if (opts.loadExercise) {
        notices = new NoticeDispatcher({ db: opts.db, ags, config: cfg, queue: opts.queue, redis: opts.redis, retry: opts.config.retry, loadExercise: opts.loadExercise, logger });
      }
    } catch (err) {
      logger.error({ err }, 'LTI tool key unusable: grade passbacks stay pending until it is fixed');
    }
  } else {
    logger.info('LTI_TOOL_KEYS unset: no grade passback from this worker');
  }
  let purge: NodeJS.Timeout | undefined;
  if (opts.autostart !== false) {
    if (cfg.webhooks.pollMs > 0) webhooks.start(cfg.webhooks.pollMs);
    if (passback && cfg.passback.pollMs > 0) passback.start(cfg.passback.pollMs);
    if (notices && cfg.assets.pollMs > 0) notices.start(cfg.assets.pollMs);
    if (serviceCalls && cfg.assets.pollMs > 0) serviceCalls.start(cfg.assets.pollMs);
    // expired LTI login states, nonces and session handoff codes
    purge = setInterval(() => {
      purgeExpiredLtiState(opts.db).catch((err: unknown) => logger.warn({ err }, 'LTI state purge failed'));
    }, 10 * 60_000);
    purge.unref();
  }
  return {
    webhooks,
    passback,
    notices,
    serviceCalls,
    async stop() {
      clearInterval(purge);
      await Promise.all([webhooks.stop(), passback?.stop(), notices?.stop(), serviceCalls?.stop()]);
    },
  };
}
