// Queue and worker lifecycle with the fake grader (no VM): SSE to the verdict, infrastructure
// retries, stats, priority lanes for bulk regrades, the reconciler after Redis lost its jobs,
// graceful shutdown releasing a running job.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gradingJobId } from '@kgrader/db';
import { fakeGrader, reconcile, runWorker, type RunningWorker, type WorkerConfig } from '@kgrader/worker';
import { pino } from 'pino';
import { api, loadMsgbuf, readEvents, REDIS_URL, seed, startApi, submit, waitFor, wipePrefix, type Seed, type TestEnv } from './helpers.js';

let env: TestEnv;
let s: Seed;
const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const grader = fakeGrader(async () => loadMsgbuf());

function workerConfig(over: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    databaseUrl: env.dbUrl,
    redisUrl: REDIS_URL,
    queuePrefix: env.prefix,
    concurrency: 1,
    workerId: `test:${process.pid}`,
    retry: { attempts: 3, backoffMs: 50 },
    lockMs: 5_000,
    stalledIntervalMs: 5_000,
    shutdownGraceMs: 5_000,
    reconcile: { intervalMs: 0, queuedGraceSeconds: 0, activeGraceSeconds: 0 },
    ...over,
  };
}
const src = (markers: string) => [{ name: 'msgbuf.c', content: `// ${markers}\nint x;\nint y;\n` }];
const status = async (id: string) => (await env.db.submission.findUniqueOrThrow({ where: { id } })).status;

before(async () => {
  env = await startApi('lifecycle');
  s = await seed(env.db);
});
after(() => env.close());

describe('with a running worker', () => {
  let w: RunningWorker;
  before(async () => {
    w = await runWorker({ config: workerConfig(), grader, logger });
  });
  after(() => w.shutdown());

  it('SSE shows each stage as it happens and closes on the verdict; results are stored', async () => {
    const r = await submit(env, s.assignmentId, s.users.student1.token, src('FAKE_SLEEP_MS=300 FAKE_VERDICT=fail FAKE_FINDING'));
    assert.equal(r.status, 202);
    const events = await readEvents(env, r.body.id, s.users.student1.token);
    const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
    for (const st of ['queued', 'building', 'booting', 'running', 'analyzing']) assert.ok(statuses.includes(st), `saw ${st} in ${statuses}`);
    const last = events[events.length - 1]!;
    assert.equal(last.event, 'verdict');
    assert.equal(last.data.verdict, 'fail');
    assert.equal(events.filter((e) => e.event === 'verdict').length, 1);
    const ids = events.map((e) => Number(e.id));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'event ids increase');

    const d = await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: s.users.student1.token });
    assert.equal(d.body.status, 'done');
    assert.equal(d.body.verdict, 'fail');
    assert.equal(d.body.maxScore, 100);
    assert.ok(d.body.tests.length > 3);
    assert.equal(d.body.findings[0].kind, 'kasan');
    assert.deepEqual(d.body.findings[0].sourceLines[0], { file: 'msgbuf.c', line: 3, function: 'msgbuf_read', source: 'copy_to_user(buf, msg, len + 1);' });
    assert.equal(d.body.topFinding, 'KASAN: slab-out-of-bounds Read in msgbuf_read');
    const logs = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/logs`, { token: s.users.student1.token });
    assert.equal(logs.body.buildLog, 'fake build log');
    // a stream opened after the verdict replays it and closes at once
    const again = await readEvents(env, r.body.id, s.users.student1.token, 5_000);
    assert.equal(again[again.length - 1]!.event, 'verdict');
  });

  it('an infrastructure error is retried with backoff and not charged; the final verdict is stored once', async () => {
    const r = await submit(env, s.assignmentId, s.users.student2.token, src('FAKE_ERROR_TIMES=2 retry-me'));
    const events = await readEvents(env, r.body.id, s.users.student2.token);
    assert.equal(events.at(-1)!.data.verdict, 'pass');
    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id }, include: { runs: { orderBy: { attempt: 'asc' } } } });
    assert.equal(sub.attemptCount, 3);
    assert.deepEqual(sub.runs.map((x) => x.status), ['error', 'error', 'finished']);
    assert.equal(sub.runs.filter((x) => x.status === 'finished').length, 1);
    assert.equal(sub.verdict, 'pass');
  });

  it('after the tries are used up the submission ends in status error (not a student verdict)', async () => {
    const r = await submit(env, s.assignmentId, s.users.student1.token, src('FAKE_VERDICT=error always'));
    const events = await readEvents(env, r.body.id, s.users.student1.token);
    assert.equal(events.at(-1)!.data.status, 'error');
    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id } });
    assert.equal(sub.status, 'error');
    assert.equal(sub.attemptCount, 3);
  });

  it('regrade one submission, then statistics and filters', async () => {
    const r = await submit(env, s.assignmentId, s.users.student1.token, src('FAKE_VERDICT=pass regrade'));
    await readEvents(env, r.body.id, s.users.student1.token);
    const rg = await api(env, 'POST', `/api/v1/submissions/${r.body.id}/regrade`, { token: s.users.instructor.token });
    assert.equal(rg.status, 202);
    const events = await readEvents(env, r.body.id, s.users.instructor.token);
    assert.equal(events.at(-1)!.event, 'verdict');
    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id } });
    assert.equal(sub.generation, 2);
    assert.equal(sub.reason, 'regrade');
    assert.equal(await env.db.auditEvent.count({ where: { action: 'submission.regrade', targetId: r.body.id } }), 1);

    const st = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/stats`, { token: s.users.instructor.token });
    assert.equal(st.status, 200);
    assert.equal(st.body.students, 2);
    assert.equal(st.body.histogram.length, 10);
    assert.ok(st.body.passRate !== null);
    const list = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?verdict=fail&findingKind=kasan`, { token: s.users.instructor.token });
    assert.equal(list.body.items.length, 1);
    // pagination
    const p1 = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?limit=2`, { token: s.users.instructor.token });
    assert.equal(p1.body.items.length, 2);
    const p2 = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?limit=2&cursor=${p1.body.nextCursor}`, { token: s.users.instructor.token });
    assert.ok(p2.body.items.length >= 1);
    assert.ok(!p2.body.items.some((i: any) => p1.body.items.some((j: any) => j.id === i.id)));
  });
});

describe('priority lanes', () => {
  it('live submissions dequeue before a bulk regrade that was queued earlier', async () => {
    // grade a few submissions, then queue a bulk regrade and a live submission with no worker running
    const w = await runWorker({ config: workerConfig(), grader, logger });
    const ids: string[] = [];
    for (const u of [s.users.student1, s.users.student2]) {
      const r = await submit(env, s.assignmentId, u.token, src(`bulk-${u.id}`));
      ids.push(r.body.id);
      await readEvents(env, r.body.id, u.token);
    }
    await w.shutdown();
    const bulk = await api(env, 'POST', `/api/v1/assignments/${s.assignmentId}/regrade`, { token: s.users.instructor.token, json: { scope: 'latest' } });
    assert.equal(bulk.status, 202);
    assert.ok(bulk.body.enqueued >= 2);
    const live = await submit(env, s.assignmentId, s.users.instructor.token, src('live-one'));
    const w2 = await runWorker({ config: workerConfig(), grader, logger });
    try {
      await waitFor('all graded', async () => (await env.db.submission.count({ where: { status: { in: ['queued', 'building', 'booting', 'running', 'analyzing'] } } })) === 0, 30_000);
    } finally {
      await w2.shutdown();
    }
    const runs = await env.db.gradingRun.findMany({ where: { generation: { gte: 1 }, startedAt: { gte: new Date(Date.now() - 60_000) } }, orderBy: { startedAt: 'asc' } });
    const after = runs.filter((r) => r.submissionId === live.body.id || r.reason === 'bulk_regrade');
    assert.equal(after[0]!.submissionId, live.body.id, 'the live submission ran first');
  });
});

describe('reconciler', () => {
  it('re-enqueues submissions whose jobs Redis lost, and they get graded', async () => {
    const a = await submit(env, s.assignmentId, s.users.student1.token, src('lost-1'));
    const b = await submit(env, s.assignmentId, s.users.instructor.token, src('lost-2'));
    // Redis restarts empty: every key of this deployment's queue is gone
    assert.ok((await wipePrefix(env.redis, env.prefix)) > 0);
    assert.equal(await env.deps.queue.getJob(gradingJobId(a.body.id, 1)), undefined);
    const r = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: { attempts: 3, backoffMs: 50 }, queuedGraceSeconds: 0, activeGraceSeconds: 0 });
    assert.ok(r.requeued.includes(a.body.id) && r.requeued.includes(b.body.id));
    // a second pass finds live jobs and adds nothing
    const again = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: { attempts: 3, backoffMs: 50 }, queuedGraceSeconds: 0, activeGraceSeconds: 0 });
    assert.equal(again.requeued.length, 0);
    const w = await runWorker({ config: workerConfig(), grader, logger });
    try {
      await waitFor('graded', async () => (await status(a.body.id)) === 'done' && (await status(b.body.id)) === 'done', 20_000);
    } finally {
      await w.shutdown();
    }
  });
  it('a submission committed without a job (crash between insert and enqueue) is picked up by the worker\'s reconciler loop', async () => {
    const sub = await env.db.submission.create({
      data: { assignmentId: s.assignmentId, userId: s.users.student2.id, sha256: 'x', files: { create: [] } },
    });
    await env.db.blob.upsert({ where: { sha256: 'f'.repeat(64) }, create: { sha256: 'f'.repeat(64), size: 7, content: new Uint8Array(Buffer.from('int z;\n')) }, update: {} });
    await env.db.submissionFile.create({ data: { submissionId: sub.id, name: 'msgbuf.c', sha256: 'f'.repeat(64), size: 7 } });
    const w = await runWorker({ config: workerConfig({ reconcile: { intervalMs: 200, queuedGraceSeconds: 0, activeGraceSeconds: 60 } }), grader, logger });
    try {
      await waitFor('graded by reconciler', async () => (await status(sub.id)) === 'done', 20_000);
    } finally {
      await w.shutdown();
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM-style shutdown aborts a long grading after the grace period and hands the job back', async () => {
    const w = await runWorker({ config: workerConfig({ shutdownGraceMs: 300 }), grader, logger });
    const r = await submit(env, s.assignmentId, s.users.student1.token, src('FAKE_SLEEP_MS=60000 long'));
    await waitFor('running', async () => (await status(r.body.id)) === 'running', 10_000);
    await w.shutdown();
    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id }, include: { runs: true } });
    assert.equal(sub.status, 'queued');
    assert.deepEqual(sub.runs.map((x) => x.status), ['abandoned']);
    const job = await env.deps.queue.getJob(gradingJobId(r.body.id, 1));
    assert.ok(job);
    assert.ok(['delayed', 'waiting', 'prioritized'].includes(await job.getState()), await job.getState());
    assert.equal(job.attemptsMade, 0, 'a release does not spend a try');
    // cancel it so later tests are not disturbed
    await env.db.submission.update({ where: { id: r.body.id }, data: { status: 'cancelled' } });
    await job.remove();
  });
});
