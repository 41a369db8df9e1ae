// Transactional outbox for webhooks: rows are written in the same DB transaction as the event
// (see `outboxMessagesFor`), and a dispatcher claims due rows, delivers, records every attempt,
// and schedules retries.
import { PollingLoop } from './polling.js';
import { randomUUID } from 'node:crypto';
import type { WebhookEventType } from '@kgrader/schemas';
import { deliver as defaultDeliver, type DeliverFn, type DeliveryErrorKind } from './deliver.js';
import { classifyOutcome, DEFAULT_RETRY_SCHEDULE_MS, type DeliveryOutcome } from './schedule.js';
import { signHeaders } from './signature.js';
import type { Resolver } from './ssrf.js';

export interface WebhookEndpoint {
  id: string;
  url: string;
  /** active secrets, newest first; two during a rotation */
  secrets: string[];
  events: WebhookEventType[];
  enabled: boolean;
}

export type OutboxStatus = 'pending' | 'succeeded' | 'failed';

export interface OutboxMessage {
  /** the `webhook-id`, the same for every attempt (receivers deduplicate on it) */
  id: string;
  endpointId: string;
  eventType: WebhookEventType;
  /** the JSON body, stored as the exact string that is signed and sent */
  payload: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  createdAt: Date;
}

export interface ClaimedMessage {
  message: OutboxMessage;
  endpoint: WebhookEndpoint;
}

export interface AttemptRecord {
  messageId: string;
  endpointId: string;
  /** 1-based */
  attempt: number;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
  errorKind: DeliveryErrorKind | null;
  outcome: DeliveryOutcome;
}

/** How an attempt changes its message (and maybe its endpoint). */
export type AttemptEffect =
  | { status: 'succeeded' }
  | { status: 'pending'; nextAttemptAt: Date }
  | { status: 'failed'; disableEndpoint?: { reason: string } };

export interface OutboxStore {
  /**
   * Claims up to `limit` pending messages due at `now` whose endpoint is enabled and that no one
   * holds, leasing them until now + leaseMs (a crashed dispatcher's rows come back after the lease).
   * Postgres: UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING.
   */
  claimDue(now: Date, limit: number, leaseMs: number): Promise<ClaimedMessage[]>;
  /** In one transaction: insert the attempt, apply the effect to the message (attempts+1, lease released), disable the endpoint if asked. */
  complete(attempt: AttemptRecord, effect: AttemptEffect): Promise<void>;
}

/** The JSON body of an event (Standard Webhooks envelope). */
export function envelope(type: WebhookEventType, data: Record<string, unknown>, at: Date): string {
  return JSON.stringify({ type, timestamp: at.toISOString(), data });
}

/**
 * Pure: the outbox rows for one event, one per enabled endpoint subscribed to it. Insert them in
 * the same transaction that records the event, so that no event is lost or sent without commit.
 */
export function outboxMessagesFor(
  event: { type: WebhookEventType; data: Record<string, unknown>; at: Date },
  endpoints: readonly Pick<WebhookEndpoint, 'id' | 'events' | 'enabled'>[],
  newId: () => string = () => `msg_${randomUUID().replace(/-/g, '')}`,
): OutboxMessage[] {
  const payload = envelope(event.type, event.data, event.at);
  return endpoints
    .filter((e) => e.enabled && e.events.includes(event.type))
    .map((e) => ({ id: newId(), endpointId: e.id, eventType: event.type, payload, status: 'pending', attempts: 0, nextAttemptAt: event.at, createdAt: event.at }));
}

/** An OutboxStore in memory: tests and single-process development. */
export class MemoryOutboxStore implements OutboxStore {
  readonly endpoints = new Map<string, WebhookEndpoint & { disabledReason?: string }>();
  readonly messages = new Map<string, OutboxMessage & { lockedUntil?: Date }>();
  readonly attempts: AttemptRecord[] = [];

  addEndpoint(e: WebhookEndpoint): void {
    this.endpoints.set(e.id, { ...e });
  }

  enqueue(messages: readonly OutboxMessage[]): void {
    for (const m of messages) this.messages.set(m.id, { ...m });
  }

  /** manual redeliver: the message becomes due now, with the attempt history kept */
  redeliver(messageId: string, now: Date): void {
    const m = this.messages.get(messageId);
    if (!m) throw new Error(`no message ${messageId}`);
    m.status = 'pending';
    m.nextAttemptAt = now;
    delete m.lockedUntil;
  }

  async claimDue(now: Date, limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
    const due = [...this.messages.values()]
      .filter((m) => m.status === 'pending' && m.nextAttemptAt <= now && (!m.lockedUntil || m.lockedUntil <= now))
      .filter((m) => this.endpoints.get(m.endpointId)?.enabled === true)
      .sort((a, b) => a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime())
      .slice(0, limit);
    for (const m of due) m.lockedUntil = new Date(now.getTime() + leaseMs);
    return due.map((m) => ({ message: { ...m }, endpoint: { ...this.endpoints.get(m.endpointId)! } }));
  }

  async complete(attempt: AttemptRecord, effect: AttemptEffect): Promise<void> {
    const m = this.messages.get(attempt.messageId);
    if (!m) throw new Error(`no message ${attempt.messageId}`);
    this.attempts.push(attempt);
    m.attempts = attempt.attempt;
    m.status = effect.status;
    delete m.lockedUntil;
    if (effect.status === 'pending') m.nextAttemptAt = effect.nextAttemptAt;
    if (effect.status === 'failed' && effect.disableEndpoint) {
      const e = this.endpoints.get(attempt.endpointId);
      if (e) {
        e.enabled = false;
        e.disabledReason = effect.disableEndpoint.reason;
      }
    }
  }
}

export interface DispatcherConfig {
  store: OutboxStore;
  /** clock (tests drive it) */
  now?: () => Date;
  deliver?: DeliverFn;
  schedule?: readonly number[];
  /** per-delivery timeout (default 10 s) */
  timeoutMs?: number;
  /** messages claimed per round (default 20) */
  batchSize?: number;
  /** deliveries in flight at once (default 4) */
  concurrency?: number;
  /** lease of a claimed message (default: 2 timeouts + 30 s) */
  leaseMs?: number;
  /** admin setting: let webhooks reach private addresses (tests on loopback) */
  allowPrivate?: boolean;
  resolve?: Resolver;
  /** errors of a polling round in start() (store unreachable...); the loop keeps going */
  onError?: (error: unknown) => void;
}

export interface DispatchSummary {
  claimed: number;
  succeeded: number;
  retried: number;
  failed: number;
  disabled: number;
}

export class OutboxDispatcher {
  private readonly now: () => Date;
  private readonly deliver: DeliverFn;
  private readonly schedule: readonly number[];
  /** runOnce every interval (start/stop) */
  private readonly loop = new PollingLoop(() => this.runOnce(), (e: unknown) => this.config.onError?.(e));

  constructor(private readonly config: DispatcherConfig) {
    this.now = config.now ?? (() => new Date());
    this.deliver = config.deliver ?? defaultDeliver;
    this.schedule = config.schedule ?? DEFAULT_RETRY_SCHEDULE_MS;
  }

  /** One round: claim due messages, deliver them, record each attempt and its effect. */
  async runOnce(): Promise<DispatchSummary> {
    const timeoutMs = this.config.timeoutMs ?? 10_000;
    const claimed = await this.config.store.claimDue(this.now(), this.config.batchSize ?? 20, this.config.leaseMs ?? 2 * timeoutMs + 30_000);
    const summary: DispatchSummary = { claimed: claimed.length, succeeded: 0, retried: 0, failed: 0, disabled: 0 };
    const queue = [...claimed];
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const outcome = await this.attempt(c, timeoutMs);
        if (outcome === 'success') summary.succeeded++;
        else if (outcome === 'retry') summary.retried++;
        else if (outcome === 'disable') summary.disabled++;
        else summary.failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.concurrency ?? 4, claimed.length) }, worker));
    return summary;
  }

  private async attempt({ message, endpoint }: ClaimedMessage, timeoutMs: number): Promise<DeliveryOutcome> {
    const startedAt = this.now();
    const attempt = message.attempts + 1;
    const headers = signHeaders(message.id, startedAt, message.payload, endpoint.secrets);
    const result = await this.deliver({
      url: endpoint.url,
      body: message.payload,
      headers: { ...headers },
      timeoutMs,
      allowPrivate: this.config.allowPrivate === true,
      ...(this.config.resolve ? { resolve: this.config.resolve } : {}),
    });
    const { outcome, retryInMs } = classifyOutcome(result, attempt, this.schedule);
    const effect: AttemptEffect =
      outcome === 'success'
        ? { status: 'succeeded' }
        : outcome === 'retry'
          ? { status: 'pending', nextAttemptAt: new Date(this.now().getTime() + retryInMs!) }
          : outcome === 'disable'
            ? { status: 'failed', disableEndpoint: { reason: `HTTP 410 Gone on ${startedAt.toISOString()}` } }
            : { status: 'failed' };
    await this.config.store.complete(
      {
        messageId: message.id,
        endpointId: endpoint.id,
        attempt,
        startedAt,
        durationMs: result.durationMs,
        responseStatus: result.status ?? null,
        responseBody: result.responseBody ?? null,
        error: result.error?.message ?? null,
        errorKind: result.error?.kind ?? null,
        outcome,
      },
      effect,
    );
    return outcome;
  }

  /** Thin shell: poll every `intervalMs` until stop(). */
  start(intervalMs = 1_000): void {
    this.loop.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
