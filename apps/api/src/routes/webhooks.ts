// Outgoing webhook endpoints of a course (instructors): create (the secret is shown once), list,
// update (incl. secret rotation: the previous secret keeps signing for a while), delete, the
// delivery attempts, manual redeliver. Deliveries themselves run in the worker (outbox dispatcher).
import { redeliverWebhookMessage, type WebhookEndpoint } from '@kgrader/db';
import {
  CourseIdParams,
  DeliveriesQuery,
  Problem,
  WebhookAttemptOut,
  WebhookEndpointCreate,
  WebhookEndpointCreated,
  WebhookEndpointOut,
  WebhookEndpointUpdate,
  WebhookIdParams,
  WebhookMessageParams,
  type WebhookEventType,
} from '@kgrader/schemas';
import { assertDeliverableUrl, generateSecret, SsrfError } from '@kgrader/webhooks';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { conflict, HttpError, notFound } from '../errors.js';
import { allow, caller } from '../lib/auth.js';
import { lmsConfig } from '../lib/lms.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem };

/** the URL without user:password (rows stored before such URLs were refused must not show them) */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

const endpointOut = (e: WebhookEndpoint): WebhookEndpointOut => ({
  id: e.id,
  courseId: e.courseId,
  url: withoutCredentials(e.url),
  events: e.events as WebhookEventType[],
  description: e.description,
  enabled: e.enabled,
  disabledReason: e.disabledReason,
  createdAt: e.createdAt.toISOString(),
});

export const webhooksPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;
  const cfg = () => lmsConfig(deps.config); // read per request: an admin setting may change

  const checkUrl = async (url: string) => {
    const u = new URL(url);
    if (u.username || u.password) {
      // refused rather than stored: a listing would show them, and every delivery is already
      // authenticated by its signature (verify it on the receiving side instead)
      throw new HttpError(422, 'webhook URLs may not carry credentials (user:password@): receivers authenticate kgrader by the webhook signature', {
        type: '/problems/webhook-url-rejected',
      });
    }
    try {
      await assertDeliverableUrl(url, { allowPrivate: cfg().webhooksAllowPrivate });
    } catch (e) {
      if (e instanceof SsrfError) throw new HttpError(422, e.message, { type: '/problems/webhook-url-rejected' });
      throw e;
    }
  };
  const load = async (courseId: string, webhookId: string) => {
    const e = await db.webhookEndpoint.findFirst({ where: { id: webhookId, courseId } });
    if (!e) throw notFound('webhook');
    return e;
  };

  app.post(
    '/courses/:courseId/webhooks',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['webhooks'],
        summary: 'Register a webhook endpoint (instructors); the answer holds its signing secret, shown once',
        params: CourseIdParams,
        body: WebhookEndpointCreate,
        response: { 201: WebhookEndpointCreated, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      await checkUrl(req.body.url);
      const secret = generateSecret();
      const e = await db.$transaction(async (tx) => {
        const e = await tx.webhookEndpoint.create({
          data: { courseId: req.params.courseId, url: req.body.url, events: [...new Set(req.body.events)], description: req.body.description ?? null, secret, createdById: user.id },
        });
        await tx.auditEvent.create({
          data: { actorId: user.id, action: 'webhook.create', courseId: e.courseId, targetType: 'webhook', targetId: e.id, data: { url: withoutCredentials(e.url), events: e.events } },
        });
        return e;
      });
      return reply.code(201).header('cache-control', 'no-store').send({ ...endpointOut(e), secret });
    },
  );

  app.get(
    '/courses/:courseId/webhooks',
    { config: { access: allow.course('instructor', 'read') }, schema: { tags: ['webhooks'], summary: "The course's webhook endpoints (instructors; no secrets)", params: CourseIdParams, response: { 200: z.array(WebhookEndpointOut), ...errors } } },
    async (req) => {
      const rows = await db.webhookEndpoint.findMany({ where: { courseId: req.params.courseId }, orderBy: { createdAt: 'asc' } });
      return rows.map(endpointOut);
    },
  );

  app.patch(
    '/courses/:courseId/webhooks/:webhookId',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['webhooks'],
        summary: 'Update an endpoint; `rotateSecret: true` answers a new secret and keeps the previous one signing for 24 h; `enabled: true` re-enables it',
        params: WebhookIdParams,
        body: WebhookEndpointUpdate,
        response: { 200: WebhookEndpointOut.extend({ secret: z.string().optional() }), ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const cur = await load(req.params.courseId, req.params.webhookId);
      const b = req.body;
      if (b.url !== undefined && b.url !== cur.url) await checkUrl(b.url);
      const now = new Date();
      const secret = b.rotateSecret ? generateSecret() : undefined;
      const e = await db.$transaction(async (tx) => {
        const e = await tx.webhookEndpoint.update({
          where: { id: cur.id },
          data: {
            ...(b.url !== undefined ? { url: b.url } : {}),
            ...(b.events !== undefined ? { events: [...new Set(b.events)] } : {}),
            ...(b.description !== undefined ? { description: b.description } : {}),
            ...(b.enabled === true ? { enabled: true, disabledReason: null, disabledAt: null } : {}),
            ...(b.enabled === false && cur.enabled ? { enabled: false, disabledReason: `disabled by ${user.email}`, disabledAt: now } : {}),
            ...(secret ? { secret, previousSecret: cur.secret, previousSecretExpiresAt: new Date(now.getTime() + cfg().previousSecretHours * 3_600_000) } : {}),
          },
        });
        await tx.auditEvent.create({
          data: {
            actorId: user.id,
            action: secret ? 'webhook.rotate_secret' : 'webhook.update',
            courseId: e.courseId,
            targetType: 'webhook',
            targetId: e.id,
            data: { url: b.url ?? null, events: b.events ?? null, enabled: b.enabled ?? null, rotated: Boolean(secret) },
          },
        });
        return e;
      });
      if (secret) reply.header('cache-control', 'no-store');
      return { ...endpointOut(e), ...(secret ? { secret } : {}) };
    },
  );

  app.delete(
    '/courses/:courseId/webhooks/:webhookId',
    { config: { access: allow.course('instructor', 'instructor') }, schema: { tags: ['webhooks'], summary: 'Delete an endpoint with its pending messages and attempt log', params: WebhookIdParams, response: { 204: z.null(), ...errors } } },
    async (req, reply) => {
      const { user } = caller(req);
      const cur = await load(req.params.courseId, req.params.webhookId);
      await db.$transaction([
        db.webhookEndpoint.delete({ where: { id: cur.id } }),
        db.auditEvent.create({ data: { actorId: user.id, action: 'webhook.delete', courseId: cur.courseId, targetType: 'webhook', targetId: cur.id, data: { url: withoutCredentials(cur.url) } } }),
      ]);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/courses/:courseId/webhooks/:webhookId/deliveries',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: {
        tags: ['webhooks'],
        summary: 'Every delivery attempt of an endpoint, newest first (instructors)',
        params: WebhookIdParams,
        querystring: DeliveriesQuery,
        response: { 200: z.array(WebhookAttemptOut), ...errors },
      },
    },
    async (req) => {
      const cur = await load(req.params.courseId, req.params.webhookId);
      const rows = await db.webhookAttempt.findMany({
        where: { endpointId: cur.id, ...(req.query.messageId ? { messageId: req.query.messageId } : {}) },
        include: { message: { select: { eventType: true } } },
        orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
        take: req.query.limit,
      });
      return rows.map((a) => ({
        messageId: a.messageId,
        eventType: a.message.eventType as WebhookEventType,
        attempt: a.attempt,
        startedAt: a.startedAt.toISOString(),
        durationMs: a.durationMs,
        responseStatus: a.responseStatus,
        error: a.error,
        outcome: a.outcome as 'success',
      }));
    },
  );

  app.post(
    '/courses/:courseId/webhooks/:webhookId/deliveries/:messageId/redeliver',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['webhooks'],
        summary: 'Deliver a message again (its attempt history is kept)',
        params: WebhookMessageParams,
        response: { 202: z.object({ messageId: z.string(), status: z.literal('pending') }), ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const cur = await load(req.params.courseId, req.params.webhookId);
      if (!cur.enabled) throw conflict('the endpoint is disabled: re-enable it (PATCH enabled: true) first');
      if (!(await redeliverWebhookMessage(db, cur.id, req.params.messageId))) throw notFound('message');
      await db.auditEvent.create({
        data: { actorId: user.id, action: 'webhook.redeliver', courseId: cur.courseId, targetType: 'webhook', targetId: cur.id, data: { messageId: req.params.messageId } },
      });
      return reply.code(202).send({ messageId: req.params.messageId, status: 'pending' as const });
    },
  );
};
