// PostgreSQL implementations of the LMS integration's storage interfaces (@kgrader/lti stores,
// @kgrader/webhooks OutboxStore), the transactional-outbox writers called inside the event's own
// transaction, and the LTI passback queue (a DB-polled outbox too).
//
// Timestamps passed to raw SQL go as ISO strings cast to `timestamp(3)`: Prisma stores DateTime as
// UTC wall time in `timestamp without time zone`, whatever the session time zone is.
import type { Deployment, LoginState, LoginStateStore, NonceStore, PlatformRegistration, RegistrationStore } from '@kgrader/lti';
import type { WebhookEventType } from '@kgrader/schemas';
import { outboxMessagesFor, type AttemptEffect, type AttemptRecord, type ClaimedMessage, type OutboxStore } from '@kgrader/webhooks';
import type { Db } from './client.js';
import type { LtiPlatform, Prisma } from './generated/client.js';

/** A Prisma interactive-transaction client (or the client itself). */
export type Tx = Prisma.TransactionClient | Db;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ts = (d: Date): string => d.toISOString();

/** The AGS scope a link needs for score passback. */
export const AGS_SCORE_SCOPE = 'https://purl.imsglobal.org/spec/lti-ags/scope/score';

function registrationOf(p: LtiPlatform): PlatformRegistration {
  return {
    id: p.id,
    issuer: p.issuer,
    clientId: p.clientId,
    authEndpoint: p.authEndpoint,
    tokenEndpoint: p.tokenEndpoint,
    tokenAudience: p.tokenAudience ?? undefined,
    jwksUrl: p.jwksUrl,
  };
}

/** Platform registrations and deployments from `LtiPlatform` / `LtiDeployment`. */
export class PrismaRegistrationStore implements RegistrationStore {
  constructor(private readonly db: Db) {}

  async findRegistrations(issuer: string, clientId?: string): Promise<PlatformRegistration[]> {
    const rows = await this.db.ltiPlatform.findMany({ where: { issuer, ...(clientId !== undefined ? { clientId } : {}) } });
    return rows.map(registrationOf);
  }

  async getRegistration(id: string): Promise<PlatformRegistration | undefined> {
    if (!UUID_RE.test(id)) return undefined;
    const p = await this.db.ltiPlatform.findUnique({ where: { id } });
    return p ? registrationOf(p) : undefined;
  }

  async findDeployment(registrationId: string, deploymentId: string): Promise<Deployment | undefined> {
    if (!UUID_RE.test(registrationId)) return undefined;
    const d = await this.db.ltiDeployment.findUnique({ where: { platformId_deploymentId: { platformId: registrationId, deploymentId } } });
    return d ? { registrationId: d.platformId, deploymentId: d.deploymentId, courseId: d.courseId ?? undefined } : undefined;
  }
}

/** OIDC login states in `LtiLoginState`; `take` is one `DELETE ... RETURNING` (one-time by construction). */
export class PrismaLoginStateStore implements LoginStateStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  async put(state: string, value: LoginState, ttlMs: number): Promise<void> {
    await this.db.ltiLoginState.create({
      data: { state, platformId: value.registrationId, nonce: value.nonce, targetLinkUri: value.targetLinkUri, expiresAt: new Date(this.now() + ttlMs) },
    });
  }

  async take(state: string): Promise<LoginState | undefined> {
    const rows = await this.db.$queryRaw<{ platformId: string; nonce: string; targetLinkUri: string }[]>`
      DELETE FROM "LtiLoginState" WHERE state = ${state} AND "expiresAt" > ${ts(new Date(this.now()))}::timestamp(3)
      RETURNING "platformId"::text AS "platformId", nonce, "targetLinkUri"`;
    const r = rows[0];
    return r ? { registrationId: r.platformId, nonce: r.nonce, targetLinkUri: r.targetLinkUri, createdAt: this.now() } : undefined;
  }
}

/** Used launch nonces in `LtiNonce`: `INSERT ... ON CONFLICT DO NOTHING`, a replay inserts nothing. */
export class PrismaNonceStore implements NonceStore {
  constructor(private readonly db: Db) {}

  async consume(nonce: string, expiresAt: number): Promise<boolean> {
    const n = await this.db.$executeRaw`
      INSERT INTO "LtiNonce" (nonce, "expiresAt") VALUES (${nonce}, ${ts(new Date(expiresAt))}::timestamp(3)) ON CONFLICT DO NOTHING`;
    return n === 1;
  }
}

/** Deletes expired login states, nonces and session handoffs (the worker's reconciler tick calls it). */
export async function purgeExpiredLtiState(db: Db, now: Date = new Date()): Promise<number> {
  const at = ts(now);
  const a = await db.$executeRaw`DELETE FROM "LtiLoginState" WHERE "expiresAt" < ${at}::timestamp(3)`;
  const b = await db.$executeRaw`DELETE FROM "LtiNonce" WHERE "expiresAt" < ${at}::timestamp(3)`;
  const c = await db.$executeRaw`DELETE FROM "LtiSessionHandoff" WHERE "expiresAt" < ${at}::timestamp(3)`;
  return a + b + c;
}

// ---- webhooks -------------------------------------------------------------------------------

/**
 * Writes the outbox rows of one event for a course's enabled endpoints subscribed to it. Call it
 * with the transaction that records the event: the rows commit (or roll back) with it.
 */
export async function writeWebhookEvent(
  tx: Tx,
  courseId: string,
  type: WebhookEventType,
  data: Record<string, unknown>,
  at: Date = new Date(),
): Promise<number> {
  const endpoints = await tx.webhookEndpoint.findMany({ where: { courseId, enabled: true, events: { has: type } }, select: { id: true, events: true, enabled: true } });
  if (endpoints.length === 0) return 0;
  const rows = outboxMessagesFor({ type, data, at }, endpoints.map((e) => ({ id: e.id, enabled: e.enabled, events: e.events as WebhookEventType[] })));
  await tx.webhookMessage.createMany({
    data: rows.map((m) => ({ id: m.id, endpointId: m.endpointId, eventType: m.eventType, payload: m.payload, status: 'pending', attempts: 0, nextAttemptAt: m.nextAttemptAt, createdAt: m.createdAt })),
  });
  return rows.length;
}

/** The webhook outbox in `WebhookMessage` / `WebhookAttempt`, claimed with leases under `FOR UPDATE SKIP LOCKED`. */
export class PrismaOutboxStore implements OutboxStore {
  constructor(private readonly db: Db) {}

  async claimDue(now: Date, limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    const rows = await this.db.$queryRaw<{ id: string }[]>`
      UPDATE "WebhookMessage" m SET "lockedUntil" = ${ts(new Date(now.getTime() + leaseMs))}::timestamp(3)
      WHERE m.id IN (
        SELECT w.id FROM "WebhookMessage" w JOIN "WebhookEndpoint" e ON e.id = w."endpointId"
        WHERE w.status = 'pending' AND w."nextAttemptAt" <= ${ts(now)}::timestamp(3) AND e.enabled
          AND (w."lockedUntil" IS NULL OR w."lockedUntil" <= ${ts(now)}::timestamp(3))
        ORDER BY w."nextAttemptAt" LIMIT ${limit} FOR UPDATE OF w SKIP LOCKED)
      RETURNING m.id`;
    if (rows.length === 0) return [];
    const msgs = await this.db.webhookMessage.findMany({ where: { id: { in: rows.map((r) => r.id) } }, include: { endpoint: true }, orderBy: { nextAttemptAt: 'asc' } });
    return msgs.map((m) => {
      const e = m.endpoint;
      const secrets = [e.secret];
      if (e.previousSecret && e.previousSecretExpiresAt && e.previousSecretExpiresAt > now) secrets.push(e.previousSecret);
      return {
        message: {
          id: m.id,
          endpointId: m.endpointId,
          eventType: m.eventType as WebhookEventType,
          payload: m.payload,
          status: m.status,
          attempts: m.attempts,
          nextAttemptAt: m.nextAttemptAt,
          createdAt: m.createdAt,
        },
        endpoint: { id: e.id, url: e.url, secrets, events: e.events as WebhookEventType[], enabled: e.enabled },
      };
    });
  }

  async complete(attempt: AttemptRecord, effect: AttemptEffect): Promise<void> {
    await this.db.$transaction(async (tx) => {
      await tx.webhookAttempt.create({
        data: {
          messageId: attempt.messageId,
          endpointId: attempt.endpointId,
          attempt: attempt.attempt,
          startedAt: attempt.startedAt,
          durationMs: Math.round(attempt.durationMs),
          responseStatus: attempt.responseStatus,
          responseBody: attempt.responseBody,
          error: attempt.error,
          errorKind: attempt.errorKind,
          outcome: attempt.outcome,
        },
      });
      await tx.webhookMessage.update({
        where: { id: attempt.messageId },
        data: {
          attempts: attempt.attempt,
          status: effect.status,
          lockedUntil: null,
          ...(effect.status === 'pending' ? { nextAttemptAt: effect.nextAttemptAt } : {}),
        },
      });
      if (effect.status === 'failed' && effect.disableEndpoint) {
        await tx.webhookEndpoint.update({
          where: { id: attempt.endpointId },
          data: { enabled: false, disabledReason: effect.disableEndpoint.reason, disabledAt: attempt.startedAt },
        });
      }
    });
  }
}

/** Manual redeliver: the message is due again now, its attempt history kept. False when unknown. */
export async function redeliverWebhookMessage(db: Db, endpointId: string, messageId: string, now: Date = new Date()): Promise<boolean> {
  const r = await db.webhookMessage.updateMany({ where: { id: messageId, endpointId }, data: { status: 'pending', nextAttemptAt: now, lockedUntil: null } });
  return r.count === 1;
}

// ---- LTI AGS passback queue ------------------------------------------------------------------

/**
 * Queues the score passback of a graded submission, in the verdict's transaction: when the
 * submitter has an LTI identity on a platform whose resource link for the assignment has a line
 * item and the score scope. Re-queues (pending, attempts reset) on a regrade. Returns whether a row was written.
 */
export async function queuePassback(tx: Tx, submission: { id: string; userId: string; assignmentId: string }, now: Date = new Date()): Promise<boolean> {
  const links = await tx.ltiResourceLink.findMany({
    where: { assignmentId: submission.assignmentId, lineitemUrl: { not: null }, agsScopes: { has: AGS_SCORE_SCOPE } },
    orderBy: { updatedAt: 'desc' },
  });
  for (const link of links) {
    const identity = await tx.ltiIdentity.findFirst({ where: { userId: submission.userId, platformId: link.platformId } });
    if (!identity) continue;
    await tx.ltiPassback.upsert({
      where: { submissionId: submission.id },
      create: { submissionId: submission.id, resourceLinkId: link.id, ltiUserId: identity.sub, status: 'pending', nextAttemptAt: now },
      update: { resourceLinkId: link.id, ltiUserId: identity.sub, status: 'pending', attempts: 0, nextAttemptAt: now, lockedUntil: null, lastError: null, lastStatus: null },
    });
    return true;
  }
  return false;
}

/**
 * Claims due passbacks (pending and due, or `sending` whose lease expired: a crashed worker's),
 * marking them `sending` with a lease. Returns their ids.
 */
export async function claimDuePassbacks(db: Db, now: Date, limit: number, leaseMs: number): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "LtiPassback" p SET status = 'sending', "lockedUntil" = ${ts(new Date(now.getTime() + leaseMs))}::timestamp(3), "updatedAt" = ${ts(now)}::timestamp(3)
    WHERE p.id IN (
      SELECT q.id FROM "LtiPassback" q
      WHERE (q.status = 'pending' AND q."nextAttemptAt" <= ${ts(now)}::timestamp(3))
         OR (q.status = 'sending' AND q."lockedUntil" <= ${ts(now)}::timestamp(3))
      ORDER BY q."nextAttemptAt" LIMIT ${limit} FOR UPDATE OF q SKIP LOCKED)
    RETURNING p.id::text AS id`;
  return rows.map((r) => r.id);
}
