import { CourseCreate, CourseIdParams, CourseOut, Me, MemberAdd, MemberOut, Problem } from '@kgrader/schemas';
import { isUniqueViolation } from '@kgrader/db';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict } from '../errors.js';
import { actsAsAdmin, allow, caller, callerRole, courseOf } from '../lib/auth.js';
import { courseOut } from '../lib/mappers.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem };

/** Who am I, courses and memberships. */
export const coursesPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  /** the caller's memberships this token reaches (only its course for a course-scoped token) */
  const memberships = (req: Parameters<typeof caller>[0]) => {
    const { user, token } = caller(req);
    return db.membership.findMany({
      where: { userId: user.id, ...(token.courseId ? { courseId: token.courseId } : {}) },
      include: { course: true },
      orderBy: { createdAt: 'asc' },
    });
  };

  app.get(
    '/me',
    { config: { access: allow.user('read') }, schema: { tags: ['users'], summary: 'The caller, their course roles and what this token may do', response: { 200: Me, ...errors } } },
    async (req) => {
      const { user, token } = caller(req);
      const ms = await memberships(req);
      return {
        user: { id: user.id, email: user.email, name: user.name, isAdmin: user.isAdmin, canCreateCourses: user.canCreateCourses },
        memberships: ms.map((m) => ({ courseId: m.courseId, courseCode: m.course.code, role: m.role })),
        token: { id: token.id, scope: token.scope, courseId: token.courseId, expiresAt: token.expiresAt?.toISOString() ?? null, ...(token.kind === 'session' ? { kind: 'session' as const } : {}) },
      };
    },
  );

  app.post(
    '/courses',
    {
      config: { access: allow.courseCreator() },
      schema: { tags: ['courses'], summary: 'Create a course (admins, course creators); the caller becomes its instructor', body: CourseCreate, response: { 201: CourseOut, ...errors } },
    },
    async (req, reply) => {
      const { user } = caller(req);
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

  app.get(
    '/courses',
    { config: { access: allow.user('read') }, schema: { tags: ['courses'], summary: "The caller's courses (this token's course only, for a course-scoped token)", response: { 200: z.array(CourseOut), ...errors } } },
    async (req) => (await memberships(req)).map((m) => courseOut(m.course, m.role)),
  );

  app.get(
    '/courses/:courseId',
    { config: { access: allow.course('member', 'read') }, schema: { tags: ['courses'], params: CourseIdParams, response: { 200: CourseOut, ...errors } } },
    async (req) => courseOut(courseOf(req), callerRole(req)),
  );

  app.get(
    '/courses/:courseId/members',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: { tags: ['courses'], summary: 'List members (instructors)', params: CourseIdParams, response: { 200: z.array(MemberOut), ...errors } },
    },
    async (req) => {
      const ms = await db.membership.findMany({ where: { courseId: courseOf(req).id }, include: { user: true }, orderBy: { createdAt: 'asc' } });
      return ms.map((m) => ({ userId: m.userId, email: m.user.email, name: m.user.name, role: m.role, createdAt: m.createdAt.toISOString() }));
    },
  );

  app.post(
    '/courses/:courseId/members',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['courses'],
        summary: 'Enrol a user by email (created when new) or promote a member (instructors). Touches this course only; never demotes an instructor (409; an admin token may)',
        params: CourseIdParams,
        body: MemberAdd,
        response: { 200: MemberOut, ...errors },
      },
    },
    async (req) => {
      const actor = caller(req);
      const course = courseOf(req);
      const { email, role } = req.body;
      const m = await db.$transaction(async (tx) => {
        // only this course's membership is written: the user row (admin flag, name) and their
        // other courses stay as they are
        const user = await tx.user.upsert({ where: { email }, create: { email, name: req.body.name ?? email.split('@')[0]! }, update: {} });
        const before = await tx.membership.findUnique({ where: { userId_courseId: { userId: user.id, courseId: course.id } } });
        if (before?.role === 'instructor' && role === 'student' && !actsAsAdmin(actor)) {
          throw conflict(`${email} is an instructor of this course: enrolment never demotes (an admin may)`, '/problems/role-demotion-refused');
        }
        const m = await tx.membership.upsert({
          where: { userId_courseId: { userId: user.id, courseId: course.id } },
          create: { userId: user.id, courseId: course.id, role },
          update: { role },
          include: { user: true },
        });
        if (!before || before.role !== role) {
          await tx.auditEvent.create({
            data: {
              actorId: actor.user.id,
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
};
