// Per-test visibility (issue 12, item 4): a test the student may not see leaks through none of the
// places a student reads a test from — the test table, the summary line, the `test` of each
// finding, the live SSE log lines, the console's marker lines — nor through the verdict and score
// (withheld while any test is hidden), the submission list or its verdict filter. Each case checks
// the instructor's view holds the very thing the student's must not (so each assertion fails
// without its defence). Real PostgreSQL and Redis, the worker machinery with a stand-in grader.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runWorker, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, readEvents, seed, startApi, submit, waitFor, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { NONCE, standInGrader } from './stand-in.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const HIDDEN = 'bad_buffers';
const HIDDEN_AT = 9; // its position in msgbuf's tests

describe('per-test visibility', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let worker: RunningWorker;
  let sid = '';
  let studentLive: { event: string; data: any }[] = [];
  let instructorLive: { event: string; data: any }[] = [];
  const student = () => s.users.student1.token;
  const instructor = () => s.users.instructor.token;
  const get = (path: string, token: string) => api(env, 'GET', `/api/v1${path}`, { token });
  const patch = (json: object) => api(env, 'PATCH', `/api/v1/assignments/${s.assignmentId}`, { token: instructor(), json });

  before(async () => {
    env = await startApi('visibility');
    s = await seed(env.db);
    const r = await patch({ testVisibility: { [HIDDEN]: 'hidden' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.testVisibility, { [HIDDEN]: 'hidden' });
    // the hidden test fails, and the kernel reports a KASAN bug while it runs
    const sub = await submit(env, s.assignmentId, student(), [{ name: 'msgbuf.c', content: `// 1\n// 2\nint x; // FAIL@${HIDDEN_AT} KASAN@${HIDDEN_AT}\n` }]);
    assert.equal(sub.status, 202);
    sid = sub.body.id;
    // both streams are open before the grading starts: what they get is the live path
    const streams = Promise.all([readEvents(env, sid, student(), 60_000), readEvents(env, sid, instructor(), 60_000)]);
    await new Promise((r) => setTimeout(r, 300));
    worker = await runWorker({
      config: testWorkerConfig(env, {
        workerId: 'visibility',
      }),
      grader: standInGrader(),
      logger,
    });
    [studentLive, instructorLive] = await streams;
    await waitFor('graded', async () => (await env.db.submission.findUniqueOrThrow({ where: { id: sid } })).status === 'done', 30_000);
  });
  after(async () => {
    await worker?.shutdown();
    await env?.close();
  });

  it('an unknown test name in the visibility map is refused (422), nothing saved', async () => {
    const r = await patch({ testVisibility: { no_such_test: 'hidden' }, title: 'renamed' });
    assert.equal(r.status, 422);
    assert.equal(r.body.type, '/problems/unknown-test');
    assert.equal((await get(`/assignments/${s.assignmentId}`, instructor())).body.title, 'msgbuf');
  });

  it('leak path: the test table', async () => {
    const ins = await get(`/submissions/${sid}`, instructor());
    assert.ok(ins.body.tests.some((t: { name: string }) => t.name === HIDDEN), 'the instructor sees the test');
    const st = await get(`/submissions/${sid}`, student());
    assert.equal(st.status, 200);
    assert.ok(st.body.tests.length > 10, 'the visible tests are there');
    assert.ok(!st.body.tests.some((t: { name: string }) => t.name === HIDDEN));
    assert.equal(st.body.hiddenTests, 1);
    assert.doesNotMatch(JSON.stringify(st.body.tests), new RegExp(HIDDEN));
  });

  it('leak path: the summary line', async () => {
    const ins = await get(`/submissions/${sid}`, instructor());
    assert.match(ins.body.summary, new RegExp(HIDDEN), `instructor: ${ins.body.summary}`);
    const st = await get(`/submissions/${sid}`, student());
    assert.doesNotMatch(st.body.summary, new RegExp(HIDDEN), st.body.summary);
    assert.match(st.body.summary, /1 test is hidden/);
    assert.match(st.body.summary, /KASAN: slab-out-of-bounds Read in demo_read/, 'the kernel report itself is not hidden');
    assert.doesNotMatch(st.body.run.summary ?? '', new RegExp(HIDDEN));
  });

  it("leak path: each finding's test", async () => {
    const ins = await get(`/submissions/${sid}`, instructor());
    assert.equal(ins.body.findings[0].test, HIDDEN);
    const st = await get(`/submissions/${sid}`, student());
    assert.equal(st.body.findings.length, 1, 'the finding is shown');
    assert.equal(st.body.findings[0].test, null, 'but not the test it appeared in');
    assert.doesNotMatch(JSON.stringify(st.body.findings), new RegExp(HIDDEN));
  });

  it('leak path: the live SSE log lines (and their replay)', async () => {
    const mentions = (evs: { data: any }[]) => evs.filter((e) => JSON.stringify(e.data).includes(HIDDEN));
    assert.ok(mentions(instructorLive).length >= 2, `the instructor's stream names the test: ${instructorLive.map((e) => e.data.message).join(' | ')}`);
    assert.ok(studentLive.some((e) => e.data.message === 'test write_read'), 'visible tests stream as usual');
    assert.deepEqual(mentions(studentLive), [], 'live');
    const replay = await readEvents(env, sid, student(), 10_000);
    assert.deepEqual(mentions(replay), [], 'replayed');
    const verdict = studentLive.find((e) => e.event === 'verdict')!;
    assert.equal(verdict.data.verdict, null);
    assert.equal(verdict.data.score, null);
    assert.ok(!studentLive.some((e) => e.event === 'log' && /^(pass|fail)$/.test(e.data.message)), 'the bare verdict word is not streamed');
    assert.ok(instructorLive.some((e) => e.event === 'log' && e.data.message === 'fail'));
    assert.equal(instructorLive.find((e) => e.event === 'verdict')!.data.verdict, 'fail');
  });

  it('leak path: the console log markers', async () => {
    const marker = `kgrader: ${NONCE} test ${HIDDEN} start`;
    const ins = await get(`/submissions/${sid}/logs`, instructor());
    assert.ok(ins.body.console.includes(marker));
    const st = await get(`/submissions/${sid}/logs`, student());
    assert.ok(st.body.console.includes(`kgrader: ${NONCE} test write_read start`), 'visible markers stay');
    assert.ok(!st.body.console.includes(HIDDEN), 'no marker line of the hidden test');
    assert.ok(st.body.console.includes('BUG: KASAN'), "the kernel's own report stays");
  });

  it('leak path: the verdict and score, in the detail, the runs and the list, and the verdict filter', async () => {
    const ins = await get(`/submissions/${sid}`, instructor());
    assert.equal(ins.body.verdict, 'fail');
    assert.equal(typeof ins.body.score, 'number');
    const st = await get(`/submissions/${sid}`, student());
    assert.deepEqual([st.body.verdict, st.body.score, st.body.maxScore, st.body.run.verdict, st.body.run.score], [null, null, null, null, null]);
    assert.ok(st.body.runs.every((r: { verdict: unknown }) => r.verdict === null));
    const list = await get(`/assignments/${s.assignmentId}/submissions`, student());
    assert.equal(list.body.items.length, 1);
    assert.equal(list.body.items[0].verdict, null);
    assert.equal(list.body.items[0].score, null);
    assert.doesNotMatch(list.body.items[0].summary, new RegExp(HIDDEN));
    const insList = await get(`/assignments/${s.assignmentId}/submissions?verdict=fail`, instructor());
    assert.equal(insList.body.items.length, 1);
    for (const v of ['pass', 'fail']) {
      assert.deepEqual((await get(`/assignments/${s.assignmentId}/submissions?verdict=${v}`, student())).body.items, [], `?verdict=${v} tells nothing`);
    }
  });

  it('after_due_date: hidden before the due date, shown after it', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal((await patch({ testVisibility: { [HIDDEN]: 'after_due_date' }, dueAt: future })).status, 200);
    assert.ok(!(await get(`/submissions/${sid}`, student())).body.tests.some((t: { name: string }) => t.name === HIDDEN));
    assert.equal((await patch({ dueAt: new Date(Date.now() - 1000).toISOString() })).status, 200);
    const st = await get(`/submissions/${sid}`, student());
    assert.ok(st.body.tests.some((t: { name: string }) => t.name === HIDDEN));
    assert.equal(st.body.verdict, 'fail');
    assert.equal(st.body.findings[0].test, HIDDEN);
    assert.equal(st.body.hiddenTests, undefined);
  });

  it('after_published: hidden until the instructor publishes the grades; the old all-tests switch still hides every test before the due date', async () => {
    assert.equal((await patch({ testVisibility: { [HIDDEN]: 'after_published' }, dueAt: null })).status, 200);
    assert.ok(!(await get(`/submissions/${sid}`, student())).body.tests.some((t: { name: string }) => t.name === HIDDEN));
    const pub = await patch({ gradesPublished: true });
    assert.ok(pub.body.gradesPublishedAt);
    assert.ok((await get(`/submissions/${sid}`, student())).body.tests.some((t: { name: string }) => t.name === HIDDEN));
    assert.equal((await patch({ gradesPublished: false })).body.gradesPublishedAt, null);
    assert.ok(!(await get(`/submissions/${sid}`, student())).body.tests.some((t: { name: string }) => t.name === HIDDEN));

    assert.equal((await patch({ testVisibility: {}, showTestDetailsBeforeDue: false, dueAt: new Date(Date.now() + 3_600_000).toISOString() })).status, 200);
    const st = await get(`/submissions/${sid}`, student());
    assert.deepEqual(st.body.tests, []);
    assert.equal(st.body.verdict, null);
    assert.equal(st.body.hiddenTests, 15);
  });
});
