// Issue 8, reliability, without booting VMs (the worker-kill test does it with QEMU):
// - submitting while Redis is down or hung answers 202 within a second (the committed row is
//   enqueued later by the reconciler), a retry without Idempotency-Key during the outage makes no
//   duplicate, and the SSE stream answers 503 instead of hanging — against a redis-server this test
//   starts, stops, freezes and restarts itself (the shared Redis is never touched);
// - run heartbeats: a grading run whose worker stopped heart-beating is taken over within seconds
//   when its job is gone, one whose heartbeat is fresh is left alone, and the worker that was
//   thought dead stops its grading once it sees the run taken over;
// - the one retry layer: a generation gets at most GRADING_ATTEMPTS failed runs, whichever way its
//   job came back (bullmq retries, a worker dying, the reconciler), then it ends `error` visibly.
// The grader here is a stand-in for the engine (PostgreSQL and Redis are real): it answers by the
// submitted text (INFRA: an infrastructure error; HANG: grades until aborted; else a pass).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enqueueGrading, gradingJobId } from '@kgrader/db';
import { loadExercise, shippedExercisesDir } from '@kgrader/engine';
import type { GradeResult } from '@kgrader/schemas';
import { reconcile, runWorker, type Grader, type RunningWorker, type WorkerConfig } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, waitFor, wipePrefix, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const RETRY = { attempts: 3, backoffMs: 50 };

/** Grades by the submitted text; remembers how each grading ended. */
function standInGrader(): Grader & { calls: { text: string; aborted: boolean }[] } {
  const calls: { text: string; aborted: boolean }[] = [];
  return {
    calls,
    loadExercise: (slug) => loadExercise(slug, shippedExercisesDir),
    async grade({ exercise, sourceDir, onProgress, signal }) {
      const text = await readFile(join(sourceDir, 'msgbuf.c'), 'utf8');
      const call = { text, aborted: false };
      calls.push(call);
      onProgress('building', 'building');
      const base = {
        exercise: exercise.slug,
        build: { ok: true, log: '', diagnostics: [] },
        findings: [],
        timings: { build: 0, boot: 0, run: 0, analyze: 0, total: 0 },
      };
      if (text.includes('HANG') && calls.filter((c) => c.text === text).length === 1) {
        onProgress('running', 'running the tests');
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        call.aborted = true;
        return { ...base, verdict: 'error', score: 0, maxScore: 1, summary: 'aborted', tests: [], infrastructureError: 'aborted' } satisfies GradeResult;
      }
      if (text.includes('INFRA')) {
        return { ...base, verdict: 'error', score: 0, maxScore: 1, summary: 'no VM', tests: [], infrastructureError: 'QEMU could not start (stand-in)' } satisfies GradeResult;
      }
      return {
        ...base,
        verdict: 'pass',
        score: 1,
        maxScore: 1,
        summary: 'all tests passed',
        tests: [{ name: 'load', status: 'pass', points: 1, maxPoints: 1, output: '' }],
      } satisfies GradeResult;
    },
  };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A throwaway redis-server of this test (no persistence: a restart comes back empty, as after a crash). */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('redis-server ready', async () => out.includes('Ready to accept connections') || child.exitCode !== null, 10_000, 20);
  assert.equal(child.exitCode, null, out);
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  await once(child, 'exit');
}

const timed = async <T>(p: Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const v = await p;
  return [v, performance.now() - t0];
};

describe('submitting while Redis is down or hung', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let redis: ChildProcess;
  let port: number;

  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
    env = await startApi('redis_down', {}, { redisUrl: `redis://127.0.0.1:${port}` });
    s = await seed(env.db);
  });
  after(async () => {
    await env?.close();
    if (redis) await stopRedis(redis);
  });

  it('Redis stopped: 202 within a second, the row committed and queued; a retry without a key gives the same submission; SSE answers 503; once Redis is back the reconciler enqueues it', async () => {
    const before = await submit(env, s.assignmentId, s.users.student2.token, [{ name: 'msgbuf.c', content: 'int up;\n' }]);
    assert.equal(before.status, 202);
    await stopRedis(redis);

    const files = [{ name: 'msgbuf.c', content: 'int while_redis_is_down;\n' }];
    const [r, ms] = await timed(submit(env, s.assignmentId, s.users.student1.token, files));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.ok(ms < 1000, `answered in ${Math.round(ms)} ms`);
    const row = await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id } });
    assert.equal(row.status, 'queued');
    assert.equal(await env.db.submissionEvent.count({ where: { submissionId: r.body.id, status: 'queued' } }), 1, 'its first event is stored with it');

    // the client never got that answer and sends the same files again, without a key
    const [again, ms2] = await timed(submit(env, s.assignmentId, s.users.student1.token, files));
    assert.equal(again.status, 202);
    assert.ok(ms2 < 1000, `answered in ${Math.round(ms2)} ms`);
    assert.equal(again.body.id, r.body.id, 'no duplicate');
    assert.equal(again.body.replayed, true);
    assert.equal(await env.db.submission.count({ where: { userId: s.users.student1.id, sha256: row.sha256 } }), 1);

    // what needs only PostgreSQL still works; what needs Redis says so at once
    assert.equal((await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: s.users.student1.token })).status, 200);
    const [ev, ms3] = await timed(api(env, 'GET', `/api/v1/submissions/${r.body.id}/events`, { token: s.users.student1.token }));
    assert.equal(ev.status, 503, JSON.stringify(ev.body));
    assert.match(ev.headers.get('content-type') ?? '', /problem\+json/);
    assert.ok(ms3 < 3000, `SSE refused in ${Math.round(ms3)} ms`);
    assert.equal((await api(env, 'GET', '/readyz')).status, 503);
    const [m, ms4] = await timed(api(env, 'GET', '/metrics'));
    assert.equal(m.status, 200, 'metrics without the queue figures');
    assert.ok(ms4 < 1500, `metrics in ${Math.round(ms4)} ms`);

    // Redis comes back empty: the reconciler enqueues every committed submission without a job
    redis = await startRedis(port);
    await waitFor('the API reconnected', async () => env.redis.status === 'ready', 15_000, 50);
    const rec = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: RETRY, queuedGraceSeconds: 0, heartbeatStaleSeconds: 45 });
    assert.deepEqual(rec.requeued.sort(), [before.body.id, r.body.id].sort());
    const job = await env.deps.queue.getJob(gradingJobId(r.body.id, 1));
    assert.ok(job, 'enqueued after the outage');
    assert.deepEqual(job.data, { submissionId: r.body.id, generation: 1, reason: 'submit' });
    assert.equal(job.opts.attempts, RETRY.attempts, 'the shared retry policy');
  });

  it('Redis hung (the process frozen, the connection open): still 202 within a second', async () => {
    await waitFor('the API reconnected', async () => env.redis.status === 'ready', 15_000, 50);
    redis.kill('SIGSTOP');
    try {
      const [r, ms] = await timed(submit(env, s.assignmentId, s.users.instructor.token, [{ name: 'msgbuf.c', content: 'int while_redis_hangs;\n' }]));
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.ok(ms < 1000, `answered in ${Math.round(ms)} ms`);
      assert.equal((await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id } })).status, 'queued');
    } finally {
      redis.kill('SIGCONT');
    }
  });
});

describe('heartbeats and the retry cap (stand-in grader, real PostgreSQL and Redis)', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  const workers: RunningWorker[] = [];
  const config = (over: Partial<WorkerConfig> = {}): WorkerConfig => testWorkerConfig(env, {
    workerId: 'w',
    retry: RETRY,
    heartbeat: { intervalMs: 200, staleSeconds: 2 },
    ...over,
  });
  const start = async (c: WorkerConfig, g: Grader) => {
    const w = await runWorker({ config: c, grader: g, logger });
    workers.push(w);
    return w;
  };
  const runsOf = (id: string) => env.db.gradingRun.findMany({ where: { submissionId: id }, orderBy: { attempt: 'asc' } });

  before(async () => {
    env = await startApi('heartbeats', { retry: RETRY });
    s = await seed(env.db);
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.shutdown()));
    await env?.close();
  });

  it('a run whose worker stopped heart-beating is taken over once its job is gone; a fresh heartbeat is left alone; the old grading stops', async () => {
    const grader = standInGrader();
    // worker 1 beats every second: slow enough to freeze its heartbeat between two beats
    await start(config({ workerId: 'w1', heartbeat: { intervalMs: 1_000, staleSeconds: 2 } }), grader);
    const r = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: 'int HANG;\n' }]);
    const sid = r.body.id as string;
    const run1 = await waitFor('grading on w1', async () => (await runsOf(sid)).find((x) => x.status === 'running' && x.workerId === 'w1'), 10_000, 50);
    const first = run1.heartbeatAt.getTime();
    const beat = await waitFor('a heartbeat', async () => {
      const x = await env.db.gradingRun.findUniqueOrThrow({ where: { id: run1.id } });
      return x.heartbeatAt.getTime() > first && x;
    }, 5_000, 20);

    // Redis lost its data: the job is gone, but the heartbeat is fresh, so nothing is taken over
    await wipePrefix(env.redis, env.prefix);
    const fresh = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: RETRY, queuedGraceSeconds: 30, heartbeatStaleSeconds: 2 });
    assert.deepEqual(fresh.requeued, [], 'a live run is not graded twice');

    // the worker "dies": its heartbeat stops (here: set back right after a beat); without a job, the run is taken over
    await env.db.gradingRun.update({ where: { id: run1.id }, data: { heartbeatAt: new Date(beat.heartbeatAt.getTime() - 60_000) } });
    const stale = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: RETRY, queuedGraceSeconds: 30, heartbeatStaleSeconds: 2 });
    assert.deepEqual(stale.requeued, [sid]);
    await start(config({ workerId: 'w2' }), grader);
    const done = await waitFor('graded by w2', async () => {
      const x = await env.db.submission.findUniqueOrThrow({ where: { id: sid } });
      return x.status === 'done' && x;
    }, 20_000, 50);
    assert.equal(done.verdict, 'pass');
    const runs = await runsOf(sid);
    assert.deepEqual(runs.map((x) => [x.workerId, x.status]), [['w1', 'abandoned'], ['w2', 'finished']]);
    // w1 was alive after all: its next heartbeat found the run taken over and it stopped grading
    await waitFor('w1 stopped its grading', async () => grader.calls[0]!.aborted, 5_000, 50);
    assert.equal(await env.db.submissionEvent.count({ where: { submissionId: sid, type: 'verdict' } }), 1, 'one final verdict');
    assert.equal((await env.db.gradingRun.findUniqueOrThrow({ where: { id: run1.id } })).status, 'abandoned', 'w1 wrote nothing over it');
  });

  it('an infrastructure error is retried by bullmq with backoff, GRADING_ATTEMPTS runs at most, then the submission ends error visibly', async () => {
    await Promise.all(workers.splice(0).map((w) => w.shutdown()));
    const grader = standInGrader();
    await start(config({ workerId: 'w3' }), grader);
    const r = await submit(env, s.assignmentId, s.users.student2.token, [{ name: 'msgbuf.c', content: 'int INFRA;\n' }]);
    const sid = r.body.id as string;
    const sub = await waitFor('ends in error', async () => {
      const x = await env.db.submission.findUniqueOrThrow({ where: { id: sid } });
      return x.status === 'error' && x;
    }, 20_000, 50);
    assert.equal(sub.verdict, 'error');
    assert.match(sub.summary ?? '', /3 attempts failed \(last: QEMU could not start \(stand-in\)\)\. It is not tried again/);
    assert.deepEqual((await runsOf(sid)).map((x) => x.status), ['error', 'error', 'error']);
    const verdicts = await env.db.submissionEvent.findMany({ where: { submissionId: sid, type: 'verdict' } });
    assert.equal(verdicts.length, 1);
    assert.equal(verdicts[0]!.status, 'error');
    const job = await env.deps.queue.getJob(gradingJobId(sid, 1));
    assert.equal(await job!.getState(), 'completed', 'the cap ends the job: no more bullmq retries');

    // the job coming back anyway (a stalled copy, a reconciler race) grades nothing more
    await job!.remove();
    await enqueueGrading(env.deps.queue, { submissionId: sid, generation: 1, reason: 'submit' }, RETRY);
    await waitFor('the copy is done', async () => (await env.deps.queue.getJob(gradingJobId(sid, 1)))?.getState().then((st) => st === 'completed'), 10_000, 50);
    assert.equal((await runsOf(sid)).length, 3);
    assert.equal(grader.calls.length, 3, 'three VM attempts in all');
  });

  it('runs whose worker died count toward the cap (a submission that kills its worker is not retried for ever); runs released by a graceful shutdown do not', async () => {
    const grader = standInGrader();
    await Promise.all(workers.splice(0).map((w) => w.shutdown()));
    const mk = async (text: string, why: string) => {
      const content = Buffer.from(text);
      const sha = createHash('sha256').update(content).digest('hex');
      await env.db.blob.upsert({ where: { sha256: sha }, create: { sha256: sha, size: content.length, content: new Uint8Array(content) }, update: {} });
      const sub = await env.db.submission.create({
        data: { assignmentId: s.assignmentId, userId: s.users.student1.id, sha256: sha, status: 'running', attemptCount: 3, files: { create: [{ name: 'msgbuf.c', sha256: sha, size: content.length }] } },
      });
      for (let attempt = 1; attempt <= 3; attempt++) {
        await env.db.gradingRun.create({ data: { submissionId: sub.id, attempt, generation: 1, reason: 'submit', workerId: `dead-${attempt}`, status: 'abandoned', infrastructureError: why, finishedAt: new Date() } });
      }
      await enqueueGrading(env.deps.queue, { submissionId: sub.id, generation: 1, reason: 'submit' }, RETRY);
      return sub.id;
    };
    const killer = await mk('int killed_its_worker_three_times;\n', 'the worker running it stopped');
    const released = await mk('int released_three_times;\n', 'released: worker shut down');
    await start(config({ workerId: 'w4' }), grader);
    for (const id of [killer, released]) {
      await waitFor(`${id} finished`, async () => ['error', 'done'].includes((await env.db.submission.findUniqueOrThrow({ where: { id } })).status), 20_000, 50);
    }
    const k = await env.db.submission.findUniqueOrThrow({ where: { id: killer } });
    assert.equal(k.status, 'error');
    assert.match(k.summary ?? '', /3 attempts failed \(last: the worker running it stopped\)/);
    assert.equal((await runsOf(killer)).length, 3, 'no fourth VM');
    const rel = await env.db.submission.findUniqueOrThrow({ where: { id: released } });
    assert.equal(rel.status, 'done', 'released runs are not failures');
    assert.equal(rel.verdict, 'pass');
    assert.deepEqual(grader.calls.map((c) => c.text), ['int released_three_times;\n']);
  });
});

describe('the one retry policy', () => {
  it('API and worker parse the same definition (GradingRetryEnv): same defaults, same variables', async () => {
    const { ApiEnv, apiConfigFromEnv } = await import('@kgrader/api');
    const { WorkerEnv, workerConfigFromEnv } = await import('@kgrader/worker');
    const env = { GRADING_ATTEMPTS: '2', GRADING_BACKOFF_MS: '750' };
    assert.deepEqual(apiConfigFromEnv(ApiEnv.parse(env)).retry, { attempts: 2, backoffMs: 750 });
    assert.deepEqual(workerConfigFromEnv(WorkerEnv.parse(env)).retry, { attempts: 2, backoffMs: 750 });
    assert.deepEqual(apiConfigFromEnv(ApiEnv.parse({})).retry, workerConfigFromEnv(WorkerEnv.parse({})).retry);
    assert.ok(Object.isFrozen(apiConfigFromEnv(ApiEnv.parse({})).retry));
    assert.throws(() => WorkerEnv.parse({ GRADING_ATTEMPTS: '0' }));
    assert.throws(() => ApiEnv.parse({ GRADING_ATTEMPTS: '0' }));
  });
});

describe('one name for the exercises folder', () => {
  it('KGRADER_EXERCISES_DIR sets it for the API and the worker as for the CLI; the old EXERCISES_DIR is refused, not ignored', async () => {
    const { ApiEnv, apiConfigFromEnv } = await import('@kgrader/api');
    const { WorkerEnv, engineConfigFromEnv } = await import('@kgrader/worker');
    const env = { KGRADER_EXERCISES_DIR: '/srv/kgrader/exercises' };
    assert.equal(apiConfigFromEnv(ApiEnv.parse(env)).exercisesDir, '/srv/kgrader/exercises');
    assert.equal(engineConfigFromEnv(WorkerEnv.parse(env)).exercisesDir, '/srv/kgrader/exercises');
    for (const parse of [(e: object) => ApiEnv.parse(e), (e: object) => WorkerEnv.parse(e)]) {
      assert.throws(() => parse({ EXERCISES_DIR: '/srv/kgrader/exercises' }), /EXERCISES_DIR is now KGRADER_EXERCISES_DIR/);
    }
  });
});

describe('configuration is parsed once and frozen', () => {
  it('the API and worker configs cannot be changed after parsing, at any depth', async () => {
    const { ApiEnv, apiConfigFromEnv } = await import('@kgrader/api');
    const { WorkerEnv, workerConfigFromEnv } = await import('@kgrader/worker');
    const api = apiConfigFromEnv(ApiEnv.parse({}));
    const worker = workerConfigFromEnv(WorkerEnv.parse({}));
    assert.throws(() => Object.assign(api, { publicUrl: 'http://elsewhere' }), TypeError);
    assert.throws(() => Object.assign(api.lms!, { webhooksAllowPrivate: true }), TypeError);
    assert.throws(() => Object.assign(worker.heartbeat, { staleSeconds: 1 }), TypeError);
    assert.throws(() => (worker.lms!.passback!.schedule as number[]).push(1), TypeError);
  });
});
