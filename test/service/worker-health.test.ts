// The worker's health gate, pins and metrics (issue 11): a worker that cannot grade (the real
// engine's doctor on an empty kernel cache) or would grade on another kernel than the service pins
// takes no jobs and its /healthz says why; moving the pin on purpose moves the fleet; every run
// records the kernel key, harness and exercise hashes; a result from another kernel is never stored
// as a verdict; /metrics counts jobs, verdicts, VM starts and stage durations. Stand-in graders
// with a real environment check where no VM is needed, the real engine's doctor where it is the
// point. ~20 s.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { engineConfigFromEnv, engineGrader, runWorker, type Grader, type RunningWorker, type WorkerConfig } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, waitFor, workerEnv, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { standInGrader } from './stand-in.js';

const logger = pino({ level: 'silent' });

/** A stand-in grader on a kernel with this key: its results say so, as the engine's do. */
function onKernel(kernelKey: string): Grader {
  const base = standInGrader();
  return {
    ...base,
    grade: async (o) => ({ ...(await base.grade(o)), environment: { kernelKey, harnessHash: 'h0123456789abcde', exerciseHash: 'e0123456789abcde' }, timings: { build: 1, boot: 0.5, run: 3, analyze: 0.1, total: 4.6, vmStart: 'restore' } }),
    doctor: async () => [{ name: 'bubblewrap sandbox', ok: true, detail: 'stand-in', required: true }],
    environment: async () => ({ kernelKeys: { kasan: kernelKey } }),
  };
}

async function health(w: RunningWorker): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${w.httpPort}/healthz`);
  return { status: res.status, body: await res.json() };
}

describe('worker health gate, environment pins and metrics', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  const workers: RunningWorker[] = [];
  let emptyCache: string;
  const config = (workerId: string, over: Partial<NonNullable<WorkerConfig['health']>> = {}): WorkerConfig =>
    testWorkerConfig(env, { workerId, health: { recheckMs: 500, repin: false, http: { host: '127.0.0.1', port: 0 }, ...over } });
  const start = async (workerId: string, grader: Grader, over: Partial<NonNullable<WorkerConfig['health']>> = {}) => {
    const w = await runWorker({ config: config(workerId, over), grader, logger });
    workers.push(w);
    return w;
  };
  const stop = async (w: RunningWorker) => {
    await w.shutdown();
    workers.splice(workers.indexOf(w), 1);
  };

  before(async () => {
    env = await startApi('worker_health');
    s = await seed(env.db);
    emptyCache = await mkdtemp(join(tmpdir(), 'kgrader-test-health-cache-'));
  });
  after(async () => {
    for (const w of [...workers]) await w.shutdown();
    await env?.close();
    await rm(emptyCache, { recursive: true, force: true });
  });

  it('a worker whose engine cannot grade (no kernel in its cache) takes no jobs; /healthz says why', async () => {
    const w = await start('no-kernel', engineGrader(engineConfigFromEnv(workerEnv({ KGRADER_CACHE_DIR: emptyCache }))));
    const h = await health(w);
    assert.equal(h.status, 503);
    assert.equal(h.body.ready, false);
    const kernel = h.body.checks.find((c: { name: string }) => c.name === 'grading kernel');
    assert.equal(kernel.ok, false, JSON.stringify(h.body.checks));
    assert.match(kernel.detail, /not built|npm run setup/);
    // the sandbox and QEMU checks ran for real on this host
    assert.equal(h.body.checks.find((c: { name: string }) => c.name === 'bubblewrap sandbox').ok, true);
    assert.equal(h.body.checks.find((c: { name: string }) => c.name === 'qemu').ok, true);
    assert.equal(w.worker.isRunning(), false, 'an unhealthy worker does not take jobs');
    const metrics = await (await fetch(`http://127.0.0.1:${w.httpPort}/metrics`)).text();
    assert.match(metrics, /kgrader_worker_ready\{[^}]*\} 0/);
    assert.match(metrics, /kgrader_worker_health_check\{[^}]*check="grading kernel"[^}]*\} 0/);
    await stop(w);
  });

  it('the first worker pins its kernel key; a worker on another kernel refuses until the pin moves on purpose', async () => {
    const a = await start('kernel-a', onKernel('6.1.0-1-kasan-aaaaaaaaaaaaaaaa'));
    let h = await health(a);
    assert.equal(h.status, 200, JSON.stringify(h.body));
    assert.match(h.body.checks.find((c: { name: string }) => c.name === 'kernel pin (kasan)').detail, /pinned by this worker/);
    assert.equal((await env.db.environmentPin.findUniqueOrThrow({ where: { name: 'kernel:kasan' } })).value, '6.1.0-1-kasan-aaaaaaaaaaaaaaaa');
    assert.equal(a.worker.isRunning(), true);

    const b = await start('kernel-b', onKernel('6.1.0-2-kasan-bbbbbbbbbbbbbbbb'));
    h = await health(b);
    assert.equal(h.status, 503);
    const pin = h.body.checks.find((c: { name: string }) => c.name === 'kernel pin (kasan)');
    assert.equal(pin.ok, false);
    assert.match(pin.detail, /6\.1\.0-2-kasan-b+ but the service grades on 6\.1\.0-1-kasan-a+ \(pinned by kernel-a\)/);
    assert.equal(b.worker.isRunning(), false);
    await stop(b);

    // an upgraded fleet: its first worker moves the pin; the old worker stops taking jobs at its next check
    const c = await start('kernel-c', onKernel('6.1.0-2-kasan-bbbbbbbbbbbbbbbb'), { repin: true });
    assert.equal((await health(c)).status, 200);
    await waitFor('the old worker to refuse', async () => (await health(a)).status === 503, 10_000);
    await waitFor('the old worker to pause', async () => a.worker.isPaused(), 5_000);
    await stop(a);
    await stop(c);
  });

  it('a run records what graded it; a result from another kernel than the pinned one is never a verdict', async () => {
    await env.db.environmentPin.deleteMany();
    const w = await start('recorder', onKernel('6.1.0-3-kasan-cccccccccccccccc'));
    const ok = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: 'int fine;\n' }]);
    assert.equal(ok.status, 202);
    const done = await waitFor('graded', async () => {
      const sub = await env.db.submission.findUniqueOrThrow({ where: { id: ok.body.id }, include: { runs: true } });
      return sub.status === 'done' ? sub : null;
    });
    assert.equal(done.runs.length, 1);
    assert.equal(done.runs[0]!.kernelKey, '6.1.0-3-kasan-cccccccccccccccc');
    assert.equal(done.runs[0]!.harnessHash, 'h0123456789abcde');
    assert.equal(done.runs[0]!.exerciseHash, 'e0123456789abcde');
    assert.ok(done.runs[0]!.exerciseVersionId, 'the exercise version the assignment pins');
    const detail = await api(env, 'GET', `/api/v1/submissions/${ok.body.id}`, { token: s.users.student1.token });
    assert.equal(detail.status, 200);
    assert.deepEqual(detail.body.run.environment, { kernelKey: '6.1.0-3-kasan-cccccccccccccccc', harnessHash: 'h0123456789abcde', exerciseHash: 'e0123456789abcde', exerciseVersionId: done.runs[0]!.exerciseVersionId });

    const metrics = await (await fetch(`http://127.0.0.1:${w.httpPort}/metrics`)).text();
    assert.match(metrics, /kgrader_worker_jobs_total\{[^}]*outcome="graded"[^}]*\} 1/);
    assert.match(metrics, /kgrader_worker_verdicts_total\{[^}]*verdict="pass"[^}]*\} 1/);
    assert.match(metrics, /kgrader_worker_vm_starts_total\{[^}]*kind="restore"[^}]*\} 1/);
    assert.match(metrics, /kgrader_worker_stage_duration_seconds_count\{[^}]*stage="run"[^}]*\} 1/);
    assert.match(metrics, /kgrader_worker_vms_busy\{[^}]*\} 0/);
    // a worker whose kernel changed under it between two checks (its cache rebuilt): its check
    // still matches the pin, its results do not; they end as kgrader's error, never as a verdict
    const drifting = onKernel('6.1.0-3-kasan-cccccccccccccccc');
    const drifted = await start('drifted', { ...drifting, grade: async (o) => ({ ...(await drifting.grade(o)), environment: { kernelKey: '6.1.0-4-kasan-dddddddddddddddd', harnessHash: 'h', exerciseHash: 'e' } }) });
    await stop(w);
    const other = await submit(env, s.assignmentId, s.users.student2.token, [{ name: 'msgbuf.c', content: 'int other;\n' }]);
    assert.equal(other.status, 202);
    const ended = await waitFor('the retries to end', async () => {
      const sub = await env.db.submission.findUniqueOrThrow({ where: { id: other.body.id }, include: { runs: true } });
      return sub.status === 'error' ? sub : null;
    });
    assert.equal(ended.verdict, 'error');
    assert.equal(ended.runs.length, 2, 'the retry cap');
    for (const r of ended.runs) {
      assert.equal(r.status, 'error');
      assert.match(r.infrastructureError ?? '', /graded on kernel 6\.1\.0-4-kasan-d+ but the service grades on 6\.1\.0-3-kasan-c+/);
      assert.equal(r.kernelKey, null);
    }
    const dm = await (await fetch(`http://127.0.0.1:${drifted.httpPort}/metrics`)).text();
    assert.match(dm, /kgrader_worker_jobs_total\{[^}]*outcome="infrastructure-error"[^}]*\} 1/);
    assert.match(dm, /kgrader_worker_jobs_total\{[^}]*outcome="gave-up"[^}]*\} 1/);
    await stop(drifted);
  });
});
