// Queue and worker lifecycle with the real worker and the real engine (sandboxed build, the
// KASAN/lockdep kernel under QEMU): SSE stages to the verdict, infrastructure faults retried with
// backoff (a real one: the worker's kernel cache is empty), final `error`, regrade, statistics,
// filters and pagination, priority lanes for bulk regrades, a graceful shutdown that finishes the
// current job and one that releases it, superseded submissions never graded, the reconciler after
// Redis lost the jobs. Gradings run one at a time (2 cores); never-loads (~25 s) is the cheap
// input where the verdict itself does not matter.
// Skipped when the grading kernel has not been built (`npm run setup`).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gradingJobId } from '@kgrader/db';
import { cacheDirOf, engineConfigFromEnv, engineGrader, reconcile, runWorker, type RunningWorker, type WorkerConfig } from '@kgrader/worker';
import { pino } from 'pino';
import {
  api,
  kernelMissing,
  qemuMentioning,
  qemuUnder,
  readEvents,
  seed,
  solution,
  solutionPath,
  startApi,
  submit,
  waitFor,
  wipePrefix,
  workDirOf,
  workerEnv,
  type Seed,
  type TestEnv,
  testWorkerConfig,
} from './helpers.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const MIN = 60_000;
/** the API's retry policy for infrastructure errors: 3 tries, backoff 1.5 s then 3 s */
const RETRY = { attempts: 3, backoffMs: 1500 };

describe('service lifecycle with the real engine', { skip: kernelMissing ?? false, timeout: 20 * MIN }, () => {
  let env: TestEnv;
  let s: Seed;
  /** the production engine configuration, read from the environment as the worker does */
  const realCache = cacheDirOf(workerEnv());
  const grader = engineGrader(engineConfigFromEnv(workerEnv()));
  /** a worker whose kernel cache is an empty folder: the engine answers `error` (KernelNotBuiltError) */
  let faultCache: string;
  let faultyGrader: ReturnType<typeof engineGrader>;
  let buggyId: string;
  let healedId: string;

  function workerConfig(over: Partial<WorkerConfig> = {}): WorkerConfig {
    return testWorkerConfig(env, {
      workerId: `test:${process.pid}`,
      retry: RETRY,
      shutdownGraceMs: 5 * MIN,
      reconcile: { intervalMs: 0, queuedGraceSeconds: 0 },
      heartbeat: { intervalMs: 1_000, staleSeconds: 45 },
      ...over,
    });
  }
  /** every worker a test starts; all are shut down at the end even when a test fails midway */
  const started: RunningWorker[] = [];
  const startWorker = async (config: WorkerConfig, g = grader) => {
    const w = await runWorker({ config, grader: g, logger });
    started.push(w);
    return w;
  };
  const status = async (id: string) => (await env.db.submission.findUniqueOrThrow({ where: { id } })).status;
  const runsOf = (id: string) => env.db.gradingRun.findMany({ where: { submissionId: id }, orderBy: { attempt: 'asc' } });

  before(async () => {
    env = await startApi('lifecycle', { retry: RETRY });
    s = await seed(env.db);
    faultCache = await mkdtemp(join(tmpdir(), 'kgrader-test-empty-cache-'));
    faultyGrader = engineGrader(engineConfigFromEnv(workerEnv({ KGRADER_CACHE_DIR: faultCache })));
  });
  after(async () => {
    await Promise.all(started.map((w) => w.shutdown()));
    await env?.close();
    if (faultCache) await rm(faultCache, { recursive: true, force: true });
  });

  describe('with a running worker', () => {
    let w: RunningWorker;
    before(async () => {
      w = await startWorker(workerConfig());
    });
    after(() => w?.shutdown());

    it('SSE shows each real stage as it happens and closes on the verdict; results and the KASAN finding are stored', { timeout: 6 * MIN }, async () => {
      const files = await solution('buggy-off-by-one-read');
      const r = await submit(env, s.assignmentId, s.users.student1.token, files);
      assert.equal(r.status, 202);
      buggyId = r.body.id;
      const events = await readEvents(env, r.body.id, s.users.student1.token, 6 * MIN);
      const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
      assert.deepEqual([...new Set(statuses)], ['queued', 'building', 'booting', 'running', 'analyzing'], 'the stages, in order');
      // progress inside a stage arrives as log events (the harness reports each test)
      assert.ok(events.some((e) => e.event === 'log' && /test \w+/.test(e.data.message)), 'per-test progress');
      const last = events.at(-1)!;
      assert.equal(last.event, 'verdict');
      assert.equal(last.data.verdict, 'fail');
      assert.equal(events.filter((e) => e.event === 'verdict').length, 1);
      const ids = events.map((e) => Number(e.id));
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'event ids increase');

      const d = await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: s.users.student1.token });
      assert.equal(d.body.status, 'done');
      assert.equal(d.body.verdict, 'fail');
      assert.equal(d.body.maxScore, 100);
      assert.ok(d.body.score < 100);
      assert.ok(d.body.tests.length > 3);
      assert.ok(d.body.tests.some((t: any) => t.status === 'fail'));
      const kasan = d.body.findings.find((f: any) => f.kind === 'kasan');
      assert.ok(kasan, JSON.stringify(d.body.findings.map((f: any) => f.title)));
      assert.match(kasan.title, /^KASAN: slab-out-of-bounds Read in msgbuf_read/);
      assert.equal(d.body.topFinding, kasan.title);
      // the report points at the student's copy_to_user line
      const lines = files[0]!.content.toString('utf8').split('\n');
      const copyLine = lines.findIndex((l) => l.includes('copy_to_user')) + 1;
      const top = kasan.sourceLines[0];
      assert.equal(top.file, 'msgbuf.c');
      assert.equal(top.line, copyLine, JSON.stringify(kasan.sourceLines));
      assert.equal(top.function, 'msgbuf_read');
      const logs = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/logs`, { token: s.users.student1.token });
      assert.match(logs.body.buildLog ?? '', /msgbuf/);
      assert.match(logs.body.console ?? '', /BUG: KASAN: slab-out-of-bounds in /);
      // a stream opened after the verdict replays it and closes at once
      const again = await readEvents(env, r.body.id, s.users.student1.token, 5_000);
      assert.equal(again.at(-1)!.event, 'verdict');
    });
  });

  describe('infrastructure faults (a worker whose kernel cache is empty)', () => {
    let w: RunningWorker;
    before(async () => {
      w = await startWorker(workerConfig({ workerId: 'faulty' }), faultyGrader);
    });
    after(() => w?.shutdown());

    it('after the tries are used up the submission ends in status error (not a student verdict)', { timeout: 2 * MIN }, async () => {
      const r = await submit(env, s.assignmentId, s.users.student2.token, await solution('never-loads'));
      const events = await readEvents(env, r.body.id, s.users.student2.token, 2 * MIN);
      const last = events.at(-1)!;
      assert.equal(last.event, 'verdict');
      assert.equal(last.data.status, 'error');
      // each retry announced itself; the student was never shown a verdict in between
      assert.equal(events.filter((e) => e.event === 'status' && /retrying/.test(e.data.message)).length, RETRY.attempts - 1);
      const sub = await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id } });
      assert.equal(sub.status, 'error');
      assert.equal(sub.attemptCount, RETRY.attempts);
      assert.match(sub.summary ?? '', /3 attempts failed .*not tried again/);
      const runs = await runsOf(r.body.id);
      assert.deepEqual(runs.map((x) => x.status), ['error', 'error', 'error']);
      for (const run of runs) assert.match(run.infrastructureError ?? '', /kernel/i, 'the engine could not find the grading kernel');
      // exponential backoff between tries: >= 1.5 s, then >= 3 s
      for (let i = 1; i < runs.length; i++) {
        const gap = runs[i]!.startedAt.getTime() - runs[i - 1]!.finishedAt!.getTime();
        assert.ok(gap >= RETRY.backoffMs * 2 ** (i - 1) - 100, `try ${i + 1} waited ${gap} ms`);
      }
      const d = await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: s.users.student2.token });
      assert.equal(d.body.status, 'error');
      assert.equal(d.body.score, null);
    });

    it('an infrastructure error is retried with backoff and not charged; once the fault heals the real verdict is stored once', { timeout: 4 * MIN }, async () => {
      const r = await submit(env, s.assignmentId, s.users.student2.token, await solution('never-loads'));
      healedId = r.body.id;
      const stream = readEvents(env, r.body.id, s.users.student2.token, 4 * MIN);
      await waitFor('the first try fails', async () => (await runsOf(r.body.id)).some((x) => x.status === 'error'), 30_000, 50);
      // the fault heals during the backoff: the kernel cache appears (as when a shared cache mounts late)
      for (const name of await readdir(realCache)) await symlink(join(realCache, name), join(faultCache, name));
      const events = await stream;
      assert.equal(events.at(-1)!.event, 'verdict');
      assert.equal(events.at(-1)!.data.verdict, 'fail', 'never-loads gets its real verdict');
      const sub = await env.db.submission.findUniqueOrThrow({ where: { id: r.body.id }, include: { runs: { orderBy: { attempt: 'asc' } } } });
      assert.equal(sub.attemptCount, 2);
      assert.deepEqual(sub.runs.map((x) => x.status), ['error', 'finished']);
      assert.ok(sub.runs[1]!.startedAt.getTime() - sub.runs[0]!.finishedAt!.getTime() >= RETRY.backoffMs - 100, 'waited the backoff');
      assert.equal(sub.verdict, 'fail');
      assert.equal(sub.currentRunId, sub.runs[1]!.id);
      assert.equal(await env.db.submissionEvent.count({ where: { submissionId: r.body.id, type: 'verdict' } }), 1);
      // the module refused to load: that is the student's verdict, found by the real kernel
      const d = await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: s.users.student2.token });
      assert.equal(d.body.tests[0].status, 'fail');
    });

    it('regrade one submission (a new generation, audited), then statistics, filters and pagination', { timeout: 4 * MIN }, async () => {
      const rg = await api(env, 'POST', `/api/v1/submissions/${healedId}/regrade`, { token: s.users.instructor.token });
      assert.equal(rg.status, 202);
      const events = await readEvents(env, healedId, s.users.instructor.token, 4 * MIN);
      assert.equal(events.at(-1)!.event, 'verdict');
      assert.equal(events.at(-1)!.data.verdict, 'fail');
      const sub = await env.db.submission.findUniqueOrThrow({ where: { id: healedId }, include: { runs: { orderBy: { attempt: 'asc' } } } });
      assert.equal(sub.generation, 2);
      assert.equal(sub.reason, 'regrade');
      assert.deepEqual(sub.runs.map((x) => [x.generation, x.status]), [[1, 'error'], [1, 'finished'], [2, 'finished']]);
      assert.equal(sub.currentRunId, sub.runs[2]!.id);
      assert.equal(await env.db.auditEvent.count({ where: { action: 'submission.regrade', targetId: healedId } }), 1);

      const st = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/stats`, { token: s.users.instructor.token });
      assert.equal(st.status, 200);
      assert.equal(st.body.students, 2);
      assert.equal(st.body.histogram.length, 10);
      assert.equal(st.body.passRate, 0, 'neither the off-by-one nor never-loads passes');
      assert.ok(st.body.topFindings.some((f: any) => /^KASAN: slab-out-of-bounds Read in msgbuf_read/.test(f.title)), JSON.stringify(st.body.topFindings));
      const list = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?verdict=fail&findingKind=kasan`, { token: s.users.instructor.token });
      assert.deepEqual(list.body.items.map((i: any) => i.id), [buggyId]);
      const errored = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?status=error`, { token: s.users.instructor.token });
      assert.equal(errored.status, 200);
      assert.equal(errored.body.items.length, 1);
      // pagination over the three submissions
      const p1 = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?limit=2`, { token: s.users.instructor.token });
      assert.equal(p1.body.items.length, 2);
      const p2 = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?limit=2&cursor=${p1.body.nextCursor}`, { token: s.users.instructor.token });
      assert.equal(p2.body.items.length, 1);
      assert.ok(!p2.body.items.some((i: any) => p1.body.items.some((j: any) => j.id === i.id)));
    });
  });

  describe('priority lanes and graceful shutdown', () => {
    let bulkIds: string[] = [];

    it('a live submission is picked before a bulk regrade queued earlier; shutdown lets the running grading finish', { timeout: 4 * MIN }, async () => {
      // no worker is running: queue a bulk regrade (low lane), then a live submission
      const bulk = await api(env, 'POST', `/api/v1/assignments/${s.assignmentId}/regrade`, { token: s.users.instructor.token, json: { scope: 'latest' } });
      assert.equal(bulk.status, 202);
      bulkIds = bulk.body.submissionIds;
      assert.deepEqual([...bulkIds].sort(), [buggyId, healedId].sort(), "each student's latest submission");
      const live = await submit(env, s.assignmentId, s.users.instructor.token, await solution('never-loads'));
      assert.equal(live.status, 202);

      const since = new Date();
      const w = await startWorker(workerConfig({ workerId: 'lanes' }));
      const first = await waitFor('the first job starts', () => env.db.gradingRun.findFirst({ where: { startedAt: { gte: since } }, orderBy: { startedAt: 'asc' } }), 30_000, 50);
      assert.equal(first.submissionId, live.body.id, 'the live submission ran first');
      // what SIGTERM does in the worker's main: no new jobs; the running grading finishes (grace 5 min)
      await w.shutdown();
      const sub = await env.db.submission.findUniqueOrThrow({ where: { id: live.body.id } });
      assert.equal(sub.status, 'done');
      assert.equal(sub.verdict, 'fail');
      const started = await env.db.gradingRun.findMany({ where: { startedAt: { gte: since } } });
      assert.deepEqual(started.map((x) => [x.submissionId, x.status]), [[live.body.id, 'finished']], 'nothing else was started');
      for (const id of bulkIds) assert.equal(await status(id), 'queued');
      assert.equal(await env.db.auditEvent.count({ where: { action: 'assignment.regrade_all' } }), 1);
    });

    it('shutdown after the grace period aborts a grading in the running stage (QEMU killed) and hands the job back untouched', { timeout: 4 * MIN }, async () => {
      const since = new Date();
      const w = await startWorker(workerConfig({ workerId: 'release', shutdownGraceMs: 500 }));
      const run = await waitFor('a bulk regrade starts', () => env.db.gradingRun.findFirst({ where: { startedAt: { gte: since } } }), 30_000, 50);
      assert.ok(bulkIds.includes(run.submissionId));
      await waitFor('running', async () => (await status(run.submissionId)) === 'running', 4 * MIN, 100);
      const vms = await qemuUnder(process.pid);
      assert.equal(vms.length, 1, 'the grading VM is up');
      const workDir = workDirOf(vms[0]!);
      await w.shutdown();
      const sub = await env.db.submission.findUniqueOrThrow({ where: { id: run.submissionId } });
      assert.equal(sub.status, 'queued');
      const released = await env.db.gradingRun.findUniqueOrThrow({ where: { id: run.id } });
      assert.equal(released.status, 'abandoned');
      assert.match(released.infrastructureError ?? '', /released/);
      assert.equal(await env.db.gradingRun.count({ where: { startedAt: { gte: since } } }), 1, 'no other job was started');
      const job = await env.deps.queue.getJob(gradingJobId(run.submissionId, sub.generation));
      assert.ok(job);
      assert.ok(['delayed', 'waiting', 'prioritized'].includes(await job.getState()), await job.getState());
      assert.equal(job.attemptsMade, 0, 'a release does not spend a try');
      assert.deepEqual(await qemuMentioning(workDir), [], 'the VM was stopped');
      await assert.rejects(readdir(workDir), 'the engine removed its work folder');
      // cancel the bulk regrades so later tests are not disturbed
      for (const b of await env.db.submission.findMany({ where: { id: { in: bulkIds } } })) {
        await env.db.submission.update({ where: { id: b.id }, data: { status: 'cancelled' } });
        await env.deps.queue.remove(gradingJobId(b.id, b.generation));
      }
    });
  });

  describe('reconciler', () => {
    it('a newer submission supersedes the older queued one; after Redis lost the jobs the reconciler re-enqueues only the live one; both it and a row committed without a job are graded once', { timeout: 5 * MIN }, async () => {
      const files = await solution('never-loads');
      const older = await submit(env, s.assignmentId, s.users.student1.token, files);
      // the same files again on purpose (a fresh Idempotency-Key: a new submission, not a retry of the first)
      const newer = await submit(env, s.assignmentId, s.users.student1.token, files, { 'idempotency-key': 'resubmit-1' });
      assert.notEqual(newer.body.id, older.body.id);
      assert.equal(await status(older.body.id), 'cancelled', 'superseded');
      assert.equal(await env.deps.queue.getJob(gradingJobId(older.body.id, 1)), undefined);
      // Redis restarts empty: every key of this deployment's queue is gone
      assert.ok((await wipePrefix(env.redis, env.prefix)) > 0);
      assert.equal(await env.deps.queue.getJob(gradingJobId(newer.body.id, 1)), undefined);
      const r = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: RETRY, queuedGraceSeconds: 0, heartbeatStaleSeconds: 0 });
      assert.deepEqual(r.requeued, [newer.body.id], 'the cancelled and finished submissions stay as they are');
      // a second pass finds a live job and adds nothing
      const again = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: RETRY, queuedGraceSeconds: 0, heartbeatStaleSeconds: 0 });
      assert.equal(again.requeued.length, 0);

      // a submission committed without a job (the API crashed between insert and enqueue)
      const content = await readFile(solutionPath('never-loads'));
      const sha = createHash('sha256').update(content).digest('hex');
      await env.db.blob.upsert({ where: { sha256: sha }, create: { sha256: sha, size: content.length, content: new Uint8Array(content) }, update: {} });
      const orphan = await env.db.submission.create({
        data: { assignmentId: s.assignmentId, userId: s.users.student2.id, sha256: sha, files: { create: [{ name: 'msgbuf.c', sha256: sha, size: content.length }] } },
      });

      // a real worker with its reconciler loop on grades both
      const w = await startWorker(workerConfig({ workerId: 'reconciled', reconcile: { intervalMs: 500, queuedGraceSeconds: 0 }, heartbeat: { intervalMs: 1_000, staleSeconds: 600 } }));
      try {
        for (const id of [newer.body.id, orphan.id]) {
          await waitFor(`${id} graded`, async () => (await status(id)) === 'done', 3 * MIN, 250);
        }
      } finally {
        await w.shutdown();
      }
      for (const id of [newer.body.id, orphan.id]) {
        const sub = await env.db.submission.findUniqueOrThrow({ where: { id }, include: { runs: true } });
        assert.equal(sub.verdict, 'fail');
        assert.deepEqual(sub.runs.map((x) => x.status), ['finished']);
        assert.equal(await env.db.submissionEvent.count({ where: { submissionId: id, type: 'verdict' } }), 1, 'one final verdict');
      }
      assert.equal(await env.db.gradingRun.count({ where: { submissionId: older.body.id } }), 0, 'the superseded submission was never graded');
      assert.equal(await status(older.body.id), 'cancelled');
    });
  });
});
