import {
  CourseCreate,
  CourseIdParams,
  CourseOut,
  Me,
  MemberAdd,
  MemberOut,
  MemberParams,
  Problem,
  TokenIssue,
  TokenIssued,
} from '@kgrader/schemas';
import { isUniqueViolation } from '@kgrader/db';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, forbidden, notFound } from '../errors.js';
import { requireInstructor, requireMember, requireUser } from '../lib/auth.js';
import { courseOut } from '../lib/mappers.js';
import { issueToken } from '../lib/tokens.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem };

/** Who am I, courses, memberships and token issuing. */
export const coursesPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  app.get('/me', { schema: { tags: ['users'], summary: 'The caller and their course roles', response: { 200: Me, ...errors } } }, async (req) => {
    const user = requireUser(req);
    const ms = await db.membership.findMany({ where: { userId: user.id }, include: { course: true }, orderBy: { createdAt: 'asc' } });
    return {
      user: { id: user.id, email: user.email, name: user.name, isAdmin: user.isAdmin, canCreateCourses: user.canCreateCourses },
      memberships: ms.map((m) => ({ courseId: m.courseId, courseCode: m.course.code, role: m.role })),
    };
  });

  app.post(
    '/courses',
    { schema: { tags: ['courses'], summary: 'Create a course (admins and course creators); the caller becomes its instructor', body: CourseCreate, response: { 201: CourseOut, ...errors } } },
    async (req, reply) => {
      const user = requireUser(req);
      if (!user.isAdmin && !user.canCreateCourses) throw forbidden('you may not create courses');
      try {
        const course = await db.$transaction(async (tx) => {
          const c = await tx.course.create({ data: { code: req.body.code, title: req.body.title } });
          await tx.membership.create({ data: { courseId: c.id, userId: user.id, role: 'instructor' } });
          await tx.auditEvent.create({ data: { actorId: user.id, action: 'course.create', courseId: c.id, targetType: 'course', targetId: c.id, data: { code: c.code } } });
          return c;
        });
        return reply.code(201).send(courseOut(course, 'instructor'));
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`a course with code ${req.body.code} exists`);
        throw err;
      }
    },
  );

  app.get('/courses', { schema: { tags: ['courses'], summary: "The caller's courses", response: { 200: z.array(CourseOut), ...errors } } }, async (req) => {
    const user = requireUser(req);
    const ms = await db.membership.findMany({ where: { userId: user.id }, include: { course: true }, orderBy: { createdAt: 'asc' } });
    return ms.map((m) => courseOut(m.course, m.role));
  });

  app.get('/courses/:courseId', { schema: { tags: ['courses'], params: CourseIdParams, response: { 200: CourseOut, ...errors } } }, async (req) => {
    const user = requireUser(req);
    const course = await db.course.findUnique({ where: { id: req.params.courseId } });
    if (!course) throw notFound('course');
    const role = await requireMember(db, user, course.id);
    return courseOut(course, role);
  });

  app.get(
    '/courses/:courseId/members',
    { schema: { tags: ['courses'], summary: 'List members (instructors)', params: CourseIdParams, response: { 200: z.array(MemberOut), ...errors } } },
    async (req) => {
      const user = requireUser(req);
      const course = await db.course.findUnique({ where: { id: req.params.courseId } });
      if (!course) throw notFound('course');
      await requireInstructor(db, user, course.id);
      const ms = await db.membership.findMany({ where: { courseId: course.id }, include: { user: true }, orderBy: { createdAt: 'asc' } });
      return ms.map((m) => ({ userId: m.userId, email: m.user.email, name: m.user.name, role: m.role, createdAt: m.createdAt.toISOString() }));
    },
  );

  app.post(
    '/courses/:courseId/members',
    {
      schema: {
        tags: ['courses'],
        summary: 'Enrol a user by email (created when new) or change their role (instructors)',
        params: CourseIdParams,
        body: MemberAdd,
        response: { 200: MemberOut, ...errors },
      },
    },
    async (req) => {
      const actor = requireUser(req);
      const course = await db.course.findUnique({ where: { id: req.params.courseId } });
      if (!course) throw notFound('course');
      await requireInstructor(db, actor, course.id);
      const { email, role } = req.body;
      const m = await db.$transaction(async (tx) => {
        const user = await tx.user.upsert({ where: { email }, create: { email, name: req.body.name ?? email.split('@')[0]! }, update: {} });
        const before = await tx.membership.findUnique({ where: { userId_courseId: { userId: user.id, courseId: course.id } } });
        const m = await tx.membership.upsert({
          where: { userId_courseId: { userId: user.id, courseId: course.id } },
          create: { userId: user.id, courseId: course.id, role },
          update: { role },
          include: { user: true },
        });
        if (!before || before.role !== role) {
          await tx.auditEvent.create({
            data: {
              actorId: actor.id,
              action: before ? 'membership.role_change' : 'membership.add',
              courseId: course.id,
              targetType: 'user',
              targetId: user.id,
              data: { from: before?.role ?? null, to: role },
            },
          });
        }
        return m;
      });
      return { userId: m.userId, email: m.user.email, name: m.user.name, role: m.role, createdAt: m.createdAt.toISOString() };
    },
  );

  app.post(
    '/courses/:courseId/members/:userId/tokens',
    {
      schema: {
        tags: ['courses'],
        summary: "Issue an API token for a course member (instructors; for students of the course or themselves)",
        params: MemberParams,
        body: TokenIssue,
        response: { 201: TokenIssued, ...errors },
      },
    },
    async (req, reply) => {
      const actor = requireUser(req);
      const { courseId, userId } = req.params;
      const course = await db.course.findUnique({ where: { id: courseId } });
      if (!course) throw notFound('course');
      await requireInstructor(db, actor, courseId);
      const m = await db.membership.findUnique({ where: { userId_courseId: { userId, courseId } } });
      if (!m) throw notFound('member');
      if (m.role === 'instructor' && userId !== actor.id && !actor.isAdmin) {
        throw forbidden('tokens for other instructors are issued by an admin');
      }
      const t = await issueToken(db, { userId, name: req.body.name, issuedById: actor.id, expiresInDays: req.body.expiresInDays, courseId });
      return reply.code(201).send({ id: t.id, userId: t.userId, token: t.token, prefix: t.prefix, expiresAt: t.expiresAt?.toISOString() ?? null });
    },
  );
};
