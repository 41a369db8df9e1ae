// Moving an assignment to another exercise version (issue 12): the assignment pins the new version,
// every student's latest submission is regraded in the low-priority lane, and the verdicts before
// are kept to compare with the verdicts after.
import type { Db } from '@kgrader/db';
import { AssignmentIdParams, Problem, VersionMoveCreate, VersionMoveOut, VersionMoveParams } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { allow, assignmentOf, caller } from '../lib/auth.js';
import { regrade } from '../lib/regrade.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem };

async function moveOut(db: Db, moveId: string): Promise<VersionMoveOut> {
  const m = await db.versionMove.findUniqueOrThrow({ where: { id: moveId }, include: { items: true } });
  const [from, to] = await Promise.all([
    m.fromVersionId ? db.exerciseVersion.findUnique({ where: { id: m.fromVersionId }, select: { version: true } }) : null,
    db.exerciseVersion.findUniqueOrThrow({ where: { id: m.toVersionId }, select: { version: true } }),
  ]);
  const subs = await db.submission.findMany({
    where: { id: { in: m.items.map((i) => i.submissionId) } },
    include: { user: { select: { email: true } } },
  });
  const runIds = subs.map((s) => s.currentRunId).filter((x): x is string => !!x);
  const runs = new Map((await db.gradingRun.findMany({ where: { id: { in: runIds } }, select: { id: true, exerciseVersionId: true } })).map((r) => [r.id, r]));
  const byId = new Map(subs.map((s) => [s.id, s]));
  let done = 0;
  const rows = m.items.map((i) => {
    const s = byId.get(i.submissionId);
    // "after" counts only once the submission was graded against the version moved to
    const regraded = !!s && (s.status === 'done' || s.status === 'error') && !!s.currentRunId && runs.get(s.currentRunId)?.exerciseVersionId === m.toVersionId;
    if (regraded) done++;
    return {
      submissionId: i.submissionId,
      userId: i.userId,
      userEmail: s?.user.email ?? '',
      before: { verdict: i.beforeVerdict, score: i.beforeScore },
      after: regraded && s ? { status: s.status, verdict: s.verdict, score: s.score } : null,
      changed: regraded && s ? s.verdict !== i.beforeVerdict || s.score !== i.beforeScore : null,
    };
  });
  rows.sort((a, b) => a.userEmail.localeCompare(b.userEmail));
  return { id: m.id, assignmentId: m.assignmentId, fromVersion: from?.version ?? null, toVersion: to.version, createdAt: m.createdAt.toISOString(), done, total: rows.length, rows };
}

export const versionMovesPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  app.post(
    '/assignments/:assignmentId/exercise-version',
    {
      config: { access: allow.assignment('instructor', 'instructor') },
      schema: {
        tags: ['assignments'],
        summary:
          "Move the assignment to another published version of its exercise (instructors): new submissions grade against it at once, every student's latest submission is regraded in the low-priority lane, and the move keeps the verdicts before to compare",
        params: AssignmentIdParams,
        body: VersionMoveCreate,
        response: { 202: VersionMoveOut, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const a = assignmentOf(req);
      const exercise = await db.exercise.findUnique({ where: { slug: a.exerciseSlug } });
      if (!exercise) throw new HttpError(422, `the exercise ${a.exerciseSlug} is not in the database`);
      const target = await db.exerciseVersion.findUnique({ where: { exerciseId_version: { exerciseId: exercise.id, version: req.body.version } } });
      if (!target || target.status !== 'published') {
        throw new HttpError(422, `version ${req.body.version} of ${a.exerciseSlug} is not published`, { type: '/problems/exercise-version-unavailable' });
      }
      const move = await db.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT id FROM "Assignment" WHERE id = ${a.id}::uuid FOR UPDATE`;
        const cur = await tx.assignment.findUniqueOrThrow({ where: { id: a.id } });
        if (cur.exerciseVersionId === target.id) throw conflict(`the assignment already grades against version ${target.version}`, '/problems/exercise-version-unchanged');
        await tx.assignment.update({ where: { id: a.id }, data: { exerciseVersionId: target.id } });
        const latest = await tx.$queryRaw<{ id: string; userId: string; verdict: 'pass' | 'fail' | 'error' | null; score: number | null; status: string }[]>`
          SELECT DISTINCT ON ("userId") id::text AS id, "userId"::text AS "userId", verdict::text AS verdict, score, status::text AS status
          FROM "Submission" WHERE "assignmentId" = ${a.id}::uuid AND status <> 'cancelled'
          ORDER BY "userId", "createdAt" DESC, id DESC`;
        const move = await tx.versionMove.create({
          data: {
            assignmentId: a.id,
            fromVersionId: cur.exerciseVersionId,
            toVersionId: target.id,
            actorId: user.id,
            items: {
              create: latest.map((s) => ({ submissionId: s.id, userId: s.userId, beforeVerdict: s.verdict, beforeScore: s.score, beforeStatus: s.status as 'done' })),
            },
          },
          include: { items: true },
        });
        await tx.auditEvent.create({
          data: { actorId: user.id, action: 'assignment.version_move', courseId: a.courseId, targetType: 'assignment', targetId: a.id, data: { from: cur.exerciseVersionId, to: target.id, version: target.version, submissions: latest.length } },
        });
        return move;
      });
      await regrade(deps, { submissionIds: move.items.map((i) => i.submissionId), reason: 'bulk_regrade', actorId: user.id, courseId: a.courseId, assignmentId: a.id });
      return reply.code(202).send(await moveOut(db, move.id));
    },
  );

  app.get(
    '/assignments/:assignmentId/version-moves',
    {
      config: { access: allow.assignment('instructor', 'read') },
      schema: { tags: ['assignments'], summary: "The assignment's version moves, newest first, with the verdicts before and after (instructors)", params: AssignmentIdParams, response: { 200: z.array(VersionMoveOut), ...errors } },
    },
    async (req) => {
      const moves = await db.versionMove.findMany({ where: { assignmentId: assignmentOf(req).id }, orderBy: { createdAt: 'desc' }, select: { id: true } });
      return Promise.all(moves.map((m) => moveOut(db, m.id)));
    },
  );

  app.get(
    '/assignments/:assignmentId/version-moves/:moveId',
    {
      config: { access: allow.assignment('instructor', 'read') },
      schema: { tags: ['assignments'], summary: 'One version move: each student\'s verdict before and after (instructors)', params: VersionMoveParams, response: { 200: VersionMoveOut, ...errors } },
    },
    async (req) => {
      const m = await db.versionMove.findFirst({ where: { id: req.params.moveId, assignmentId: assignmentOf(req).id }, select: { id: true } });
      if (!m) throw notFound('version move');
      return moveOut(db, m.id);
    },
  );
};
