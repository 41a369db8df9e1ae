// A worker SIGKILLed mid-run: the job runs again on another worker and exactly one final verdict is stored.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { readEvents, REDIS_URL, seed, startApi, submit, waitFor, type Seed, type TestEnv } from './helpers.js';

let env: TestEnv;
let s: Seed;
const children: ChildProcess[] = [];

async function startWorker(id: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/fake-worker.js', import.meta.url))], {
    env: {
      ...process.env,
      DATABASE_URL: env.dbUrl,
      REDIS_URL,
      QUEUE_PREFIX: env.prefix,
      WORKER_ID: id,
      WORKER_CONCURRENCY: '1',
      JOB_LOCK_MS: '2000',
      STALLED_INTERVAL_MS: '1000',
      RECONCILE_INTERVAL_MS: '0',
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(`worker ${id} ready`, async () => out.includes('ready'), 20_000);
  return child;
}

before(async () => {
  env = await startApi('kill');
  s = await seed(env.db);
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await env.close();
});

it('SIGKILL mid-run: the job runs again elsewhere, one final verdict', { timeout: 60_000 }, async () => {
  const w1 = await startWorker('w1');
  const r = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: '// FAKE_SLEEP_MS=3000\nint x;\n' }]);
  assert.equal(r.status, 202);
  const sid = r.body.id as string;
  await waitFor('running on w1', async () => (await env.db.submission.findUniqueOrThrow({ where: { id: sid } })).status === 'running', 20_000);
  w1.kill('SIGKILL');
  await once(w1, 'exit');

  const stream = readEvents(env, sid, s.users.student1.token, 45_000);
  await startWorker('w2');
  const events = await stream;
  assert.equal(events.at(-1)!.event, 'verdict');
  assert.equal(events.at(-1)!.data.verdict, 'pass');

  const sub = await env.db.submission.findUniqueOrThrow({ where: { id: sid }, include: { runs: { orderBy: { attempt: 'asc' } } } });
  assert.equal(sub.status, 'done');
  assert.equal(sub.attemptCount, 2);
  assert.deepEqual(sub.runs.map((x) => [x.workerId, x.status]), [['w1', 'abandoned'], ['w2', 'finished']]);
  assert.equal(sub.currentRunId, sub.runs[1]!.id);
  assert.equal(await env.db.submissionEvent.count({ where: { submissionId: sid, type: 'verdict' } }), 1, 'exactly one final verdict');
  assert.equal(await env.db.testResult.count({ where: { run: { submissionId: sid } } }), sub.runs[1] ? await env.db.testResult.count({ where: { runId: sub.runs[1].id } }) : 0, 'only the finished run has results');
});
