import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  classifyOutcome,
  DEFAULT_RETRY_SCHEDULE_MS,
  deliver,
  generateSecret,
  MemoryOutboxStore,
  nextRetryDelay,
  OutboxDispatcher,
  outboxMessagesFor,
  verify,
  type WebhookEndpoint,
} from '../src/index.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback; `plan[path]` lists the statuses to answer, then 200. */
let server: Server;
let base: string;
const received: Received[] = [];
const plan = new Map<string, number[]>();

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path === '/hang') return; // never answers
      const status = plan.get(path)?.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : `nope ${status}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function setup(path: string, opts: { schedule?: number[]; allowPrivate?: boolean } = {}) {
  const t0 = new Date('2026-03-01T12:00:00Z');
  let now = t0.getTime();
  const store = new MemoryOutboxStore();
  const endpoint: WebhookEndpoint = { id: `ep${path}`, url: `${base}${path}`, secrets: [generateSecret()], events: ['submission.graded'], enabled: true };
  store.addEndpoint(endpoint);
  const dispatcher = new OutboxDispatcher({
    store,
    now: () => new Date(now),
    allowPrivate: opts.allowPrivate ?? true,
    timeoutMs: 2_000,
    ...(opts.schedule ? { schedule: opts.schedule } : {}),
  });
  const event = (n: number) =>
    outboxMessagesFor({ type: 'submission.graded', data: { submissionId: `s${n}`, score: n }, at: new Date(now) }, [
      endpoint,
      { id: 'other', events: ['submission.created'], enabled: true },
    ]);
  return { store, endpoint, dispatcher, event, advance: (ms: number) => (now += ms), t0 };
}

describe('outbox dispatcher against a loopback receiver', () => {
  it('a receiver failing 3 times then succeeding gets exactly one successful delivery after retries', async () => {
    const { store, endpoint, dispatcher, event, advance } = setup('/flaky');
    plan.set('/flaky', [500, 503, 502]);
    const msgs = event(1);
    assert.equal(msgs.length, 1, 'only the subscribed endpoint gets a row');
    store.enqueue(msgs);
    const id = msgs[0]!.id;

    assert.deepEqual(await dispatcher.runOnce(), { claimed: 1, succeeded: 0, retried: 1, failed: 0, disabled: 0 });
    assert.equal((await dispatcher.runOnce()).claimed, 0, 'not due before its retry time');
    advance(4_999);
    assert.equal((await dispatcher.runOnce()).claimed, 0);
    advance(1);
    assert.equal((await dispatcher.runOnce()).retried, 1); // attempt 2 at +5 s
    advance(300_000);
    assert.equal((await dispatcher.runOnce()).retried, 1); // attempt 3 at +5 min
    advance(1_800_000);
    assert.equal((await dispatcher.runOnce()).succeeded, 1); // attempt 4 at +30 min
    advance(86_400_000);
    assert.equal((await dispatcher.runOnce()).claimed, 0, 'never sent again');

    const got = received.filter((r) => r.path === '/flaky');
    assert.equal(got.length, 4);
    assert.equal(new Set(got.map((r) => r.headers['webhook-id'])).size, 1, 'same webhook-id on every attempt');
    assert.deepEqual(
      got.map((r) => Number(r.headers['webhook-timestamp']) - Number(got[0]!.headers['webhook-timestamp'])),
      [0, 5, 305, 2105],
      'each attempt is signed at its own time',
    );
    for (const r of got) {
      const ts = Number(r.headers['webhook-timestamp']) * 1000;
      assert.equal(verify(r.body, r.headers as Record<string, string>, endpoint.secrets, { now: ts }).id, id);
      assert.equal(r.headers['content-type'], 'application/json');
    }
    assert.deepEqual(JSON.parse(got[0]!.body), { type: 'submission.graded', timestamp: '2026-03-01T12:00:00.000Z', data: { submissionId: 's1', score: 1 } });

    const attempts = store.attempts.filter((a) => a.messageId === id);
    assert.deepEqual(attempts.map((a) => [a.attempt, a.responseStatus, a.outcome]), [
      [1, 500, 'retry'],
      [2, 503, 'retry'],
      [3, 502, 'retry'],
      [4, 200, 'success'],
    ]);
    assert.equal(attempts.filter((a) => a.outcome === 'success').length, 1);
    assert.equal(attempts[0]!.responseBody, 'nope 500');
    assert.equal(store.messages.get(id)!.status, 'succeeded');
    assert.equal(store.messages.get(id)!.attempts, 4);
  });

  it('a 410 disables the endpoint; its other messages are no longer delivered', async () => {
    const { store, dispatcher, event, endpoint, advance } = setup('/gone');
    plan.set('/gone', [410]);
    store.enqueue(event(1));
    assert.equal((await dispatcher.runOnce()).disabled, 1);
    const ep = store.endpoints.get(endpoint.id)!;
    assert.equal(ep.enabled, false);
    assert.match(ep.disabledReason ?? '', /410/);
    store.enqueue(event(2));
    advance(60_000);
    assert.equal((await dispatcher.runOnce()).claimed, 0);
    assert.equal(received.filter((r) => r.path === '/gone').length, 1);
    assert.deepEqual(store.attempts.map((a) => a.outcome), ['disable']);
  });

  it('gives up when the schedule is exhausted, and a manual redeliver sends it again', async () => {
    const { store, dispatcher, event, advance } = setup('/down', { schedule: [1_000, 2_000] });
    plan.set('/down', [500, 500, 500]);
    const [m] = event(1);
    store.enqueue([m!]);
    await dispatcher.runOnce();
    advance(1_000);
    await dispatcher.runOnce();
    advance(2_000);
    assert.equal((await dispatcher.runOnce()).failed, 1);
    advance(100_000);
    assert.equal((await dispatcher.runOnce()).claimed, 0);
    assert.equal(store.messages.get(m!.id)!.status, 'failed');
    store.redeliver(m!.id, new Date(advance(0)));
    assert.equal((await dispatcher.runOnce()).succeeded, 1);
    assert.deepEqual(store.attempts.map((a) => a.outcome), ['retry', 'retry', 'failed', 'success']);
  });

  it('start()/stop(): the polling shell delivers on its own', async () => {
    const { store, dispatcher, event } = setup('/polled');
    store.enqueue(event(1));
    dispatcher.start(10);
    for (let i = 0; i < 200 && store.attempts.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await dispatcher.stop();
    assert.deepEqual(store.attempts.map((a) => a.outcome), ['success']);
  });

  it('records a blocked (SSRF) attempt without sending anything when private targets are not allowed, and fails the message at once', async () => {
    const { store, dispatcher, event } = setup('/private', { allowPrivate: false });
    store.enqueue(event(1));
    const sum = await dispatcher.runOnce();
    assert.equal(sum.failed, 1);
    assert.equal(sum.retried, 0);
    assert.equal([...store.messages.values()][0]!.status, 'failed');
    assert.equal(received.filter((r) => r.path === '/private').length, 0);
    const [a] = store.attempts;
    assert.equal(a!.errorKind, 'blocked');
    assert.equal(a!.outcome, 'failed');
    assert.equal(a!.responseStatus, null);
    assert.match(a!.error!, /loopback/);
  });
});

describe('delivery', () => {
  it('times out quickly on a receiver that never answers', async () => {
    const r = await deliver({ url: `${base}/hang`, body: '{}', headers: {}, timeoutMs: 200, allowPrivate: true });
    assert.equal(r.error?.kind, 'timeout');
    assert.ok(r.durationMs >= 190 && r.durationMs < 2_000, String(r.durationMs));
  });

  it('connects to the address it checked: one DNS answer, Host header kept', async () => {
    let lookups = 0;
    const port = new URL(base).port;
    const r = await deliver({
      url: `http://hooks.example.test:${port}/pinned?x=1`,
      body: '{"a":1}',
      headers: { 'webhook-id': 'msg_x' },
      allowPrivate: true,
      resolve: async () => {
        lookups++;
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    assert.equal(r.status, 200);
    assert.equal(lookups, 1);
    const got = received.filter((x) => x.path === '/pinned?x=1').at(-1)!;
    assert.equal(got.headers.host, `hooks.example.test:${port}`);
    assert.equal(got.body, '{"a":1}');
  });

  it('does not follow redirects', async () => {
    plan.set('/redirect', [302]);
    const r = await deliver({ url: `${base}/redirect`, body: '{}', headers: {}, allowPrivate: true });
    assert.equal(r.status, 302);
    assert.equal(classifyOutcome(r, 1).outcome, 'retry');
  });
});

describe('retry schedule and outcome classification (pure)', () => {
  it('spans about a day in 8 attempts', () => {
    const total = DEFAULT_RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    assert.ok(total > 24 * 3600_000 && total < 30 * 3600_000, String(total));
    assert.equal(nextRetryDelay(1), 5_000);
    assert.equal(nextRetryDelay(7), 36_000_000);
    assert.equal(nextRetryDelay(8), null);
  });

  it('2xx success, 410 disable, SSRF-blocked fails at once, everything else retry until exhausted', () => {
    assert.deepEqual(classifyOutcome({ status: 204 }, 1), { outcome: 'success' });
    assert.deepEqual(classifyOutcome({ status: 410 }, 1), { outcome: 'disable' });
    assert.deepEqual(classifyOutcome({ status: 404 }, 2), { outcome: 'retry', retryInMs: 300_000 });
    assert.deepEqual(classifyOutcome({}, 3), { outcome: 'retry', retryInMs: 1_800_000 });
    assert.deepEqual(classifyOutcome({ status: 500 }, 8), { outcome: 'failed' });
    // a policy refusal does not change with time: no day of retries
    assert.deepEqual(classifyOutcome({ error: { kind: 'blocked' } }, 1), { outcome: 'failed' });
    // a DNS failure or a timeout may heal
    assert.deepEqual(classifyOutcome({ error: { kind: 'dns' } }, 1), { outcome: 'retry', retryInMs: 5_000 });
    assert.deepEqual(classifyOutcome({ error: { kind: 'timeout' } }, 1), { outcome: 'retry', retryInMs: 5_000 });
  });
});
