import { pid } from 'node:process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GradingJobData, NoPublishedVersionError, pinnedVersion, queueGradedReports, queuePassback, recordSubmissionEvent, writeWebhookEvent, type Db, type GradingRun, type Prisma, type SubmissionStatus } from '@kgrader/db';
import type { ExerciseSpec, GradeResult, Stage } from '@kgrader/schemas';
import { DelayedError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import type { Grader } from './grader.js';
import type { WorkerMetrics } from './health.js';

export interface ProcessorDeps {
  db: Db;
  redis: Redis;
  grader: Grader;
  config: WorkerConfig;
  logger: Logger;
  metrics?: WorkerMetrics;
}

/** Raised inside a job when the worker is shutting down: the job is handed back, not failed. */
export class ShutdownAbort extends Error {
  constructor() {
    super('worker shutting down');
    this.name = 'ShutdownAbort';
  }
}

/** A retryable infrastructure failure (bullmq retries with exponential backoff). */
export class InfrastructureError extends Error {
  override name = 'InfrastructureError';
}

/** Raised inside a job when another attempt took the submission over (its heartbeat found the run abandoned). */
export class TakenOverAbort extends Error {
  constructor() {
    super('another attempt took this submission over');
    this.name = 'TakenOverAbort';
  }
}

export type JobOutcome = 'graded' | 'stale' | 'missing' | 'released' | 'infrastructure-error' | 'gave-up';

/**
 * Runs of a submission generation that count against its retry cap: those that ended in an
 * infrastructure error and those whose worker died or was fenced off (abandoned), but not those
 * handed back by a graceful shutdown (released).
 */
export const failedRunsWhere = (submissionId: string, generation: number): Prisma.GradingRunWhereInput => ({
  submissionId,
  generation,
  OR: [{ status: 'error' }, { status: 'abandoned', infrastructureError: null }, { status: 'abandoned', NOT: { infrastructureError: { startsWith: RELEASED } } }],
});
const RELEASED = 'released:';

const STAGE_STATUS: Partial<Record<Stage, SubmissionStatus>> = {
  building: 'building',
  booting: 'booting',
  running: 'running',
  analyzing: 'analyzing',
};

const isStage = (s: SubmissionStatus): s is 'building' | 'booting' | 'running' | 'analyzing' =>
  s === 'building' || s === 'booting' || s === 'running' || s === 'analyzing';
const round2 = (n: number) => Math.round(n * 100) / 100;
const LOG_CAP = 256 * 1024;
const cap = (s: string | undefined | null) => (s == null ? null : s.length > LOG_CAP ? `${s.slice(0, LOG_CAP)}\n[… ${s.length - LOG_CAP} more characters cut]` : s);

/**
 * Grades one job. The database decides what happens:
 * - a job for an older generation, or for a submission already finished/cancelled, is dropped;
 * - each attempt gets its own GradingRun and becomes the submission's `currentRunId`; an earlier
 *   run left `running` (its worker was killed) is marked abandoned;
 * - only the current run may write the final verdict (fencing), so a zombie worker cannot
 *   overwrite it and exactly one final verdict is stored;
 * - verdict `error` (kgrader's infrastructure) is retried by bullmq with backoff (the one retry
 *   layer) and never becomes the student's verdict; a generation gets at most `retry.attempts`
 *   runs that fail or whose worker dies, however the job came back (bullmq retry, stalled job,
 *   reconciler), then it ends `error`, visibly, and is not tried again;
 * - while it grades, the worker refreshes the run's heartbeat; the reconciler takes over runs
 *   whose heartbeat went stale (the worker died), and a worker whose run was taken over stops.
 */
export function createProcessor(deps: ProcessorDeps, signals: { register(jobId: string, c: AbortController): () => void }) {
  const { db, redis, grader, config, logger } = deps;

  const event = (
    submissionId: string,
    type: 'status' | 'log' | 'verdict',
    status: SubmissionStatus,
    message: string,
    attempt: number | null,
    extra: { verdict?: 'pass' | 'fail' | 'error'; score?: number | null; maxScore?: number | null } = {},
  ) =>
    recordSubmissionEvent(db, redis, {
      type,
      submissionId,
      status,
      ...(isStage(status) ? { stage: status } : {}),
      message,
      attempt,
      ...extra,
    }).catch((err) =>
      logger.warn({ err, submissionId }, 'could not record event'),
    );

  const { metrics } = deps;
  const measured = async (job: Job<GradingJobData>, token?: string): Promise<JobOutcome> => {
    try {
      const outcome = await process(job, token);
      metrics?.outcome(outcome);
      return outcome;
    } catch (err) {
      metrics?.outcome(err instanceof InfrastructureError ? 'infrastructure-error' : err instanceof DelayedError || err instanceof ShutdownAbort ? 'released' : 'failed');
      throw err;
    } finally {
      metrics?.stage(String(job.id), undefined);
    }
  };
  return metrics ? measured : process;

  async function process(job: Job<GradingJobData>, token?: string): Promise<JobOutcome> {
    const data = GradingJobData.parse(job.data);
    const log = logger.child({ jobId: job.id, submissionId: data.submissionId, generation: data.generation });

    // ---- claim --------------------------------------------------------------------------------
    const claim = await db.$transaction(async (tx) => {
      // row lock: two workers holding the same job (a stalled one and its replacement) claim in turn
      const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM "Submission" WHERE id = ${data.submissionId}::uuid FOR UPDATE`;
      if (locked.length === 0) return { kind: 'missing' as const };
      const s = await tx.submission.findUniqueOrThrow({ where: { id: data.submissionId }, include: { assignment: true, files: true } });
      if (s.generation !== data.generation || s.status === 'done' || s.status === 'cancelled' || s.status === 'error') {
        return { kind: 'stale' as const, status: s.status };
      }
      await tx.gradingRun.updateMany({
        where: { submissionId: s.id, status: 'running' },
        data: { status: 'abandoned', finishedAt: new Date(), infrastructureError: 'the worker running it stopped' },
      });
      // the retry cap holds whichever way the job came back (bullmq retry, stalled job, reconciler)
      const failed = await tx.gradingRun.findMany({ where: failedRunsWhere(s.id, s.generation), orderBy: { attempt: 'desc' }, select: { infrastructureError: true } });
      if (failed.length >= config.retry.attempts) {
        const why = failed[0]?.infrastructureError ?? 'unknown infrastructure error';
        const data = giveUp(failed.length, why);
        await tx.submission.update({ where: { id: s.id }, data });
        // an LMS asset submission's reports say so too (issue 15)
        await queueGradedReports(tx, { submissionId: s.id, verdict: 'error', score: null, maxScore: null, summary: String(data.summary) });
        return { kind: 'gave-up' as const, attempts: failed.length, why };
      }
      // the exercise version the assignment pins, read from the database (never from this host's disk)
      let pinned: { versionId: string; spec: ExerciseSpec } | { missing: string };
      try {
        const p = await pinnedVersion(tx, s.assignment);
        pinned = { versionId: p.version.id, spec: p.spec };
      } catch (err) {
        if (!(err instanceof NoPublishedVersionError)) throw err;
        pinned = { missing: err.message };
      }
      const attempt = s.attemptCount + 1;
      const run = await tx.gradingRun.create({
        data: { submissionId: s.id, attempt, generation: s.generation, reason: data.reason, workerId: config.workerId, exerciseVersionId: 'versionId' in pinned ? pinned.versionId : null },
      });
      await tx.submission.update({
        where: { id: s.id },
        data: { attemptCount: attempt, currentRunId: run.id, status: 'building', startedAt: s.startedAt ?? new Date() },
      });
      return { kind: 'claimed' as const, submission: s, run, pinned };
    });
    if (claim.kind === 'missing') {
      log.warn('submission no longer exists; dropping job');
      return 'missing';
    }
    if (claim.kind === 'stale') {
      log.info({ status: claim.status }, 'stale job (finished, cancelled or regraded since); dropping');
      return 'stale';
    }
    if (claim.kind === 'gave-up') {
      log.warn({ attempts: claim.attempts, why: claim.why }, 'retry cap reached: the submission ends in error');
      await event(data.submissionId, 'verdict', 'error', `grading failed ${claim.attempts} times: ${claim.why}`, null, { verdict: 'error', score: null, maxScore: null });
      return 'gave-up';
    }
    const { submission, run, pinned } = claim;
    const fence = { id: submission.id, currentRunId: run.id };
    await event(submission.id, 'status', 'building', `grading started (attempt ${run.attempt}, ${config.workerId})`, run.attempt);

    // ---- grade --------------------------------------------------------------------------------
    const controller = new AbortController();
    const unregister = signals.register(String(job.id), controller);
    // the heartbeat: proof of life for the reconciler; finding the run abandoned means another
    // attempt took over (this worker was thought dead), so this grading stops
    const heartbeat = setInterval(() => {
      db.gradingRun
        .updateMany({ where: { id: run.id, status: 'running' }, data: { heartbeatAt: new Date() } })
        .then((r) => {
          if (r.count === 0 && !controller.signal.aborted) controller.abort(new TakenOverAbort());
        })
        .catch((err: unknown) => log.warn({ err }, 'heartbeat failed'));
    }, config.heartbeat.intervalMs);
    heartbeat.unref();
    let workDir: string | undefined;
    let result: GradeResult | undefined;
    let thrown: unknown;
    try {
      if ('missing' in pinned) throw new InfrastructureError(pinned.missing);
      const exercise = pinned.spec;
      workDir = await mkdtemp(join(tmpdir(), `kgrader-sub-${pid}-`));
      const blobs = await db.blob.findMany({ where: { sha256: { in: submission.files.map((f) => f.sha256) } } });
      const bySha = new Map(blobs.map((b) => [b.sha256, b.content]));
      for (const f of submission.files) {
        const content = bySha.get(f.sha256);
        if (!content) throw new InfrastructureError(`blob ${f.sha256} of ${f.name} is missing`);
        await writeFile(join(workDir, f.name), content);
      }
      let status: SubmissionStatus = 'building';
      let chain = Promise.resolve();
      const onProgress = (stage: Stage, message: string) => {
        const next = STAGE_STATUS[stage];
        chain = chain.then(async () => {
          if (next && next !== status) {
            status = next;
            const moved = await db.submission.updateMany({ where: fence, data: { status: next } });
            if (moved.count === 1) await event(submission.id, 'status', next, message, run.attempt);
          } else {
            await event(submission.id, 'log', status, message, run.attempt);
          }
        });
        void job.updateProgress({ stage, message }).catch(() => {});
        metrics?.stage(String(job.id), stage);
      };
      result = await grader.grade({ exercise, sourceDir: workDir, onProgress, signal: controller.signal });
      metrics?.graded(result);
      await chain;
    } catch (err) {
      thrown = err;
    } finally {
      clearInterval(heartbeat);
      unregister();
      if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => {});
    }

    if (controller.signal.aborted && controller.signal.reason instanceof TakenOverAbort) {
      log.warn('another attempt took this submission over (this worker was thought dead); dropping this one');
      return 'stale';
    }

    // ---- released on shutdown: hand the job back without spending a try ------------------------
    if (controller.signal.aborted && controller.signal.reason instanceof ShutdownAbort) {
      await db.$transaction([
        db.gradingRun.update({ where: { id: run.id }, data: { status: 'abandoned', finishedAt: new Date(), infrastructureError: `${RELEASED} worker shut down` } }),
        db.submission.updateMany({ where: fence, data: { status: 'queued' } }),
      ]);
      await event(submission.id, 'status', 'queued', 'the worker shut down; back in the queue', run.attempt);
      log.info('released job on shutdown');
      if (token) {
        await job.moveToDelayed(Date.now() + 500, token);
        throw new DelayedError();
      }
      throw new ShutdownAbort();
    }

    // ---- infrastructure error: retry with backoff, never the student's verdict -----------------
    if (thrown !== undefined || !result || result.verdict === 'error') {
      const why = thrown !== undefined ? `${(thrown as Error).message ?? thrown}` : (result?.infrastructureError ?? 'unknown infrastructure error');
      await db.gradingRun.update({
        where: { id: run.id },
        data: {
          status: 'error',
          verdict: 'error',
          finishedAt: new Date(),
          infrastructureError: why,
          summary: result?.summary ?? null,
          buildLog: cap(result?.build.log),
          consoleLog: cap(result?.console),
          ...(result ? { timings: result.timings as unknown as Prisma.InputJsonValue } : {}),
          ...environmentColumns(result),
        },
      });
      const failed = await db.gradingRun.count({ where: failedRunsWhere(submission.id, submission.generation) });
      const finalTry = failed >= config.retry.attempts;
      log.warn({ err: thrown, why, failed, attemptsMade: job.attemptsMade, finalTry }, 'infrastructure error');
      if (finalTry) {
        const moved = await db.$transaction(async (tx) => {
          const data = giveUp(failed, why);
          const m = await tx.submission.updateMany({ where: fence, data });
          if (m.count === 1) await queueGradedReports(tx, { submissionId: submission.id, verdict: 'error', score: null, maxScore: null, summary: String(data.summary) });
          return m;
        });
        if (moved.count === 1) {
          await event(submission.id, 'verdict', 'error', `grading failed after ${failed} attempts: ${why}`, run.attempt, { verdict: 'error', score: null, maxScore: null });
        }
        return 'gave-up'; // done: no bullmq retry after the cap
      }
      const moved = await db.submission.updateMany({ where: fence, data: { status: 'queued' } });
      if (moved.count === 1) await event(submission.id, 'status', 'queued', `infrastructure error (${why}); retrying`, run.attempt);
      throw new InfrastructureError(why); // bullmq retries with backoff
    }

    // ---- the verdict ----------------------------------------------------------------------------
    const r = result;
    const maxPoints = submission.assignment.maxPoints;
    const score = r.maxScore > 0 ? round2((r.score / r.maxScore) * maxPoints) : 0;
    const stored = await db.$transaction(async (tx) => {
      const moved = await tx.submission.updateMany({
        where: fence,
        data: { status: 'done', verdict: r.verdict, score, maxScore: maxPoints, summary: r.summary, finishedAt: new Date() },
      });
      if (moved.count !== 1) return false;
      await tx.gradingRun.update({
        where: { id: run.id },
        data: {
          status: 'finished',
          verdict: r.verdict,
          score: r.score,
          maxScore: r.maxScore,
          summary: r.summary,
          timings: r.timings as unknown as Prisma.InputJsonValue,
          buildLog: cap(r.build.log),
          consoleLog: cap(r.console),
          consoleTruncatedBytes: r.consoleTruncatedBytes ?? null,
          ...environmentColumns(r),
          finishedAt: new Date(),
        },
      });
      if (r.tests.length) {
        await tx.testResult.createMany({
          data: r.tests.map((t, i) => ({
            runId: run.id,
            position: i,
            name: t.name,
            status: t.status,
            points: t.points,
            maxPoints: t.maxPoints,
            output: cap(t.output) ?? '',
            durationMs: t.durationMs ?? null,
          })),
        });
      }
      if (r.findings.length) {
        await tx.finding.createMany({
          data: r.findings.map((f, i) => {
            const raw = cap(f.raw) ?? '';
            return {
              runId: run.id,
              position: i,
              kind: f.kind,
              title: f.title,
              // the whole finding (one contract from the engine to the API); raw capped like the column
              data: { ...f, raw } as unknown as Prisma.InputJsonValue,
              raw,
              test: f.test ?? null,
              count: f.count ?? 1,
            };
          }),
        });
      }
      // LMS side effects, committed with the verdict (issue 5): webhook outbox rows, grade passback
      await writeWebhookEvent(tx, submission.assignment.courseId, data.reason === 'submit' ? 'submission.graded' : 'regrade.completed', {
        submissionId: submission.id,
        assignmentId: submission.assignmentId,
        userId: submission.userId,
        verdict: r.verdict,
        score,
        maxScore: maxPoints,
        summary: r.summary,
        attempt: run.attempt,
      });
      await queuePassback(tx, submission);
      // LTI Asset Processor: the final Asset Report of each asset the submission grades (issue 15)
      await queueGradedReports(tx, { submissionId: submission.id, verdict: r.verdict, score, maxScore: maxPoints, summary: r.summary });
      return true;
    });
    if (!stored) {
      await markAbandoned(db, run, 'another attempt took over before this one finished');
      log.warn('fenced off: another attempt owns the submission now');
      return 'stale';
    }
    await event(submission.id, 'verdict', 'done', r.summary, run.attempt, { verdict: r.verdict, score, maxScore: maxPoints });
    log.info({ verdict: r.verdict, score, timings: r.timings }, 'graded');
    return 'graded';
  }
}

/** What graded a run (issue 11): the kernel's cache key, the harness build, the spec's hash. */
function environmentColumns(r: GradeResult | undefined) {
  const e = r?.environment;
  return e ? { kernelKey: e.kernelKey, harnessHash: e.harnessHash, exerciseHash: e.exerciseHash } : {};
}

/** The submission's final state once its retry cap is reached: `error`, visible, not charged (once). */
function giveUp(attempts: number, why: string): Prisma.SubmissionUpdateManyMutationInput {
  return {
    status: 'error',
    verdict: 'error',
    summary: `kgrader could not grade this submission: ${attempts} attempt${attempts === 1 ? '' : 's'} failed (last: ${why}). It is not tried again: submit again (the first submission kgrader fails to grade does not count against your limit) or ask for a regrade.`,
    finishedAt: new Date(),
  };
}

async function markAbandoned(db: Db, run: GradingRun, why: string) {
  await db.gradingRun.update({ where: { id: run.id }, data: { status: 'abandoned', finishedAt: new Date(), infrastructureError: why } });
}
