// Instructor side of LTI (under /api/v1, bearer auth): platform registrations per course, the
// assignment's score policy, re-queueing a submission's grade passback.
import { isUniqueViolation, type LtiDeployment, type LtiPlatform } from '@kgrader/db';
import {
  AssignmentIdParams,
  CourseIdParams,
  LtiPlatformOut,
  LtiPlatformParams,
  LtiPlatformRegistration,
  Problem,
  ScorePolicyUpdate,
  SubmissionIdParams,
  type LtiToolInfo,
} from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { allow, assignmentOf, caller, submissionOf } from '../lib/auth.js';
import { checkPlatformUrl, lmsConfig } from '../lib/lms.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem };

export const ltiAdminPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;
  const cfg = lmsConfig(deps.config);

  const toolInfo = (): LtiToolInfo => {
    const u = deps.config.publicUrl;
    return {
      loginUrl: `${u}/lti/login`,
      launchUrl: `${u}/lti/launch`,
      jwksUrl: `${u}/.well-known/jwks.json`,
      assignmentLaunchUrlTemplate: `${u}/lti/assignments/{assignmentId}`,
      noticeHandlerUrl: `${u}/lti/notices`,
      deepLinkingUrl: `${u}/lti/asset-processor`,
    };
  };
  const out = (p: LtiPlatform & { deployments: LtiDeployment[] }) => ({
    id: p.id,
    courseId: p.courseId,
    issuer: p.issuer,
    clientId: p.clientId,
    authEndpoint: p.authEndpoint,
    tokenEndpoint: p.tokenEndpoint,
    tokenAudience: p.tokenAudience,
    jwksUrl: p.jwksUrl,
    deploymentIds: p.deployments.map((d) => d.deploymentId),
    createdAt: p.createdAt.toISOString(),
    tool: toolInfo(),
  });

  app.post(
    '/courses/:courseId/lti/platforms',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['lti'],
        summary: 'Register an LMS (LTI 1.3 platform) for this course (instructors); answers what to paste into the LMS',
        params: CourseIdParams,
        body: LtiPlatformRegistration,
        response: { 201: LtiPlatformOut, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const { courseId } = req.params;
      const b = req.body;
      for (const [k, v] of [['authEndpoint', b.authEndpoint], ['tokenEndpoint', b.tokenEndpoint], ['jwksUrl', b.jwksUrl]] as const) await checkPlatformUrl(v, k, cfg);
      try {
        const p = await db.$transaction(async (tx) => {
          const p = await tx.ltiPlatform.create({
            data: {
              courseId,
              issuer: b.issuer,
              clientId: b.clientId,
              authEndpoint: b.authEndpoint,
              tokenEndpoint: b.tokenEndpoint,
              tokenAudience: b.tokenAudience ?? null,
              jwksUrl: b.jwksUrl,
              createdById: user.id,
              deployments: { create: [...new Set(b.deploymentIds)].map((deploymentId) => ({ deploymentId, courseId })) },
            },
            include: { deployments: true },
          });
          await tx.auditEvent.create({
            data: { actorId: user.id, action: 'lti.platform.register', courseId, targetType: 'lti_platform', targetId: p.id, data: { issuer: b.issuer, clientId: b.clientId, deploymentIds: b.deploymentIds } },
          });
          return p;
        });
        return reply.code(201).send(out(p));
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`the platform ${b.issuer} with client id ${b.clientId} is already registered (in this or another course)`);
        throw err;
      }
    },
  );

  app.get(
    '/courses/:courseId/lti/platforms',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: { tags: ['lti'], summary: "The course's LMS registrations (instructors)", params: CourseIdParams, response: { 200: z.array(LtiPlatformOut), ...errors } },
    },
    async (req) => {
      const rows = await db.ltiPlatform.findMany({ where: { courseId: req.params.courseId }, include: { deployments: true }, orderBy: { createdAt: 'asc' } });
      return rows.map(out);
    },
  );

  app.delete(
    '/courses/:courseId/lti/platforms/:platformId',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: { tags: ['lti'], summary: 'Remove an LMS registration (its links, identities and pending passbacks go with it)', params: LtiPlatformParams, response: { 204: z.null(), ...errors } },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const n = await db.$transaction(async (tx) => {
        const r = await tx.ltiPlatform.deleteMany({ where: { id: req.params.platformId, courseId: req.params.courseId } });
        if (r.count)
          await tx.auditEvent.create({ data: { actorId: user.id, action: 'lti.platform.delete', courseId: req.params.courseId, targetType: 'lti_platform', targetId: req.params.platformId } });
        return r.count;
      });
      if (!n) throw notFound('LTI platform');
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/assignments/:assignmentId/score-policy',
    {
      config: { access: allow.assignment('instructor', 'instructor') },
      schema: {
        tags: ['lti'],
        summary: 'Which graded submission counts in the LMS gradebook: latest or best (instructors)',
        params: AssignmentIdParams,
        body: ScorePolicyUpdate,
        response: { 200: ScorePolicyUpdate, ...errors },
      },
    },
    async (req) => {
      const { user } = caller(req);
      const assignment = assignmentOf(req);
      await db.$transaction([
        db.assignment.update({ where: { id: assignment.id }, data: { scorePolicy: req.body.scorePolicy } }),
        db.auditEvent.create({
          data: { actorId: user.id, action: 'assignment.score_policy', courseId: assignment.courseId, targetType: 'assignment', targetId: assignment.id, data: { from: assignment.scorePolicy, to: req.body.scorePolicy } },
        }),
      ]);
      return { scorePolicy: req.body.scorePolicy };
    },
  );

  app.post(
    '/submissions/:submissionId/passback',
    {
      config: { access: allow.submission('instructor', 'instructor') },
      schema: {
        tags: ['lti'],
        summary: "Send the submission's score to the LMS again (instructors)",
        params: SubmissionIdParams,
        response: { 202: z.object({ status: z.literal('pending') }), ...errors },
      },
    },
    async (req, reply) => {
      const submission = submissionOf(req);
      const r = await db.ltiPassback.updateMany({
        where: { submissionId: submission.id },
        data: { status: 'pending', attempts: 0, nextAttemptAt: new Date(), lockedUntil: null, lastError: null },
      });
      if (!r.count) throw new HttpError(404, 'this submission has no LMS grade passback');
      return reply.code(202).send({ status: 'pending' as const });
    },
  );
};
