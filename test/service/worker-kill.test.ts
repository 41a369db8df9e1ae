// A real worker process (apps/worker's `main`, the real engine, QEMU under it) SIGKILLed while its
// job is in the `running` stage: its QEMU dies with it (no orphan VM keeps the CPU), the job runs
// again on another real worker and exactly one final verdict is stored.
// Skipped when the grading kernel has not been built (`npm run setup`).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  kernelMissing,
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

describe('worker killed mid-run', { skip: kernelMissing ?? false, timeout: 8 * 60_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  const children: ChildProcess[] = [];

  /** The production worker entry point, configured by its environment like in a deployment. */
  async function startWorker(id: string): Promise<ChildProcess> {
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
    // the VM must go with its worker (a parent-death signal): give the kernel a moment to deliver it
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
    // SIGKILL leaves the worker no chance to clean its work folder; tidy up after it
    await rm(workDir, { recursive: true, force: true });

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
});
