import { announceSubmission, effectiveDueAt, enqueueGrading, gradingJobId, insertSubmission, isUniqueViolation, latePolicyOf, NoPublishedVersionError, pinnedVersion, recordSubmissionEvent, withinDeadline, writeWebhookEvent, type Submission } from '@kgrader/db';
import {
  AssignmentIdParams,
  LogsQuery,
  Problem,
  RegradeAccepted,
  SubmissionAccepted,
  SubmissionDetail,
  SubmissionFileParams,
  SubmissionFiles,
  SubmissionIdParams,
  SubmissionLogs,
  lateness,
  penalized,
  sourceLinesOf,
} from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { allow, assignmentOf, caller, callerRole, submissionOf } from '../lib/auth.js';
import { findingOut, passbackOut, runOut, storedFinding, submissionSummary } from '../lib/mappers.js';
import { regrade } from '../lib/regrade.js';
import { redactor, studentConsole, studentSummary, viewOf } from '../lib/visibility.js';
import { fileSetSha256, readUpload } from '../lib/upload.js';

/** the text of bytes that are valid UTF-8, else null */
function utf8Text(bytes: Buffer): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 413: Problem, 415: Problem, 422: Problem, 429: Problem };

const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
    .optional()
    .describe('same key, same submission: a retried request does not submit twice'),
});

/** Submitting, reading results and logs, regrading one submission. */
export const submissionsPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  const accepted = (s: Submission, replayed: boolean) => ({
    id: s.id,
    status: s.status,
    statusUrl: `${deps.config.publicUrl}/api/v1/submissions/${s.id}`,
    eventsUrl: `${deps.config.publicUrl}/api/v1/submissions/${s.id}/events`,
    replayed,
  });

  app.post(
    '/assignments/:assignmentId/submissions',
    {
      config: { access: allow.assignment('member', 'submit') },
      schema: {
        tags: ['submissions'],
        summary: 'Submit .c/.h files (multipart, field name free) or one .tar.gz; answers 202 and queues the grading',
        description:
          'Without Idempotency-Key, files identical to your latest submission to this assignment made in the last ' +
          'minutes (not ended in error, not cancelled) are taken as a retry of it: 202 with `replayed: true`, nothing new stored or counted.',
        consumes: ['multipart/form-data'],
        params: AssignmentIdParams,
        headers: IdempotencyHeaders,
        response: { 202: SubmissionAccepted, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const assignment = assignmentOf(req);
      const privileged = callerRole(req) === 'instructor';
      // the limits of the exercise version the assignment pins (the one the worker grades against)
      const exercise = await pinnedVersion(db, assignment).then(
        (p) => p.spec,
        (err: Error) => {
          if (err instanceof NoPublishedVersionError) throw new HttpError(422, `the exercise ${assignment.exerciseSlug} of this assignment is not available`);
          throw err;
        },
      );
      const key = req.headers['idempotency-key'];

      const files = await readUpload(req, exercise);
      const problem = deps.catalog.validateFiles(files.map((f) => ({ name: f.name, bytes: f.content.length })), exercise);
      if (problem) throw new HttpError(422, problem, { type: '/problems/upload-rejected' });
      const sha256 = fileSetSha256(files);
      const replayed = (prev: Submission) => reply.code(202).header('location', `/api/v1/submissions/${prev.id}`).send(accepted(prev, true));

      const keyReplay = async (): Promise<Submission | null> => {
        if (!key) return null;
        const prev = await db.submission.findUnique({ where: { userId_idempotencyKey: { userId: user.id, idempotencyKey: key } } });
        if (prev && (prev.assignmentId !== assignment.id || prev.sha256 !== sha256)) {
          throw conflict('this Idempotency-Key was already used for a different submission', '/problems/idempotency-key-reused');
        }
        return prev;
      };
      const prev = await keyReplay();
      if (prev) return replayed(prev);

      const now = new Date();
      let created: { submission: Submission; cancelled: { id: string; generation: number }[] } | { replay: Submission };
      try {
        created = await db.$transaction(async (tx) => {
          // one submitter at a time per (student, assignment): the duplicate check and the rate limit cannot race
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`${user.id}:${assignment.id}`}))`;
          if (!key) {
            // a retry without Idempotency-Key (the answer was lost after the commit) is the same
            // files again: answer the submission it already made instead of grading twice
            const last = await tx.submission.findFirst({ where: { userId: user.id, assignmentId: assignment.id }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
            if (
              last &&
              last.sha256 === sha256 &&
              last.status !== 'error' &&
              last.status !== 'cancelled' &&
              now.getTime() - last.createdAt.getTime() < deps.config.duplicateWindowSeconds * 1000
            ) {
              return { replay: last };
            }
          }
          if (!privileged && assignment.opensAt && now < assignment.opensAt) {
            throw new HttpError(403, `the assignment opens at ${assignment.opensAt.toISOString()}`, { type: '/problems/assignment-closed' });
          }
          if (!privileged) {
            // the student's own due date (an extension) under the assignment's late policy
            const due = await effectiveDueAt(tx, assignment, user.id);
            const policy = latePolicyOf(assignment);
            if (!lateness(policy, due, now).accepted) {
              const until = policy.kind === 'penalty' && due ? new Date(due.getTime() + policy.cutoffHours * 3_600_000) : due;
              throw new HttpError(403, `the assignment closed at ${until!.toISOString()}${policy.kind === 'penalty' ? ' (late submissions included)' : ''}`, { type: '/problems/assignment-closed' });
            }
          }
          if (!privileged && assignment.rateLimitCount > 0) {
            const since = new Date(now.getTime() - assignment.rateLimitWindowSeconds * 1000);
            const recent = await tx.submission.findMany({
              where: { userId: user.id, assignmentId: assignment.id, createdAt: { gt: since } },
              orderBy: { createdAt: 'asc' },
              select: { createdAt: true, status: true },
            });
            // a submission that ended in error (kgrader could not grade it) is free once per
            // window; every later one counts, so that a submission which makes grading fail on
            // purpose cannot be sent again without limit
            const firstError = recent.findIndex((r) => r.status === 'error');
            const counted = recent.filter((_, i) => i !== firstError);
            if (counted.length >= assignment.rateLimitCount) {
              const oldest = counted[counted.length - assignment.rateLimitCount]!.createdAt;
              const retryAfter = Math.max(1, Math.ceil((oldest.getTime() + assignment.rateLimitWindowSeconds * 1000 - now.getTime()) / 1000));
              throw new HttpError(
                429,
                `at most ${assignment.rateLimitCount} submissions per ${assignment.rateLimitWindowSeconds} s; try again in ${retryAfter} s`,
                { type: '/problems/rate-limited', headers: { 'retry-after': String(retryAfter) } },
              );
            }
          }
          const submission = await insertSubmission(tx, { assignmentId: assignment.id, courseId: assignment.courseId, userId: user.id, files, sha256, idempotencyKey: key ?? null });
          let cancelled: { id: string; generation: number }[] = [];
          if (assignment.supersedeQueued) {
            cancelled = await tx.submission.findMany({
              where: { userId: user.id, assignmentId: assignment.id, status: 'queued', id: { not: submission.id }, createdAt: { lte: submission.createdAt } },
              select: { id: true, generation: true },
            });
            if (cancelled.length) {
              await tx.submission.updateMany({
                where: { id: { in: cancelled.map((c) => c.id) }, status: 'queued' },
                data: { status: 'cancelled', finishedAt: now, summary: `superseded by submission ${submission.id}` },
              });
            }
          }
          return { submission, cancelled };
        });
      } catch (err) {
        if (key && isUniqueViolation(err)) {
          const again = await keyReplay();
          if (again) return replayed(again);
        }
        throw err;
      }
      if ('replay' in created) return replayed(created.replay);

      const { submission, cancelled } = created;
      // The row is committed: from here on Redis is best effort within a deadline. When it is down
      // or slow the answer is still 202 at once, and the reconciler enqueues the queued row later.
      const quick = (what: string, p: Promise<unknown>) =>
        withinDeadline(p, deps.config.redisDeadlineMs).catch((err: unknown) =>
          req.log.warn({ err, submissionId: submission.id }, `${what} failed or is late; the reconciler takes over`),
        );
      await Promise.all([
        quick('enqueue', enqueueGrading(deps.queue, { submissionId: submission.id, generation: submission.generation, reason: 'submit' }, deps.config.retry)),
        // the instructors' live table: its first event was stored in the transaction, never published
        quick('announcing it to the live table', announceSubmission(deps.redis, submission)),
      ]);
      for (const c of cancelled) {
        await quick('removing a superseded job', deps.queue.remove(gradingJobId(c.id, c.generation)));
        await recordSubmissionEvent(db, deps.redis, {
          type: 'verdict',
          submissionId: c.id,
          status: 'cancelled',
          message: `superseded by a newer submission (${submission.id})`,
          attempt: null,
        }, { publishDeadlineMs: deps.config.redisDeadlineMs });
      }
      return reply.code(202).header('location', `/api/v1/submissions/${submission.id}`).send(accepted(submission, false));
    },
  );

  app.get(
    '/submissions/:submissionId',
    {
      config: { access: allow.submission('author-or-instructor', 'read') },
      schema: { tags: ['submissions'], summary: 'Status and results (the author and course instructors)', params: SubmissionIdParams, response: { 200: SubmissionDetail, ...errors } },
    },
    async (req) => {
      const submission = submissionOf(req);
      const assignment = assignmentOf(req);
      const role = callerRole(req);
      const [files, runs, owner, passback] = await Promise.all([
        db.submissionFile.findMany({ where: { submissionId: submission.id }, orderBy: { name: 'asc' } }),
        db.gradingRun.findMany({ where: { submissionId: submission.id }, orderBy: { attempt: 'asc' } }),
        db.user.findUnique({ where: { id: submission.userId }, select: { email: true, name: true } }),
        db.ltiPassback.findUnique({ where: { submissionId: submission.id } }),
      ]);
      const current = submission.currentRunId ? runs.find((r) => r.id === submission.currentRunId) : runs[runs.length - 1];
      const [tests, findings] = current
        ? await Promise.all([
            db.testResult.findMany({ where: { runId: current.id }, orderBy: { position: 'asc' } }),
            db.finding.findMany({ where: { runId: current.id }, orderBy: { position: 'asc' } }),
          ])
        : [[], []];
      // what a student may see of the tests (per-test visibility); instructors see everything
      const view = await viewOf(db, assignment, role, submission.userId);
      const redact = redactor(view);
      const withheld = view.hidden.size > 0;
      const stored = findings.map(storedFinding);
      const summary = studentSummary(submission.summary, view, tests, stored.map((f) => ({ title: f.title, sourceLines: sourceLinesOf(f) })));
      const l = lateness(latePolicyOf(assignment), await effectiveDueAt(db, assignment, submission.userId), submission.createdAt);
      const visibleScore = withheld ? null : submission.score;
      return {
        ...submissionSummary({ ...submission, user: owner }, findings[0] ? redact(findings[0].title) : null),
        ...(withheld ? { verdict: null, score: null, maxScore: null, summary, hiddenTests: view.hidden.size } : {}),
        ...(l.lateSeconds > 0 ? { late: { lateSeconds: l.lateSeconds, penaltyPercent: l.penaltyPercent, finalScore: visibleScore === null ? null : penalized(visibleScore, l.penaltyPercent) } } : {}),
        files: files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256 })),
        run: current
          ? withheld
            ? { ...runOut(current), verdict: null, score: null, maxScore: null, summary: current.summary === null ? null : summary }
            : runOut(current)
          : null,
        tests: tests
          .filter((t) => !view.hidden.has(t.name))
          .map((t) => ({ name: t.name, status: t.status as 'pass', points: t.points, maxPoints: t.maxPoints, output: redact(t.output), durationMs: t.durationMs })),
        findings: stored.map((f) => findingOut(f, view, redact)),
        passback: passback ? passbackOut(passback) : null,
        runs: runs.map((r) => {
          const o = runOut(r);
          return { id: o.id, attempt: o.attempt, reason: o.reason, status: o.status, verdict: withheld ? null : o.verdict, startedAt: o.startedAt, finishedAt: o.finishedAt };
        }),
      };
    },
  );

  app.get(
    '/submissions/:submissionId/logs',
    {
      config: { access: allow.submission('author-or-instructor', 'read') },
      schema: { tags: ['submissions'], summary: 'Build log and kernel console of a run (default: the current one)', params: SubmissionIdParams, querystring: LogsQuery, response: { 200: SubmissionLogs, ...errors } },
    },
    async (req) => {
      const submission = submissionOf(req);
      const run = req.query.attempt
        ? await db.gradingRun.findUnique({ where: { submissionId_attempt: { submissionId: submission.id, attempt: req.query.attempt } } })
        : submission.currentRunId
          ? await db.gradingRun.findUnique({ where: { id: submission.currentRunId } })
          : await db.gradingRun.findFirst({ where: { submissionId: submission.id }, orderBy: { attempt: 'desc' } });
      if (req.query.attempt && !run) throw notFound('attempt');
      const view = await viewOf(db, assignmentOf(req), callerRole(req), submission.userId);
      return {
        attempt: run?.attempt ?? null,
        buildLog: run?.buildLog ?? null,
        // a hidden test's marker lines are not the student's to read
        console: run?.consoleLog == null ? null : studentConsole(run.consoleLog, view),
        consoleTruncatedBytes: run?.consoleTruncatedBytes ?? null,
      };
    },
  );

  app.get(
    '/submissions/:submissionId/files',
    {
      config: { access: allow.submission('author-or-instructor', 'read') },
      schema: {
        tags: ['submissions'],
        summary: 'The submitted source files: UTF-8 text as is, any other bytes base64 (`encoding`); the exact bytes of one file at /files/:name',
        params: SubmissionIdParams,
        response: { 200: SubmissionFiles, ...errors },
      },
    },
    async (req) => {
      const files = await db.submissionFile.findMany({ where: { submissionId: submissionOf(req).id }, include: { blob: true }, orderBy: { name: 'asc' } });
      return {
        files: files.map((f) => {
          const bytes = Buffer.from(f.blob.content);
          const text = utf8Text(bytes);
          return text === null
            ? { name: f.name, size: f.size, encoding: 'base64' as const, content: bytes.toString('base64') }
            : { name: f.name, size: f.size, encoding: 'utf-8' as const, content: text };
        }),
      };
    },
  );

  app.get(
    '/submissions/:submissionId/files/:name',
    {
      config: { access: allow.submission('author-or-instructor', 'read') },
      schema: {
        tags: ['submissions'],
        summary: 'One submitted file, byte for byte: text/plain; charset=utf-8 when it is UTF-8, application/octet-stream otherwise',
        params: SubmissionFileParams,
        produces: ['text/plain', 'application/octet-stream'],
      },
    },
    async (req, reply) => {
      const f = await db.submissionFile.findUnique({ where: { submissionId_name: { submissionId: submissionOf(req).id, name: req.params.name } }, include: { blob: true } });
      if (!f) throw notFound('file');
      const bytes = Buffer.from(f.blob.content);
      const text = utf8Text(bytes) !== null;
      return reply
        .type(text ? 'text/plain; charset=utf-8' : 'application/octet-stream')
        .header('x-content-type-options', 'nosniff')
        .header('content-disposition', `${text ? 'inline' : 'attachment'}; filename="${f.name}"`)
        .header('cache-control', 'private, no-cache')
        .send(bytes);
    },
  );

  app.post(
    '/submissions/:submissionId/regrade',
    {
      config: { access: allow.submission('instructor', 'instructor') },
      schema: { tags: ['submissions'], summary: 'Regrade one submission (instructors)', params: SubmissionIdParams, response: { 202: RegradeAccepted, ...errors } },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const submission = submissionOf(req);
      const assignment = assignmentOf(req);
      const ids = await regrade(deps, { submissionIds: [submission.id], reason: 'regrade', actorId: user.id, courseId: assignment.courseId, assignmentId: assignment.id });
      if (ids.length === 0) throw conflict(`the submission is ${submission.status}; it can be regraded once it has finished`);
      return reply.code(202).send({ enqueued: ids.length, submissionIds: ids });
    },
  );
};
