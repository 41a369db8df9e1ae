// A real worker process (apps/worker's `main`, the real engine, QEMU under it) SIGKILLed while its
// job is in the `running` stage: its QEMU dies with it (no orphan VM keeps the CPU), the job runs
// again on another real worker and exactly one final verdict is stored. Then the same with Redis
// losing its data too: the run's heartbeat goes stale and the reconciler (production defaults)
// starts the regrade within 2 minutes of the kill.
// Skipped when the grading kernel has not been built (`npm run setup`).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  kernelMissing,
  wipePrefix,
  qemuMentioning,
  qemuUnder,
  readEvents,
  REDIS_URL,
  seed,
  solution,
  startApi,
  submit,
  waitFor,
  workDirOf,
  type Proc,
  type Seed,
  type TestEnv,
} from './helpers.js';

const workerMain = fileURLToPath(new URL('../../../apps/worker/dist/src/main.js', import.meta.url));

describe('worker killed mid-run', { skip: kernelMissing ?? false, timeout: 14 * 60_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  const children: ChildProcess[] = [];

  /** The production worker entry point, configured by its environment like in a deployment. */
  async function startWorker(id: string, over: Record<string, string> = {}): Promise<ChildProcess> {
    const child = spawn(process.execPath, [workerMain], {
      env: {
        ...process.env,
        DATABASE_URL: env.dbUrl,
        REDIS_URL,
        QUEUE_PREFIX: env.prefix,
        WORKER_ID: id,
        WORKER_CONCURRENCY: '1',
        // a dead worker's job is taken over about this long after its last lock renewal
        JOB_LOCK_MS: '5000',
        STALLED_INTERVAL_MS: '2000',
        RECONCILE_INTERVAL_MS: '0',
        MIGRATE_ON_START: 'false',
        LOG_LEVEL: 'info',
        ...over,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (process.env['TEST_LOG_LEVEL']) process.stderr.write(d);
    });
    await waitFor(`worker ${id} ready`, async () => out.includes('kgrader worker started') || child.exitCode !== null, 30_000);
    assert.equal(child.exitCode, null, `worker ${id} exited at start:\n${out}`);
    return child;
  }

  /** the VM goes with its worker (a parent-death signal); the killed worker's work folder is tidied up after it */
  async function noOrphanVm(workDir: string): Promise<void> {
    let orphans: Proc[] = [];
    const deadline = Date.now() + 3_000;
    do {
      orphans = await qemuMentioning(workDir);
      if (orphans.length === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    } while (Date.now() < deadline);
    assert.deepEqual(
      orphans.map((p) => `${p.pid} (parent ${p.ppid}): ${p.cmdline.join(' ')}`),
      [],
      `no QEMU of the killed worker's grading (${workDir}) survives it`,
    );
    await rm(workDir, { recursive: true, force: true });
  }

  before(async () => {
    env = await startApi('kill');
    s = await seed(env.db);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await env?.close();
  });

  it('SIGKILL in the running stage: QEMU dies with the worker, the job runs again elsewhere, one final verdict', async () => {
    const w1 = await startWorker('w1');
    const r = await submit(env, s.assignmentId, s.users.student1.token, await solution('reference'));
    assert.equal(r.status, 202);
    const sid = r.body.id as string;
    // `running`: the grading kernel booted under QEMU and the harness is running the tests
    await waitFor('running on w1', async () => (await env.db.submission.findUniqueOrThrow({ where: { id: sid } })).status === 'running', 4 * 60_000, 200);
    const vms: Proc[] = await qemuUnder(w1.pid!);
    assert.equal(vms.length, 1, `one QEMU under worker w1 (found ${vms.map((p) => p.cmdline.join(' ')).join('\n')})`);
    const workDir = workDirOf(vms[0]!);

    w1.kill('SIGKILL');
    await once(w1, 'exit');
    await noOrphanVm(workDir);

    const stream = readEvents(env, sid, s.users.student1.token, 5 * 60_000);
    const w2 = await startWorker('w2');
    const events = await stream;
    assert.equal(events.at(-1)!.event, 'verdict');
    assert.equal(events.at(-1)!.data.verdict, 'pass', JSON.stringify(events.at(-1)));
    assert.equal(events.filter((e) => e.event === 'verdict').length, 1);

    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: sid }, include: { runs: { orderBy: { attempt: 'asc' } } } });
    assert.equal(sub.status, 'done');
    assert.equal(sub.verdict, 'pass');
    assert.equal(sub.score, 100);
    assert.equal(sub.attemptCount, 2);
    assert.deepEqual(sub.runs.map((x) => [x.workerId, x.status]), [['w1', 'abandoned'], ['w2', 'finished']]);
    assert.equal(sub.currentRunId, sub.runs[1]!.id);
    assert.equal(await env.db.submissionEvent.count({ where: { submissionId: sid, type: 'verdict' } }), 1, 'exactly one final verdict');
    const results = await env.db.testResult.findMany({ where: { run: { submissionId: sid } } });
    assert.ok(results.length > 3);
    assert.ok(results.every((t) => t.runId === sub.runs[1]!.id), 'only the finished run has results');
    assert.ok(results.every((t) => t.status === 'pass'));

    // the second worker shuts down cleanly on SIGTERM
    w2.kill('SIGTERM');
    const [code] = await once(w2, 'exit');
    assert.equal(code, 0);
  });

  it('SIGKILL and Redis losing its data: the stale heartbeat lets the reconciler start the regrade within 2 minutes (production defaults)', async () => {
    // production defaults: heartbeat every 10 s, stale after 45 s, reconciler every 15 s
    const defaults = { RECONCILE_INTERVAL_MS: '15000', JOB_LOCK_MS: '30000', STALLED_INTERVAL_MS: '30000' };
    const w3 = await startWorker('w3', defaults);
    const r = await submit(env, s.assignmentId, s.users.student2.token, await solution('reference'));
    assert.equal(r.status, 202);
    const sid = r.body.id as string;
    await waitFor('running on w3', async () => (await env.db.submission.findUniqueOrThrow({ where: { id: sid } })).status === 'running', 4 * 60_000, 200);
    const vms = await qemuUnder(w3.pid!);
    assert.equal(vms.length, 1);
    const workDir = workDirOf(vms[0]!);

    w3.kill('SIGKILL');
    const killedAt = Date.now();
    await once(w3, 'exit');
    await noOrphanVm(workDir);
    // Redis restarts empty: the job and its lock are gone, only PostgreSQL knows the submission is `running`
    assert.ok((await wipePrefix(env.redis, env.prefix)) > 0);

    const w4 = await startWorker('w4', defaults);
    const rerun = await waitFor(
      'the regrade starts',
      async () => env.db.gradingRun.findFirst({ where: { submissionId: sid, workerId: 'w4' } }),
      3 * 60_000,
      250,
    );
    const startedAfter = (rerun.startedAt.getTime() - killedAt) / 1000;
    assert.ok(startedAfter < 120, `the regrade started ${startedAfter.toFixed(1)} s after the kill`);
    console.log(`# regrade started ${startedAfter.toFixed(1)} s after the worker was killed and Redis emptied`);

    const events = await readEvents(env, sid, s.users.student2.token, 5 * 60_000);
    assert.equal(events.at(-1)!.event, 'verdict');
    assert.equal(events.at(-1)!.data.verdict, 'pass', JSON.stringify(events.at(-1)));
    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: sid }, include: { runs: { orderBy: { attempt: 'asc' } } } });
    assert.equal(sub.status, 'done');
    assert.deepEqual(sub.runs.map((x) => [x.workerId, x.status]), [['w3', 'abandoned'], ['w4', 'finished']]);
    assert.equal(await env.db.submissionEvent.count({ where: { submissionId: sid, type: 'verdict' } }), 1, 'exactly one final verdict');

    w4.kill('SIGTERM');
    const [code] = await once(w4, 'exit');
    assert.equal(code, 0);
  });
});
