// Outgoing webhooks end to end: endpoints managed over the API (and their forbidden cases), outbox
// rows written in the event's transaction (submission create in the API, verdict in the worker's
// processor grading with the real engine), delivery by the worker's dispatcher to a
// loopback receiver (allowed by config), Standard Webhooks signatures, retries with an injected
// schedule, 410 disabling the endpoint, redeliver, the attempt log, secret rotation, SSRF guard.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PrismaOutboxStore, writeWebhookEvent } from '@kgrader/db';
import { OutboxDispatcher, verify } from '@kgrader/webhooks';
import { runWorker, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, waitFor, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { realGrader, startReceiver } from './lms-support.js';

/** a grading by the real engine (QEMU under TCG) takes 25-60 s on 2 cores */
const GRADING_MS = 240_000;

const neverLoads = fileURLToPath(new URL('../../../exercises/msgbuf/solutions/never-loads/msgbuf.c', import.meta.url));

let env: TestEnv;
let s: Seed;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let worker: RunningWorker | undefined;

const hooks = (courseId = s.courseId) => `/api/v1/courses/${courseId}/webhooks`;
const create = (path: string, events: string[], token = s.users.instructor.token) =>
  api(env, 'POST', hooks(), { token, json: { url: `${rx.base}${path}`, events } });
const deliveries = async (id: string) => (await api(env, 'GET', `${hooks()}/${id}/deliveries`, { token: s.users.instructor.token })).body as any[];
const at = (path: string) => rx.received.filter((r) => r.path === path);

/** The published algorithm, computed independently: v1,base64(HMAC-SHA256(base64-decoded secret, id.timestamp.body)). */
function expectedSignature(secret: string, id: string, timestamp: string, body: string): string {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

before(async () => {
  env = await startApi('lms_webhooks', { lms: { webhooksAllowPrivate: true } });
  s = await seed(env.db);
  rx = await startReceiver();
});

after(async () => {
  await worker?.shutdown();
  await rx?.close();
  await env?.close();
});

describe('webhook endpoints: forbidden cases', () => {
  let id: string;
  before(async () => {
    const r = await create('/forbidden', ['submission.created']);
    assert.equal(r.status, 201);
    id = r.body.id;
  });

  it('students and other courses\' instructors get 403 on every endpoint, unknown courses 404, no token 401', async () => {
    const body = { url: `${rx.base}/x`, events: ['submission.created'] };
    for (const token of [s.users.student1.token, s.users.otherInstructor.token, s.users.outsider.token]) {
      assert.equal((await api(env, 'POST', hooks(), { token, json: body })).status, 403);
      assert.equal((await api(env, 'GET', hooks(), { token })).status, 403);
      assert.equal((await api(env, 'PATCH', `${hooks()}/${id}`, { token, json: { rotateSecret: true } })).status, 403);
      assert.equal((await api(env, 'DELETE', `${hooks()}/${id}`, { token })).status, 403);
      assert.equal((await api(env, 'GET', `${hooks()}/${id}/deliveries`, { token })).status, 403);
      assert.equal((await api(env, 'POST', `${hooks()}/${id}/deliveries/msg_abc/redeliver`, { token })).status, 403);
    }
    assert.equal((await api(env, 'GET', hooks())).status, 401);
    assert.equal((await api(env, 'GET', hooks('00000000-0000-4000-8000-000000000000'), { token: s.users.instructor.token })).status, 404);
    // the other course's instructor reaching this endpoint through their own course: not found
    const viaOther = `${hooks(s.otherCourseId)}/${id}`;
    assert.equal((await api(env, 'GET', `${viaOther}/deliveries`, { token: s.users.otherInstructor.token })).status, 404);
    assert.equal((await api(env, 'DELETE', viaOther, { token: s.users.otherInstructor.token })).status, 404);
    assert.equal((await api(env, 'PATCH', viaOther, { token: s.users.otherInstructor.token, json: { enabled: false } })).status, 404);
    // nothing changed
    const list = await api(env, 'GET', hooks(), { token: s.users.instructor.token });
    assert.equal(list.body.find((e: any) => e.id === id).enabled, true);
  });

  it('create answers the secret once; list never shows it; delete removes it', async () => {
    const r = await create('/tmp', ['submission.graded']);
    assert.equal(r.status, 201);
    assert.match(r.body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const list = await api(env, 'GET', hooks(), { token: s.users.instructor.token });
    assert.ok(list.body.every((e: any) => e.secret === undefined));
    assert.equal((await api(env, 'DELETE', `${hooks()}/${r.body.id}`, { token: s.users.instructor.token })).status, 204);
    assert.equal((await api(env, 'GET', `${hooks()}/${r.body.id}/deliveries`, { token: s.users.instructor.token })).status, 404);
    await api(env, 'DELETE', `${hooks()}/${id}`, { token: s.users.instructor.token });
  });
});

describe('SSRF guard', () => {
  it('rejects private, loopback and link-local targets when not allowed by the admin setting', async () => {
    // an API with the admin setting at its default (off): config is fixed at start, never flipped
    const strict = await startApi('lms_webhooks_strict');
    try {
      const ss = await seed(strict.db);
      const strictHooks = `/api/v1/courses/${ss.courseId}/webhooks`;
      for (const url of ['http://127.0.0.1:9/x', 'http://10.1.2.3/x', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/x', 'http://localhost/x', 'http://192.168.0.10/hook']) {
        const r = await api(strict, 'POST', strictHooks, { token: ss.users.instructor.token, json: { url, events: ['submission.created'] } });
        assert.equal(r.status, 422, `${url}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.type, '/problems/webhook-url-rejected');
      }
      const ftp = await api(strict, 'POST', strictHooks, { token: ss.users.instructor.token, json: { url: 'ftp://example.com/x', events: ['submission.created'] } });
      assert.equal(ftp.status, 400);
      assert.equal(await strict.db.webhookEndpoint.count(), 0);
    } finally {
      await strict.close();
    }
  });

  it('the dispatcher refuses to deliver to a private address when not allowed: the message fails at once, visibly, not retried for a day', async () => {
    const ep = await create('/ssrf', ['regrade.completed']);
    await writeWebhookEvent(env.db, s.courseId, 'regrade.completed', { submissionId: 'none' });
    const d = new OutboxDispatcher({ store: new PrismaOutboxStore(env.db), allowPrivate: false, schedule: [60_000] });
    const sum = await d.runOnce();
    assert.equal(sum.claimed, 1);
    assert.equal(sum.failed, 1);
    assert.equal(sum.retried, 0);
    assert.equal(at('/ssrf').length, 0, 'no request left');
    const [a] = await deliveries(ep.body.id);
    assert.equal(a.outcome, 'failed');
    assert.equal(a.responseStatus, null);
    assert.match(a.error, /loopback/);
    const msg = await env.db.webhookMessage.findFirstOrThrow({ where: { endpointId: ep.body.id } });
    assert.equal(msg.status, 'failed');
    assert.equal(msg.attempts, 1);
    assert.equal((await d.runOnce()).claimed, 0, 'nothing left to retry');
    await api(env, 'DELETE', `${hooks()}/${ep.body.id}`, { token: s.users.instructor.token });
  });

  it('URLs with credentials are refused (create and update), and never listed', async () => {
    const r = await api(env, 'POST', hooks(), { token: s.users.instructor.token, json: { url: `${rx.base.replace('http://', 'http://user:hunter2@')}/cred`, events: ['submission.created'] } });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.type, '/problems/webhook-url-rejected');
    assert.match(r.body.detail, /credentials/);
    assert.doesNotMatch(JSON.stringify(r.body), /hunter2/);
    const ok = await create('/cred', ['submission.created']);
    const patch = await api(env, 'PATCH', `${hooks()}/${ok.body.id}`, { token: s.users.instructor.token, json: { url: `${rx.base.replace('http://', 'http://:token@')}/cred` } });
    assert.equal(patch.status, 422);
    // a row stored before URLs with credentials were refused is listed without them
    await env.db.webhookEndpoint.update({ where: { id: ok.body.id }, data: { url: `${rx.base.replace('http://', 'http://legacy:s3cret@')}/cred` } });
    const list = await api(env, 'GET', hooks(), { token: s.users.instructor.token });
    const row = list.body.find((e: any) => e.id === ok.body.id);
    assert.equal(row.url, `${rx.base}/cred`);
    assert.doesNotMatch(JSON.stringify(list.body), /s3cret|legacy/);
    assert.equal(await env.db.webhookEndpoint.count({ where: { url: { contains: 'hunter2' } } }), 0);
    await api(env, 'DELETE', `${hooks()}/${ok.body.id}`, { token: s.users.instructor.token });
  });
});

describe('deliveries from the outbox', { timeout: 600_000 }, () => {
  const ep: Record<string, { id: string; secret: string }> = {};
  let submissionId: string;

  before(async () => {
    for (const [path, events] of [
      ['/ok', ['submission.created', 'submission.graded']],
      ['/flaky', ['submission.created']],
      ['/gone', ['submission.created']],
    ] as const) {
      const r = await create(path, [...events]);
      assert.equal(r.status, 201);
      ep[path] = { id: r.body.id, secret: r.body.secret };
    }
    rx.plan('/flaky', [500, 503, 502]);
    rx.plan('/gone', [410]);
    worker = await runWorker({
      config: testWorkerConfig(env, {
        workerId: 'lms-webhooks',
        retry: { attempts: 2, backoffMs: 100 },
        shutdownGraceMs: 1_000,
        heartbeat: { intervalMs: 10_000, staleSeconds: 45 },
        // loopback receiver allowed by config; the retry schedule injected (ms instead of minutes)
        lms: { webhooks: { allowPrivate: true, timeoutMs: 2_000, pollMs: 50, schedule: [100, 100, 100, 100] } },
      }),
      grader: realGrader(),
      logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    });
  });

  it('submission.created is in the outbox as soon as the submission is accepted (same transaction)', async () => {
    const r = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: await readFile(neverLoads) }]);
    assert.equal(r.status, 202);
    submissionId = r.body.id;
    const rows = await env.db.webhookMessage.findMany({ where: { eventType: 'submission.created' } });
    assert.equal(rows.length, 3, 'one row per subscribed endpoint');
    const body = JSON.parse(rows[0]!.payload);
    assert.equal(body.type, 'submission.created');
    assert.equal(body.data.submissionId, submissionId);
    assert.equal(body.data.userId, s.users.student1.id);
  });

  it('signs with the published algorithm (Standard Webhooks v1 HMAC-SHA256)', async () => {
    const [got] = await waitFor('delivery to /ok', async () => (at('/ok').length >= 1 ? at('/ok') : null));
    const id = got!.headers['webhook-id'] as string;
    const ts = got!.headers['webhook-timestamp'] as string;
    const sig = got!.headers['webhook-signature'] as string;
    assert.match(id, /^msg_[0-9a-f]{32}$/);
    assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60);
    assert.equal(sig, expectedSignature(ep['/ok']!.secret, id, ts, got!.body));
    assert.deepEqual(verify(got!.body, got!.headers, [ep['/ok']!.secret]), { id, timestamp: Number(ts) });
    assert.throws(() => verify(got!.body.replace('submission', 'Submission'), got!.headers, [ep['/ok']!.secret]));
    assert.equal(got!.headers['content-type'], 'application/json');
  });

  it('a receiver failing 3 times then succeeding gets exactly one successful delivery, every attempt listed', async () => {
    await waitFor('flaky delivered', async () => at('/flaky').some((r) => r.status === 200), 20_000);
    await new Promise((r) => setTimeout(r, 500)); // nothing more must come
    const got = at('/flaky');
    assert.deepEqual(got.map((r) => r.status), [500, 503, 502, 200]);
    assert.equal(new Set(got.map((r) => r.headers['webhook-id'])).size, 1, 'one message id across attempts');
    const list = await deliveries(ep['/flaky']!.id);
    assert.deepEqual(list.map((a) => [a.attempt, a.outcome, a.responseStatus]), [
      [4, 'success', 200],
      [3, 'retry', 502],
      [2, 'retry', 503],
      [1, 'retry', 500],
    ]);
    assert.equal(list.filter((a) => a.outcome === 'success').length, 1);
    const msg = await env.db.webhookMessage.findFirstOrThrow({ where: { endpointId: ep['/flaky']!.id } });
    assert.equal(msg.status, 'succeeded');
    assert.equal(msg.attempts, 4);
  });

  it('410 Gone disables the endpoint', async () => {
    const e = await waitFor('endpoint disabled', async () => {
      const l = await api(env, 'GET', hooks(), { token: s.users.instructor.token });
      const e = l.body.find((x: any) => x.id === ep['/gone']!.id);
      return e && !e.enabled ? e : null;
    });
    assert.match(e.disabledReason, /410/);
    const list = await deliveries(ep['/gone']!.id);
    assert.deepEqual(list.map((a) => [a.outcome, a.responseStatus]), [['disable', 410]]);
    assert.equal(at('/gone').length, 1);
  });

  it('submission.graded comes from the verdict transaction of the worker', async () => {
    const got = await waitFor('graded event', async () => at('/ok').find((r) => JSON.parse(r.body).type === 'submission.graded'), GRADING_MS);
    const body = JSON.parse(got.body);
    assert.equal(body.data.submissionId, submissionId);
    const stored = await env.db.submission.findUniqueOrThrow({ where: { id: submissionId } });
    assert.equal(body.data.verdict, 'fail', 'the real engine fails a module that never loads');
    assert.equal(body.data.verdict, stored.verdict);
    assert.equal(body.data.score, stored.score);
    assert.equal(body.data.maxScore, 100);
    assert.equal(body.data.attempt, 1);
    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: submissionId } });
    assert.equal(sub.status, 'done');
    // only /ok subscribes to submission.graded
    assert.equal(await env.db.webhookMessage.count({ where: { eventType: 'submission.graded' } }), 1);
  });

  it('redeliver sends a message again and keeps its attempt history', async () => {
    const [last] = await deliveries(ep['/flaky']!.id);
    const before = at('/flaky').length;
    const r = await api(env, 'POST', `${hooks()}/${ep['/flaky']!.id}/deliveries/${last.messageId}/redeliver`, { token: s.users.instructor.token });
    assert.equal(r.status, 202);
    await waitFor('redelivered', async () => at('/flaky').length === before + 1);
    const list = await deliveries(ep['/flaky']!.id);
    assert.equal(list.length, 5);
    assert.deepEqual([list[0].attempt, list[0].outcome], [5, 'success']);
    assert.equal((await api(env, 'POST', `${hooks()}/${ep['/flaky']!.id}/deliveries/msg_unknown/redeliver`, { token: s.users.instructor.token })).status, 404);
    // a disabled endpoint must be re-enabled first
    const gone = await env.db.webhookMessage.findFirstOrThrow({ where: { endpointId: ep['/gone']!.id } });
    assert.equal((await api(env, 'POST', `${hooks()}/${ep['/gone']!.id}/deliveries/${gone.id}/redeliver`, { token: s.users.instructor.token })).status, 409);
    const re = await api(env, 'PATCH', `${hooks()}/${ep['/gone']!.id}`, { token: s.users.instructor.token, json: { enabled: true } });
    assert.equal(re.body.enabled, true);
    assert.equal((await api(env, 'POST', `${hooks()}/${ep['/gone']!.id}/deliveries/${gone.id}/redeliver`, { token: s.users.instructor.token })).status, 202);
    await waitFor('gone redelivered', async () => at('/gone').length === 2);
  });

  it('a rotated secret: deliveries carry both signatures while the previous secret is valid', async () => {
    const old = ep['/ok']!.secret;
    const r = await api(env, 'PATCH', `${hooks()}/${ep['/ok']!.id}`, { token: s.users.instructor.token, json: { rotateSecret: true } });
    assert.equal(r.status, 200);
    assert.match(r.body.secret, /^whsec_/);
    assert.notEqual(r.body.secret, old);
    const n = at('/ok').length;
    const [last] = await deliveries(ep['/ok']!.id);
    await api(env, 'POST', `${hooks()}/${ep['/ok']!.id}/deliveries/${last.messageId}/redeliver`, { token: s.users.instructor.token });
    const got = await waitFor('delivery after rotation', async () => at('/ok')[n]);
    const sigs = (got.headers['webhook-signature'] as string).split(' ');
    assert.equal(sigs.length, 2);
    verify(got.body, got.headers, [r.body.secret]);
    verify(got.body, got.headers, [old]);
  });
});
