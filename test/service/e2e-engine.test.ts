// The whole service with the real engine (QEMU + the sanitizer kernel): submit the reference and a
// buggy driver over HTTP, follow the SSE stream to the verdict, read the stored findings.
// Skipped when the grading kernel has not been built (`npm run setup`).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { locateKernel } from '@kgrader/engine';
import { cacheDirOf, engineConfigFromEnv, engineGrader, runWorker, WorkerEnv, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, readEvents, seed, startApi, submit, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';

const workerEnv = WorkerEnv.parse(process.env);
const kernel = await locateKernel(cacheDirOf(workerEnv)).then(
  () => null,
  (err: Error) => `grading kernel not built: ${err.message.split('\n')[0]}`,
);
const solution = (name: string) => fileURLToPath(new URL(`../../../exercises/msgbuf/solutions/${name}/msgbuf.c`, import.meta.url));

describe('real engine end to end', { skip: kernel ?? false, timeout: 15 * 60_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let w: RunningWorker;
  before(async () => {
    env = await startApi('e2e');
    s = await seed(env.db);
    w = await runWorker({
      config: testWorkerConfig(env, {
        workerId: 'e2e',
        retry: { attempts: 2, backoffMs: 1000 },
        shutdownGraceMs: 1000,
        heartbeat: { intervalMs: 10_000, staleSeconds: 45 },
      }),
      grader: engineGrader(engineConfigFromEnv(workerEnv)),
      logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    });
  });
  after(async () => {
    await w?.shutdown();
    await env?.close();
  });

  it('the reference driver passes, stage by stage over SSE', { timeout: 6 * 60_000 }, async () => {
    const r = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: await readFile(solution('reference')) }]);
    assert.equal(r.status, 202);
    const events = await readEvents(env, r.body.id, s.users.student1.token, 6 * 60_000);
    const stages = events.filter((e) => e.event === 'status').map((e) => e.data.status);
    for (const st of ['queued', 'building', 'booting', 'running', 'analyzing']) assert.ok(stages.includes(st), `stage ${st} in ${stages}`);
    assert.equal(events.at(-1)!.event, 'verdict');
    assert.equal(events.at(-1)!.data.verdict, 'pass', JSON.stringify(events.at(-1)));
    const d = await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: s.users.student1.token });
    assert.equal(d.body.score, 100);
    assert.deepEqual(d.body.findings, []);
    assert.ok(d.body.tests.every((t: any) => t.status === 'pass'));
  });

  it('an off-by-one read fails with a KASAN finding on the student\'s source line', { timeout: 6 * 60_000 }, async () => {
    const r = await submit(env, s.assignmentId, s.users.student2.token, [{ name: 'msgbuf.c', content: await readFile(solution('buggy-off-by-one-read')) }]);
    const events = await readEvents(env, r.body.id, s.users.student2.token, 6 * 60_000);
    assert.equal(events.at(-1)!.data.verdict, 'fail');
    const d = await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: s.users.student2.token });
    const kasan = d.body.findings.find((f: any) => f.kind === 'kasan');
    assert.ok(kasan, JSON.stringify(d.body.findings.map((f: any) => f.title)));
    assert.match(kasan.title, /out-of-bounds Read/);
    assert.ok(kasan.sourceLines.some((l: any) => l.file.endsWith('msgbuf.c') && l.line > 0), JSON.stringify(kasan.sourceLines));
    const logs = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/logs`, { token: s.users.student2.token });
    assert.match(logs.body.console ?? '', /KASAN/);
    const stats = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/stats`, { token: s.users.instructor.token });
    assert.equal(stats.body.passRate, 0.5);
    assert.deepEqual([stats.body.passRateOverTime.at(-1).rate, stats.body.passRateOverTime.at(-1).graded], [0.5, 2], JSON.stringify(stats.body.passRateOverTime));
    assert.ok(stats.body.topFindings.some((f: any) => /out-of-bounds Read/.test(f.title)));
  });
});
