// Similarity checks of an assignment (issue 12, item 6): instructors start one (or the worker does
// after the due date), list the pairs at or above the threshold, and open a pair side by side with
// its matching fragments. Instructors of the course only: students never see these results.
import type { Db } from '@kgrader/db';
import { AssignmentIdParams, Problem, SimilarityPairOut, SimilarityPairParams, SimilarityRunCreate, SimilarityRunOut, SimilarityRunParams } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, notFound } from '../errors.js';
import { allow, assignmentOf, caller } from '../lib/auth.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem };

async function sides(db: Db, ids: string[]) {
  const subs = await db.submission.findMany({ where: { id: { in: ids } }, include: { user: { select: { email: true, name: true } } } });
  return new Map(subs.map((s) => [s.id, { submissionId: s.id, userId: s.userId, userEmail: s.user.email, userName: s.user.name }]));
}

async function runOut(db: Db, runId: string): Promise<SimilarityRunOut> {
  const r = await db.similarityRun.findUniqueOrThrow({ where: { id: runId }, include: { pairs: { orderBy: [{ similarity: 'desc' }, { longest: 'desc' }] } } });
  const who = await sides(db, r.pairs.flatMap((p) => [p.leftSubmissionId, p.rightSubmissionId]));
  return {
    id: r.id,
    assignmentId: r.assignmentId,
    status: r.status,
    trigger: r.trigger,
    threshold: r.threshold,
    students: r.students,
    error: r.error,
    createdAt: r.createdAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    pairs: r.pairs
      .filter((p) => who.has(p.leftSubmissionId) && who.has(p.rightSubmissionId))
      .map((p) => ({ id: p.id, similarity: p.similarity, longest: p.longest, overlap: p.overlap, fragments: (p.fragments as unknown[]).length, left: who.get(p.leftSubmissionId)!, right: who.get(p.rightSubmissionId)! })),
  };
}

export const similarityPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  app.post(
    '/assignments/:assignmentId/similarity',
    {
      config: { access: allow.assignment('instructor', 'instructor') },
      schema: {
        tags: ['similarity'],
        summary: "Check the students' latest submissions for similarity (Dolos, starter files excluded; instructors). 202: a worker runs it; one at a time per assignment (409)",
        params: AssignmentIdParams,
        body: SimilarityRunCreate.default({ threshold: 0.6 }),
        response: { 202: SimilarityRunOut, ...errors },
      },
    },
    async (req, reply) => {
      const a = assignmentOf(req);
      const busy = await db.similarityRun.findFirst({ where: { assignmentId: a.id, status: { in: ['queued', 'running'] } } });
      if (busy) throw conflict('a similarity check of this assignment is already queued or running', '/problems/similarity-busy');
      const r = await db.similarityRun.create({ data: { assignmentId: a.id, trigger: 'manual', threshold: req.body.threshold, createdById: caller(req).user.id } });
      await db.auditEvent.create({ data: { actorId: caller(req).user.id, action: 'similarity.run', courseId: a.courseId, targetType: 'assignment', targetId: a.id, data: { runId: r.id, threshold: r.threshold } } });
      return reply.code(202).send(await runOut(db, r.id));
    },
  );

  app.get(
    '/assignments/:assignmentId/similarity',
    {
      config: { access: allow.assignment('instructor', 'read') },
      schema: { tags: ['similarity'], summary: "The assignment's similarity checks, newest first, with their pairs (instructors)", params: AssignmentIdParams, response: { 200: z.array(SimilarityRunOut), ...errors } },
    },
    async (req) => {
      const runs = await db.similarityRun.findMany({ where: { assignmentId: assignmentOf(req).id }, orderBy: { createdAt: 'desc' }, take: 10, select: { id: true } });
      return Promise.all(runs.map((r) => runOut(db, r.id)));
    },
  );

  app.get(
    '/assignments/:assignmentId/similarity/:runId',
    {
      config: { access: allow.assignment('instructor', 'read') },
      schema: { tags: ['similarity'], summary: 'One similarity check and its pairs (instructors)', params: SimilarityRunParams, response: { 200: SimilarityRunOut, ...errors } },
    },
    async (req) => {
      const r = await db.similarityRun.findFirst({ where: { id: req.params.runId, assignmentId: assignmentOf(req).id }, select: { id: true } });
      if (!r) throw notFound('similarity check');
      return runOut(db, r.id);
    },
  );

  app.get(
    '/assignments/:assignmentId/similarity/:runId/pairs/:pairId',
    {
      config: { access: allow.assignment('instructor', 'read') },
      schema: { tags: ['similarity'], summary: "One pair side by side: both students' files and the matching fragments (instructors)", params: SimilarityPairParams, response: { 200: SimilarityPairOut, ...errors } },
    },
    async (req) => {
      const p = await db.similarityPair.findFirst({ where: { id: req.params.pairId, runId: req.params.runId, run: { assignmentId: assignmentOf(req).id } } });
      if (!p) throw notFound('pair');
      const who = await sides(db, [p.leftSubmissionId, p.rightSubmissionId]);
      const files = async (submissionId: string) =>
        (await db.submissionFile.findMany({ where: { submissionId }, include: { blob: true }, orderBy: { name: 'asc' } })).map((f) => ({ name: f.name, content: Buffer.from(f.blob.content).toString('utf8') }));
      const left = who.get(p.leftSubmissionId);
      const right = who.get(p.rightSubmissionId);
      if (!left || !right) throw notFound('pair');
      return {
        id: p.id,
        runId: p.runId,
        similarity: p.similarity,
        longest: p.longest,
        overlap: p.overlap,
        left: { ...left, files: await files(p.leftSubmissionId) },
        right: { ...right, files: await files(p.rightSubmissionId) },
        fragments: p.fragments as SimilarityPairOut['fragments'],
      };
    },
  );
};
