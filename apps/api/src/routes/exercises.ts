// Exercise authoring and versions (issue 12): instructors write an exercise (spec, handout, starter
// files, solutions with what each must grade as) as a draft and publish it as an immutable version
// once its solutions grade as promised; students read the handout of their assignment's version.
import { isUniqueViolation } from '@kgrader/db';
import {
  AssignmentHandout,
  AssignmentIdParams,
  CourseIdParams,
  ExerciseDraft,
  ExerciseIdParams,
  ExerciseOut,
  ExerciseSummary,
  ExerciseVersionOut,
  ExerciseVersionParams,
  Problem,
} from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { allow, assignmentOf, caller, courseOf, exerciseOf } from '../lib/auth.js';
import { exerciseOut, exerciseSummary, publishDraft, versionOut } from '../lib/exercises.js';
import { pinnedVersion, type Prisma } from '@kgrader/db';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem };
const json = (v: unknown) => v as Prisma.InputJsonValue;

export const exercisesPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;
  const withVersions = { versions: true } as const;

  app.get(
    '/courses/:courseId/exercises',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: {
        tags: ['exercises'],
        summary: "Exercises this course's assignments can use: the shipped ones and the course's own (instructors)",
        params: CourseIdParams,
        response: { 200: z.array(ExerciseSummary), ...errors },
      },
    },
    async (req) => {
      const rows = await db.exercise.findMany({ where: { OR: [{ courseId: null }, { courseId: courseOf(req).id }] }, include: withVersions, orderBy: { slug: 'asc' } });
      return rows.map(exerciseSummary);
    },
  );

  app.post(
    '/courses/:courseId/exercises',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['exercises'],
        summary: "Create an exercise owned by this course from a draft (instructors); its slug is the spec's and unique",
        params: CourseIdParams,
        body: ExerciseDraft,
        response: { 201: ExerciseOut, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const course = courseOf(req);
      try {
        const e = await db.$transaction(async (tx) => {
          const e = await tx.exercise.create({ data: { slug: req.body.spec.slug, courseId: course.id, draft: json(req.body), createdById: user.id }, include: withVersions });
          await tx.auditEvent.create({ data: { actorId: user.id, action: 'exercise.create', courseId: course.id, targetType: 'exercise', targetId: e.id, data: { slug: e.slug } } });
          return e;
        });
        return reply.code(201).send(exerciseOut(e));
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`an exercise with slug ${req.body.spec.slug} exists`, '/problems/exercise-slug-taken');
        throw err;
      }
    },
  );

  app.get(
    '/exercises/:exerciseId',
    {
      config: { access: allow.exercise('read') },
      schema: { tags: ['exercises'], summary: 'An exercise: its draft and versions (instructors of its course; shipped ones: any instructor)', params: ExerciseIdParams, response: { 200: ExerciseOut, ...errors } },
    },
    async (req) => exerciseOut(await db.exercise.findUniqueOrThrow({ where: { id: exerciseOf(req).id }, include: withVersions })),
  );

  app.put(
    '/exercises/:exerciseId/draft',
    {
      config: { access: allow.exercise('instructor') },
      schema: {
        tags: ['exercises'],
        summary: "Replace the draft (instructors of its course; shipped exercises: admins). The slug cannot change; versions are not touched",
        params: ExerciseIdParams,
        body: ExerciseDraft,
        response: { 200: ExerciseOut, ...errors },
      },
    },
    async (req) => {
      const { user } = caller(req);
      const exercise = exerciseOf(req);
      if (req.body.spec.slug !== exercise.slug) throw new HttpError(422, `the slug is ${exercise.slug}: it cannot change (create a new exercise instead)`);
      const e = await db.$transaction(async (tx) => {
        const e = await tx.exercise.update({ where: { id: exercise.id }, data: { draft: json(req.body) }, include: withVersions });
        await tx.auditEvent.create({ data: { actorId: user.id, action: 'exercise.edit', courseId: exercise.courseId, targetType: 'exercise', targetId: e.id, data: {} } });
        return e;
      });
      return exerciseOut(e);
    },
  );

  app.post(
    '/exercises/:exerciseId/versions',
    {
      config: { access: allow.exercise('instructor') },
      schema: {
        tags: ['exercises'],
        summary:
          'Publish the draft as the next version (instructors of its course; shipped exercises: admins). Answers 202 with the version `checking`: ' +
          'each solution is graded in the low-priority lane; the version becomes `published` when the reference passes and every buggy solution is caught as promised, else `rejected` (or `error` when kgrader could not grade one)',
        params: ExerciseIdParams,
        response: { 202: ExerciseVersionOut, ...errors },
      },
    },
    async (req, reply) => {
      const exercise = exerciseOf(req);
      const v = await publishDraft(deps, exercise, caller(req).user.id);
      return reply.code(202).send(versionOut(exercise, v));
    },
  );

  app.get(
    '/exercises/:exerciseId/versions/:version',
    {
      config: { access: allow.exercise('read') },
      schema: { tags: ['exercises'], summary: 'One version: its content and the grading of each solution', params: ExerciseVersionParams, response: { 200: ExerciseVersionOut, ...errors } },
    },
    async (req) => {
      const exercise = exerciseOf(req);
      const v = await db.exerciseVersion.findUnique({ where: { exerciseId_version: { exerciseId: exercise.id, version: req.params.version } }, include: { checks: true } });
      if (!v) throw notFound('version');
      return versionOut(exercise, v);
    },
  );

  app.get(
    '/assignments/:assignmentId/handout',
    {
      config: { access: allow.assignment('member', 'read') },
      schema: { tags: ['assignments'], summary: "The handout and starter files of the assignment's exercise version (members)", params: AssignmentIdParams, response: { 200: AssignmentHandout, ...errors } },
    },
    async (req) => {
      const a = assignmentOf(req);
      const { version, spec } = await pinnedVersion(db, a).catch((err: Error) => {
        throw new HttpError(422, err.message);
      });
      return {
        assignmentId: a.id,
        exerciseSlug: a.exerciseSlug,
        version: version.version,
        title: spec.title,
        summary: spec.summary,
        handout: version.handout,
        starterFiles: version.starterFiles as AssignmentHandout['starterFiles'],
      };
    },
  );
};
