import { enqueueGrading, gradingJobId, isUniqueViolation, recordSubmissionEvent, writeWebhookEvent, type Submission } from '@kgrader/db';
import {
  AssignmentIdParams,
  FindingOut,
  LogsQuery,
  Problem,
  RegradeAccepted,
  SubmissionAccepted,
  SubmissionDetail,
  SubmissionFiles,
  SubmissionIdParams,
  SubmissionLogs,
  type SourceLine,
} from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, forbidden, HttpError, notFound } from '../errors.js';
import { requireInstructor, requireUser } from '../lib/auth.js';
import { loadAssignment, loadSubmission } from '../lib/access.js';
import { passbackOut, runOut, submissionSummary } from '../lib/mappers.js';
import { regrade } from '../lib/regrade.js';
import { fileSetSha256, readUpload } from '../lib/upload.js';

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
      schema: {
        tags: ['submissions'],
        summary: 'Submit .c/.h files (multipart, field name free) or one .tar.gz; answers 202 and queues the grading',
        consumes: ['multipart/form-data'],
        params: AssignmentIdParams,
        headers: IdempotencyHeaders,
        response: { 202: SubmissionAccepted, ...errors },
      },
    },
    async (req, reply) => {
      const user = requireUser(req);
      const { assignment, role } = await loadAssignment(db, user, req.params.assignmentId);
      const exercise = await deps.catalog.get(assignment.exerciseSlug);
      if (!exercise) throw new HttpError(422, `the exercise ${assignment.exerciseSlug} of this assignment is not available`);
      const key = req.headers['idempotency-key'];

      const files = await readUpload(req, exercise);
      const problem = deps.catalog.validateFiles(files.map((f) => ({ name: f.name, bytes: f.content.length })), exercise);
      if (problem) throw new HttpError(422, problem, { type: '/problems/upload-rejected' });
      const sha256 = fileSetSha256(files);

      const replay = async (): Promise<Submission | null> => {
        if (!key) return null;
        const prev = await db.submission.findUnique({ where: { userId_idempotencyKey: { userId: user.id, idempotencyKey: key } } });
        if (prev && (prev.assignmentId !== assignment.id || prev.sha256 !== sha256)) {
          throw conflict('this Idempotency-Key was already used for a different submission', '/problems/idempotency-key-reused');
        }
        return prev;
      };
      const prev = await replay();
      if (prev) return reply.code(202).header('location', `/api/v1/submissions/${prev.id}`).send(accepted(prev, true));

      const now = new Date();
      const privileged = role === 'instructor';
      if (!privileged && assignment.opensAt && now < assignment.opensAt) {
        throw new HttpError(403, `the assignment opens at ${assignment.opensAt.toISOString()}`, { type: '/problems/assignment-closed' });
      }
      if (!privileged && assignment.dueAt && now >= assignment.dueAt) {
        throw new HttpError(403, `the assignment closed at ${assignment.dueAt.toISOString()}`, { type: '/problems/assignment-closed' });
      }

      let created: { submission: Submission; cancelled: { id: string; generation: number }[] };
      try {
        created = await db.$transaction(async (tx) => {
          // one submitter at a time per (student, assignment): the rate limit count cannot race
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`${user.id}:${assignment.id}`}))`;
          if (!privileged && assignment.rateLimitCount > 0) {
            const since = new Date(now.getTime() - assignment.rateLimitWindowSeconds * 1000);
            const recent = await tx.submission.findMany({
              // infrastructure failures never count against the student
              where: { userId: user.id, assignmentId: assignment.id, createdAt: { gt: since }, status: { not: 'error' } },
              orderBy: { createdAt: 'asc' },
              select: { createdAt: true },
            });
            if (recent.length >= assignment.rateLimitCount) {
              const oldest = recent[recent.length - assignment.rateLimitCount]!.createdAt;
              const retryAfter = Math.max(1, Math.ceil((oldest.getTime() + assignment.rateLimitWindowSeconds * 1000 - now.getTime()) / 1000));
              throw new HttpError(
                429,
                `at most ${assignment.rateLimitCount} submissions per ${assignment.rateLimitWindowSeconds} s; try again in ${retryAfter} s`,
                { type: '/problems/rate-limited', headers: { 'retry-after': String(retryAfter) } },
              );
            }
          }
          await tx.blob.createMany({
            data: files.map((f) => ({ sha256: f.sha256, size: f.content.length, content: new Uint8Array(f.content) })),
            skipDuplicates: true,
          });
          const submission = await tx.submission.create({
            data: {
              assignmentId: assignment.id,
              userId: user.id,
              sha256,
              idempotencyKey: key ?? null,
              files: { create: files.map((f) => ({ name: f.name, sha256: f.sha256, size: f.content.length })) },
            },
          });
          // webhook outbox, committed with the submission (issue 5)
          await writeWebhookEvent(tx, assignment.courseId, 'submission.created', {
            submissionId: submission.id,
            assignmentId: assignment.id,
            userId: user.id,
            createdAt: submission.createdAt.toISOString(),
          }, submission.createdAt);
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
          const again = await replay();
          if (again) return reply.code(202).header('location', `/api/v1/submissions/${again.id}`).send(accepted(again, true));
        }
        throw err;
      }

      const { submission, cancelled } = created;
      // the row is committed: if enqueueing fails now, the reconciler picks the submission up
      try {
        await enqueueGrading(deps.queue, { submissionId: submission.id, generation: submission.generation, reason: 'submit' }, deps.config.retry);
      } catch (err) {
        req.log.error({ err, submissionId: submission.id }, 'enqueue failed; the reconciler will retry');
      }
      await recordSubmissionEvent(db, deps.redis, { type: 'status', submissionId: submission.id, status: 'queued', message: 'queued for grading', attempt: null });
      for (const c of cancelled) {
        await deps.queue.remove(gradingJobId(c.id, c.generation)).catch(() => 0);
        await recordSubmissionEvent(db, deps.redis, {
          type: 'verdict',
          submissionId: c.id,
          status: 'cancelled',
          message: `superseded by a newer submission (${submission.id})`,
          attempt: null,
        });
      }
      return reply.code(202).header('location', `/api/v1/submissions/${submission.id}`).send(accepted(submission, false));
    },
  );

  app.get(
    '/submissions/:submissionId',
    { schema: { tags: ['submissions'], summary: 'Status and results (the author and course instructors)', params: SubmissionIdParams, response: { 200: SubmissionDetail, ...errors } } },
    async (req) => {
      const user = requireUser(req);
      const { submission, assignment, role } = await loadSubmission(db, user, req.params.submissionId);
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
      const hideTests =
        role === 'student' && !assignment.showTestDetailsBeforeDue && (!assignment.dueAt || new Date() < assignment.dueAt);
      return {
        ...submissionSummary({ ...submission, user: owner }, findings[0]?.title ?? null),
        files: files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256 })),
        run: current ? runOut(current) : null,
        tests: hideTests
          ? null
          : tests.map((t) => ({ name: t.name, status: t.status as 'pass', points: t.points, maxPoints: t.maxPoints, output: t.output, durationMs: t.durationMs })),
        findings: findings.map((f) =>
          FindingOut.parse({
            kind: f.kind,
            title: f.title,
            frames: f.frames,
            ...(f.stacks ? { stacks: f.stacks } : {}),
            sourceLines: f.sourceLines as SourceLine[],
            raw: f.raw,
            test: f.test,
            count: f.count,
          }),
        ),
        passback: passback ? passbackOut(passback) : null,
        runs: runs.map((r) => {
          const o = runOut(r);
          return { id: o.id, attempt: o.attempt, reason: o.reason, status: o.status, verdict: o.verdict, startedAt: o.startedAt, finishedAt: o.finishedAt };
        }),
      };
    },
  );

  app.get(
    '/submissions/:submissionId/logs',
    { schema: { tags: ['submissions'], summary: 'Build log and kernel console of a run (default: the current one)', params: SubmissionIdParams, querystring: LogsQuery, response: { 200: SubmissionLogs, ...errors } } },
    async (req) => {
      const { submission } = await loadSubmission(db, requireUser(req), req.params.submissionId);
      const run = req.query.attempt
        ? await db.gradingRun.findUnique({ where: { submissionId_attempt: { submissionId: submission.id, attempt: req.query.attempt } } })
        : submission.currentRunId
          ? await db.gradingRun.findUnique({ where: { id: submission.currentRunId } })
          : await db.gradingRun.findFirst({ where: { submissionId: submission.id }, orderBy: { attempt: 'desc' } });
      if (req.query.attempt && !run) throw notFound('attempt');
      return {
        attempt: run?.attempt ?? null,
        buildLog: run?.buildLog ?? null,
        console: run?.consoleLog ?? null,
        consoleTruncatedBytes: run?.consoleTruncatedBytes ?? null,
      };
    },
  );

  app.get(
    '/submissions/:submissionId/files',
    { schema: { tags: ['submissions'], summary: 'The submitted source files', params: SubmissionIdParams, response: { 200: SubmissionFiles, ...errors } } },
    async (req) => {
      const { submission } = await loadSubmission(db, requireUser(req), req.params.submissionId);
      const files = await db.submissionFile.findMany({ where: { submissionId: submission.id }, include: { blob: true }, orderBy: { name: 'asc' } });
      return { files: files.map((f) => ({ name: f.name, size: f.size, content: Buffer.from(f.blob.content).toString('utf8') })) };
    },
  );

  app.post(
    '/submissions/:submissionId/regrade',
    { schema: { tags: ['submissions'], summary: 'Regrade one submission (instructors)', params: SubmissionIdParams, response: { 202: RegradeAccepted, ...errors } } },
    async (req, reply) => {
      const user = requireUser(req);
      const { submission, assignment, role } = await loadSubmission(db, user, req.params.submissionId);
      if (role !== 'instructor') throw forbidden('only the course instructors may regrade');
      await requireInstructor(db, user, assignment.courseId);
      const ids = await regrade(deps, { submissionIds: [submission.id], reason: 'regrade', actorId: user.id, courseId: assignment.courseId, assignmentId: assignment.id });
      if (ids.length === 0) throw conflict(`the submission is ${submission.status}; it can be regraded once it has finished`);
      return reply.code(202).send({ enqueued: ids.length, submissionIds: ids });
    },
  );
};
