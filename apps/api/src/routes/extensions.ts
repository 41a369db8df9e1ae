// Per-student extensions (issue 12, item 5): a student's own due date for an assignment. Their
// submissions are judged late (and penalized, or refused) against it, and tests shown "after the
// due date" stay hidden from them until it has passed.
import { requeuePassbacks, type Extension, type User } from '@kgrader/db';
import { AssignmentIdParams, ExtensionOut, ExtensionParams, ExtensionPut, Problem } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { HttpError, notFound } from '../errors.js';
import { allow, assignmentOf, caller } from '../lib/auth.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem };
const out = (e: Extension & { user: Pick<User, 'email'> }): ExtensionOut => ({
  assignmentId: e.assignmentId,
  userId: e.userId,
  userEmail: e.user.email,
  dueAt: e.dueAt.toISOString(),
  reason: e.reason,
  grantedById: e.grantedById,
  createdAt: e.createdAt.toISOString(),
});

export const extensionsPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;
  const withUser = { user: { select: { email: true } } } as const;

  app.get(
    '/assignments/:assignmentId/extensions',
    {
      config: { access: allow.assignment('instructor', 'read') },
      schema: { tags: ['late work'], summary: "The assignment's per-student extensions (instructors)", params: AssignmentIdParams, response: { 200: z.array(ExtensionOut), ...errors } },
    },
    async (req) => (await db.extension.findMany({ where: { assignmentId: assignmentOf(req).id }, include: withUser, orderBy: { createdAt: 'asc' } })).map(out),
  );

  app.put(
    '/assignments/:assignmentId/extensions/:userId',
    {
      config: { access: allow.assignment('instructor', 'instructor') },
      schema: {
        tags: ['late work'],
        summary: "Give a student of the course their own due date for this assignment (instructors); replaces an earlier one",
        params: ExtensionParams,
        body: ExtensionPut,
        response: { 200: ExtensionOut, ...errors },
      },
    },
    async (req) => {
      const a = assignmentOf(req);
      const { user } = caller(req);
      const m = await db.membership.findUnique({ where: { userId_courseId: { userId: req.params.userId, courseId: a.courseId } } });
      if (!m || m.role !== 'student') throw new HttpError(422, 'extensions are for students of this course', { type: '/problems/not-a-student' });
      const dueAt = new Date(req.body.dueAt);
      const e = await db.$transaction(async (tx) => {
        const e = await tx.extension.upsert({
          where: { assignmentId_userId: { assignmentId: a.id, userId: req.params.userId } },
          create: { assignmentId: a.id, userId: req.params.userId, dueAt, reason: req.body.reason ?? null, grantedById: user.id },
          update: { dueAt, reason: req.body.reason ?? null, grantedById: user.id },
          include: withUser,
        });
        await requeuePassbacks(tx, a.id, req.params.userId); // the gradebook gets the score under the new due date
        await tx.auditEvent.create({ data: { actorId: user.id, action: 'extension.grant', courseId: a.courseId, targetType: 'user', targetId: req.params.userId, data: { assignmentId: a.id, dueAt: req.body.dueAt } } });
        return e;
      });
      return out(e);
    },
  );

  app.delete(
    '/assignments/:assignmentId/extensions/:userId',
    {
      config: { access: allow.assignment('instructor', 'instructor') },
      schema: { tags: ['late work'], summary: "Withdraw a student's extension (instructors)", params: ExtensionParams, response: { 204: z.null(), ...errors } },
    },
    async (req, reply) => {
      const a = assignmentOf(req);
      const gone = await db.extension.deleteMany({ where: { assignmentId: a.id, userId: req.params.userId } });
      if (gone.count === 0) throw notFound('extension');
      await requeuePassbacks(db, a.id, req.params.userId);
      await db.auditEvent.create({ data: { actorId: caller(req).user.id, action: 'extension.withdraw', courseId: a.courseId, targetType: 'user', targetId: req.params.userId, data: { assignmentId: a.id } } });
      return reply.code(204).send(null);
    },
  );
};
