// Instructor side of the LTI Asset Processor (issue 15), under /api/v1 with bearer auth: the LMS
// assignments kgrader is attached to, the notices the platforms sent and what became of them,
// the calls kgrader owes the platforms (asset reports, notice-handler registrations) with their
// delivery state, and a retry of a failed call.
import type { LtiServiceCall } from '@kgrader/db';
import {
  CourseIdParams,
  LtiAssetProcessorOut,
  LtiNoticeOut,
  LtiNoticesQuery,
  LtiServiceCallOut,
  LtiServiceCallParams,
  LtiServiceCallsQuery,
  Problem,
} from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, notFound } from '../errors.js';
import { allow, caller } from '../lib/auth.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem };
const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function serviceCallOut(c: LtiServiceCall): z.infer<typeof LtiServiceCallOut> {
  const body = (c.body ?? {}) as { processingProgress?: unknown; assetId?: unknown };
  return {
    id: c.id,
    kind: c.kind === 'register_handler' ? 'register_handler' : 'asset_report',
    status: c.status,
    method: c.method,
    url: c.url,
    subject: c.subject,
    processingProgress: typeof body.processingProgress === 'string' ? body.processingProgress : null,
    assetId: typeof body.assetId === 'string' ? body.assetId : null,
    noticeId: c.noticeId,
    submissionId: c.submissionId,
    attempts: c.attempts,
    lastStatus: c.lastStatus,
    lastError: c.lastError,
    nextAttemptAt: c.status === 'pending' ? c.nextAttemptAt.toISOString() : null,
    sentAt: iso(c.sentAt),
    createdAt: c.createdAt.toISOString(),
  };
}

export const ltiAssetsPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  app.get(
    '/courses/:courseId/lti/asset-processors',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: { tags: ['lti'], summary: 'LMS assignments kgrader is attached to as asset processor (instructors)', params: CourseIdParams, response: { 200: z.array(LtiAssetProcessorOut), ...errors } },
    },
    async (req) => {
      const rows = await db.ltiAssetProcessor.findMany({ where: { platform: { courseId: req.params.courseId } }, include: { platform: { select: { issuer: true } } }, orderBy: { createdAt: 'asc' } });
      return rows.map((p) => ({
        id: p.id,
        platformId: p.platformId,
        issuer: p.platform.issuer,
        deploymentId: p.deploymentId,
        activityId: p.activityId,
        activityTitle: p.activityTitle,
        assignmentId: p.assignmentId,
        exerciseSlug: p.exerciseSlug,
        exerciseVersion: p.exerciseVersion,
        title: p.title,
        createdAt: p.createdAt.toISOString(),
      }));
    },
  );

  app.get(
    '/courses/:courseId/lti/notices',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: {
        tags: ['lti'],
        summary: "Notices the course's LMS sent (newest first), what kgrader made of each, and its asset reports' delivery (instructors)",
        params: CourseIdParams,
        querystring: LtiNoticesQuery,
        response: { 200: z.array(LtiNoticeOut), ...errors },
      },
    },
    async (req) => {
      const rows = await db.ltiNotice.findMany({
        where: { platform: { courseId: req.params.courseId }, ...(req.query.status ? { status: req.query.status } : {}) },
        include: { serviceCalls: { orderBy: { createdAt: 'asc' } } },
        orderBy: { receivedAt: 'desc' },
        take: req.query.limit,
      });
      return rows.map((n) => ({
        id: n.id,
        platformId: n.platformId,
        deploymentId: n.deploymentId,
        noticeId: n.noticeId,
        type: n.type,
        status: n.status,
        processorId: n.processorId,
        submissionId: n.submissionId,
        ltiUserId: n.ltiUserId,
        ltiSubmissionId: n.ltiSubmissionId,
        assets: ((Array.isArray(n.assets) ? n.assets : []) as { assetId: string; name?: string | null; size?: number | null }[]).map((a) => ({ assetId: a.assetId, name: a.name ?? null, size: a.size ?? null })),
        attempts: n.attempts,
        duplicates: n.duplicates,
        lastError: n.lastError,
        receivedAt: n.receivedAt.toISOString(),
        reports: n.serviceCalls.map(serviceCallOut),
      }));
    },
  );

  app.get(
    '/courses/:courseId/lti/service-calls',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: {
        tags: ['lti'],
        summary: "Calls kgrader owes the course's LMS (asset reports, notice-handler registrations), newest first, with their delivery state (instructors)",
        params: CourseIdParams,
        querystring: LtiServiceCallsQuery,
        response: { 200: z.array(LtiServiceCallOut), ...errors },
      },
    },
    async (req) => {
      const rows = await db.ltiServiceCall.findMany({
        where: { platform: { courseId: req.params.courseId }, ...(req.query.kind ? { kind: req.query.kind } : {}), ...(req.query.status ? { status: req.query.status } : {}) },
        orderBy: { createdAt: 'desc' },
        take: req.query.limit,
      });
      return rows.map(serviceCallOut);
    },
  );

  app.post(
    '/courses/:courseId/lti/service-calls/:callId/retry',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: { tags: ['lti'], summary: 'Send a failed call to the LMS again (instructors)', params: LtiServiceCallParams, response: { 202: LtiServiceCallOut, ...errors } },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const c = await db.ltiServiceCall.findFirst({ where: { id: req.params.callId, platform: { courseId: req.params.courseId } } });
      if (!c) throw notFound('LMS call');
      if (c.status !== 'failed') throw conflict(`the call is ${c.status}: only a failed call is sent again`, '/problems/lti/call-not-failed');
      const [row] = await db.$transaction([
        db.ltiServiceCall.update({ where: { id: c.id }, data: { status: 'pending', attempts: 0, nextAttemptAt: new Date(), lockedUntil: null } }),
        db.auditEvent.create({ data: { actorId: user.id, action: 'lti.service_call.retry', courseId: req.params.courseId, targetType: 'lti_service_call', targetId: c.id, data: { kind: c.kind } } }),
      ]);
      return reply.code(202).send(serviceCallOut(row));
    },
  );
};
