// One Finding contract from the engine to the API (issue 13, item 3): what the engine says of a
// finding (its suspect line when the stack never enters the module, that it follows from another
// finding, that its report was cut off, the access it made) is stored whole and shown by the API,
// and the student's source lines are derived from it on read. Real PostgreSQL and Redis, the worker
// machinery with a stand-in grader whose findings carry those fields.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Finding, FindingOut, sourceLinesOf } from '@kgrader/schemas';
import { runWorker, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, waitFor, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { standInGrader } from './stand-in.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });

describe('the finding contract, engine to API', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let worker: RunningWorker;
  let sid = '';

  before(async () => {
    env = await startApi('findings');
    s = await seed(env.db);
    const sub = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: '// 1\nmutex_lock(&m); // 2\nint x; // HUNG:race_writers KASAN:write_read\n' }]);
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    sid = sub.body.id;
    worker = await runWorker({
      config: testWorkerConfig(env, {
        workerId: 'findings',
      }),
      grader: standInGrader(),
      logger,
    });
    await waitFor('graded', async () => (await env.db.submission.findUniqueOrThrow({ where: { id: sid } })).status === 'done', 30_000).catch(async (err: Error) => {
      const runs = await env.db.gradingRun.findMany({ where: { submissionId: sid }, select: { status: true, infrastructureError: true } });
      throw new Error(`${err.message}: ${JSON.stringify(runs)}`);
    });
  });
  after(async () => {
    await worker?.shutdown();
    await env?.close();
  });

  it('the stored row holds the whole finding as the engine produced it', async () => {
    const rows = await env.db.finding.findMany({ where: { run: { submissionId: sid } }, orderBy: { position: 'asc' } });
    assert.equal(rows.length, 3);
    for (const row of rows) Finding.parse(row.data);
    const hung = Finding.parse(rows[1]!.data);
    assert.equal(hung.suspect?.line, 2);
    assert.equal(Finding.parse(rows[2]!.data).consequenceOf, 1);
  });

  it('the API shows suspect, consequenceOf, truncated and access, and derives the source lines', async () => {
    const r = await api(env, 'GET', `/api/v1/submissions/${sid}`, { token: s.users.student1.token });
    assert.equal(r.status, 200);
    const findings = r.body.findings.map((f: unknown) => FindingOut.parse(f));
    assert.deepEqual(findings.map((f: FindingOut) => f.kind), ['kasan', 'hung-task', 'lockdep']);
    const [kasan, hung, lockdep] = findings as FindingOut[];
    // from the frames
    assert.deepEqual(kasan!.sourceLines, [{ file: 'msgbuf.c', line: 3, function: 'demo_read', source: 'int x; // HUNG:race_writers KASAN:write_read' }]);
    // no frame in the student's code: the suspect places it
    assert.equal(hung!.suspect?.confidence, 'medium');
    assert.match(hung!.suspect?.why ?? '', /mutex_lock/);
    assert.deepEqual(hung!.sourceLines, [{ file: 'msgbuf.c', line: 2, function: 'demo_read', source: 'mutex_lock(&m); // 2' }]);
    assert.deepEqual(sourceLinesOf(hung!), hung!.sourceLines);
    assert.equal(hung!.test, 'race_writers');
    // the engine's other fields survive the round trip
    assert.equal(lockdep!.consequenceOf, 1);
    assert.equal(lockdep!.truncated, true);
    assert.deepEqual(lockdep!.access, { type: 'read', size: 8 });
    assert.deepEqual(lockdep!.sourceLines, []);
    // the console line index is the engine's, not the API's
    assert.ok(!('line' in (r.body.findings[0] as object)));
  });
});
