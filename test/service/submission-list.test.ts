// The instructors' submission list (issue 13, item 6): server-side sort orders with cursor paging
// that neither repeats nor loses a row when sort keys tie, the student text filter, the total for
// the filters, students kept to their own; and the assignment's live stream of row updates, fed by
// the events the worker publishes (recordSubmissionEvent on the worker's kind of Redis
// connection, and the worker machinery itself with a stand-in grader), refused to students and
// to other courses' instructors. Real PostgreSQL and Redis.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedis, recordSubmissionEvent } from '@kgrader/db';
import { runWorker, type RunningWorker } from '@kgrader/worker';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { api, REDIS_URL, seed, sleep, startApi, submit, waitFor, type Seed, type TestEnv, testWorkerConfig, sseEvents } from './helpers.js';
import { expectedOrder, seedSubmissions, type SeededSubmission, type Sort } from './list-fixtures.js';
import { standInGrader } from './stand-in.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const SORTS: Sort[] = ['createdAt', 'student', 'status', 'verdict', 'score', 'topFinding'];

/** An SSE stream read in the background: every event it brought so far. */
async function openStream(env: TestEnv, path: string, token?: string) {
  const ctrl = new AbortController();
  const res = await fetch(`${env.baseUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: ctrl.signal });
  const events: { event: string; data: any }[] = [];
  if (res.status === 200 && res.body) {
    void (async () => {
      try {
        for await (const ev of sseEvents(res.body!)) events.push({ event: ev.event, data: ev.data });
      } catch {
        /* aborted */
      }
    })();
  } else await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), events, close: () => ctrl.abort() };
}

describe('submission list: sort, paging, filters, live rows', { timeout: 180_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let rows: SeededSubmission[];
  let workerRedis: Redis;
  const instructor = () => s.users.instructor.token;
  const list = (query: string, token = instructor()) => api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?${query}`, { token });

  /** every page of a query, following nextCursor */
  async function allPages(query: string, limit: number, token = instructor()): Promise<{ ids: string[]; pages: number; totals: number[] }> {
    const ids: string[] = [];
    const totals: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await list(`${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.items.length <= limit);
      ids.push(...r.body.items.map((i: { id: string }) => i.id));
      totals.push(r.body.total);
      cursor = r.body.nextCursor;
      pages++;
      assert.ok(pages < 100, 'paging ends');
    } while (cursor);
    return { ids, pages, totals };
  }

  before(async () => {
    env = await startApi('submission_list');
    s = await seed(env.db);
    rows = await seedSubmissions(env.db, { courseId: s.courseId, assignmentId: s.assignmentId, students: 12, count: 60 });
    workerRedis = createRedis(REDIS_URL); // the worker's kind of connection (apps/worker: createRedis)
  });
  after(async () => {
    workerRedis?.disconnect();
    await env?.close();
  });

  for (const sort of SORTS) {
    for (const dir of ['asc', 'desc'] as const) {
      it(`sort=${sort} dir=${dir}: pages of 7 give every row once, in the promised order`, async () => {
        const { ids, pages, totals } = await allPages(`sort=${sort}&dir=${dir}`, 7);
        assert.equal(pages, Math.ceil(rows.length / 7));
        assert.equal(new Set(ids).size, ids.length, 'no row repeated');
        assert.equal(ids.length, rows.length, 'no row lost');
        assert.deepEqual(ids, expectedOrder(rows, sort, dir));
        assert.ok(totals.every((t) => t === rows.length), `total on every page: ${totals}`);
      });
    }
  }

  it('ties: scores repeat across page boundaries and submissions share instants', () => {
    const byScore = new Map<number | null, number>();
    for (const r of rows) byScore.set(r.score, (byScore.get(r.score) ?? 0) + 1);
    assert.ok([...byScore.values()].some((n) => n > 7), 'a score shared by more rows than a page holds');
    assert.ok(new Set(rows.map((r) => r.createdAt.getTime())).size < rows.length, 'submissions at the same instant');
  });

  it('the default order is newest first', async () => {
    const r = await list('limit=10');
    assert.deepEqual(
      r.body.items.map((i: { id: string }) => i.id),
      expectedOrder(rows, 'createdAt', 'desc').slice(0, 10),
    );
    assert.equal(r.body.total, rows.length);
  });

  it('the text filter matches name or e-mail, case-insensitively; LIKE wildcards are literal', async () => {
    const bob = rows.filter((r) => r.name.startsWith('Bob'));
    const byName = await allPages('q=bOB&sort=score&dir=asc', 2);
    assert.deepEqual(byName.ids, expectedOrder(bob, 'score', 'asc'));
    assert.equal(byName.totals[0], bob.length);
    const mail = rows.filter((r) => r.email.startsWith('carol.'));
    const byMail = await list(`q=${encodeURIComponent('CAROL.LIST')}&limit=50`);
    assert.equal(byMail.body.total, mail.length);
    assert.deepEqual(new Set(byMail.body.items.map((i: { id: string }) => i.id)), new Set(mail.map((m) => m.id)));
    for (const q of ['%', '_', 'a%e']) {
      const r = await list(`q=${encodeURIComponent(q)}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.total, 0, `${q} is not a wildcard`);
    }
  });

  it('the total counts the filters, not the page; filters combine with sort and paging', async () => {
    const done = rows.filter((r) => r.status === 'done');
    const paged = await allPages('status=done&sort=student&dir=desc', 4);
    assert.deepEqual(paged.ids, expectedOrder(done, 'student', 'desc'));
    assert.ok(paged.totals.every((t) => t === done.length));
    const fails = rows.filter((r) => r.verdict === 'fail');
    assert.equal((await list('verdict=fail&limit=1')).body.total, fails.length);
    const latest = await allPages('latest=true&sort=score&dir=desc', 5);
    assert.equal(latest.ids.length, 12, 'one per student');
    assert.ok(latest.totals.every((t) => t === 12));
    const kasan = await list('findingKind=kasan&limit=200');
    assert.ok(kasan.body.total > 0 && kasan.body.total < rows.length, `${kasan.body.total}`);
    assert.equal(kasan.body.items.length, kasan.body.total);
  });

  it('a cursor is refused with another order (400), and a forged one (400)', async () => {
    const first = await list('sort=score&dir=asc&limit=5');
    assert.ok(first.body.nextCursor);
    const other = await list(`sort=score&dir=desc&limit=5&cursor=${encodeURIComponent(first.body.nextCursor)}`);
    assert.equal(other.status, 400);
    assert.match(other.body.detail, /another sort order/);
    const forged = Buffer.from(JSON.stringify({ s: 'score', d: 'asc', k: ["0); DROP TABLE \"Submission\"; --", 'x', 'y'] })).toString('base64url');
    assert.equal((await list(`sort=score&dir=asc&cursor=${forged}`)).status, 400);
    assert.equal((await list('cursor=not-base64-json')).status, 400);
    assert.equal((await list('sort=bogus')).status, 400);
  });

  it('a student sees only their own, whatever the filter, and the total is theirs', async () => {
    const own = rows.filter((r) => r.userId === s.users.student1.id);
    assert.equal(own.length, 0, 'the fixture students are others');
    const mine = await env.db.submission.create({ data: { assignmentId: s.assignmentId, userId: s.users.student1.id, sha256: 'x'.repeat(64), status: 'queued' } });
    try {
      const r = await list('q=alice&limit=50', s.users.student1.token);
      assert.equal(r.status, 200);
      assert.equal(r.body.total, 0, "the filter never widens a student's list");
      const all = await list('sort=student&limit=50', s.users.student1.token);
      assert.deepEqual(all.body.items.map((i: { id: string }) => i.id), [mine.id]);
      assert.equal(all.body.total, 1);
      assert.equal((await list(`userId=${rows[0]!.userId}`, s.users.student1.token)).body.total, 1, 'userId of another student is ignored');
    } finally {
      await env.db.submission.delete({ where: { id: mine.id } });
    }
  });

  it("while a test is hidden from a student, their list is never ordered by what is withheld", async () => {
    // two graded submissions of the student: the older one scored higher
    const at = Date.now();
    const older = await env.db.submission.create({ data: { assignmentId: s.assignmentId, userId: s.users.student2.id, sha256: 'y'.repeat(64), status: 'done', verdict: 'pass', score: 100, maxScore: 100, createdAt: new Date(at - 60_000) } });
    const newer = await env.db.submission.create({ data: { assignmentId: s.assignmentId, userId: s.users.student2.id, sha256: 'y'.repeat(64), status: 'done', verdict: 'fail', score: 10, maxScore: 100, createdAt: new Date(at) } });
    try {
      const visible = await list('sort=score&dir=desc', s.users.student2.token);
      assert.deepEqual(visible.body.items.map((i: { id: string }) => i.id), [older.id, newer.id], 'ordered by score while nothing is hidden');
      await env.db.assignment.update({ where: { id: s.assignmentId }, data: { testVisibility: { bad_buffers: 'hidden' } } });
      for (const dir of ['asc', 'desc']) {
        const hidden = await list(`sort=score&dir=${dir}`, s.users.student2.token);
        assert.equal(hidden.status, 200);
        assert.deepEqual(hidden.body.items.map((i: { id: string }) => i.id), [newer.id, older.id], `newest first, not by score (${dir})`);
        assert.ok(hidden.body.items.every((i: { score: number | null }) => i.score === null));
      }
      // the instructor's list is not narrowed
      const ins = await list(`userId=${s.users.student2.id}&sort=score&dir=desc`);
      assert.deepEqual(ins.body.items.map((i: { id: string }) => i.id), [older.id, newer.id]);
    } finally {
      await env.db.assignment.update({ where: { id: s.assignmentId }, data: { testVisibility: {} } });
      await env.db.submission.deleteMany({ where: { id: { in: [older.id, newer.id] } } });
    }
  });

  describe('the assignment stream', () => {
    const path = () => `/api/v1/assignments/${s.assignmentId}/events`;

    it('students, other courses’ instructors and outsiders are refused (403); no token: 401', async () => {
      for (const who of ['student1', 'student2', 'otherInstructor', 'outsider'] as const) {
        const st = await openStream(env, path(), s.users[who].token);
        assert.equal(st.status, 403, who);
        st.close();
      }
      const anon = await openStream(env, path());
      assert.equal(anon.status, 401);
      // and the other course's own instructor is refused on this course but served on theirs
      const theirs = await openStream(env, `/api/v1/assignments/${s.otherAssignmentId}/events`, s.users.otherInstructor.token);
      assert.equal(theirs.status, 200);
      theirs.close();
    });

    it('a status change and a verdict the worker publishes reach the instructor as row updates; logs and other assignments do not', async () => {
      const st = await openStream(env, path(), instructor());
      assert.equal(st.status, 200);
      assert.match(st.contentType ?? '', /text\/event-stream/);
      await waitFor('ready', async () => st.events.find((e) => e.event === 'ready'), 5_000);
      const target = rows.find((r) => r.status === 'queued')!;
      // as apps/worker/src/processor.ts does: move the row, then record and publish the event
      await env.db.submission.update({ where: { id: target.id }, data: { status: 'running', attemptCount: 1 } });
      await recordSubmissionEvent(env.db, workerRedis, { type: 'status', submissionId: target.id, status: 'running', stage: 'running', message: 'kernel up', attempt: 1 });
      const running = await waitFor('running row', async () => st.events.find((e) => e.event === 'row' && e.data.id === target.id && e.data.status === 'running'), 5_000);
      assert.deepEqual(Object.keys(running.data).sort(), ['attemptCount', 'id', 'maxScore', 'reason', 'score', 'status', 'topFinding', 'updatedAt', 'verdict']);
      assert.equal(running.data.verdict, null);
      // a progress line changes nothing in the table: no row for it
      await recordSubmissionEvent(env.db, workerRedis, { type: 'log', submissionId: target.id, status: 'running', message: 'test open_close: pass', attempt: 1 });
      // a submission of another assignment: not this stream's
      const foreign = await env.db.submission.create({ data: { assignmentId: s.otherAssignmentId, userId: s.users.otherInstructor.id, sha256: 'z'.repeat(64), status: 'queued' } });
      await recordSubmissionEvent(env.db, workerRedis, { type: 'status', submissionId: foreign.id, status: 'queued', message: 'queued', attempt: null });
      // the verdict, stored as the worker stores it (the run, its first finding), then published
      const run = await env.db.gradingRun.create({ data: { submissionId: target.id, attempt: 1, generation: 1, reason: 'submit', status: 'finished', workerId: 'test', verdict: 'fail', score: 40, maxScore: 100, finishedAt: new Date() } });
      await env.db.finding.create({ data: { runId: run.id, position: 0, kind: 'kasan', title: 'KASAN: use-after-free in msgbuf_release', data: { frames: [] }, raw: '' } });
      await env.db.submission.update({ where: { id: target.id }, data: { status: 'done', verdict: 'fail', score: 40, maxScore: 100, currentRunId: run.id, finishedAt: new Date() } });
      await recordSubmissionEvent(env.db, workerRedis, { type: 'verdict', submissionId: target.id, status: 'done', message: '40 / 100', attempt: 1, verdict: 'fail', score: 40, maxScore: 100 });
      const verdict = await waitFor('verdict row', async () => st.events.find((e) => e.event === 'row' && e.data.id === target.id && e.data.status === 'done'), 5_000);
      assert.equal(verdict.data.verdict, 'fail');
      assert.equal(verdict.data.score, 40);
      assert.equal(verdict.data.maxScore, 100);
      assert.equal(verdict.data.topFinding, 'KASAN: use-after-free in msgbuf_release');
      await sleep(300);
      const mine = st.events.filter((e) => e.event === 'row');
      assert.deepEqual(mine.map((e) => e.data.id).filter((id) => id !== target.id), [], 'no rows of another assignment');
      assert.equal(mine.length, 2, `one row per status change, none for the log line: ${JSON.stringify(mine.map((e) => e.data.status))}`);
      st.close();
      await env.db.submission.delete({ where: { id: foreign.id } });
    });

    it('end to end: a submission graded by the worker shows up on the stream from queued to its verdict', async () => {
      const st = await openStream(env, path(), instructor());
      await waitFor('ready', async () => st.events.find((e) => e.event === 'ready'), 5_000);
      const sub = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: 'int x; // FAIL@0\n' }]);
      assert.equal(sub.status, 202, JSON.stringify(sub.body));
      const sid = sub.body.id as string;
      await waitFor('queued row', async () => st.events.find((e) => e.event === 'row' && e.data.id === sid && e.data.status === 'queued'), 5_000);
      let worker: RunningWorker | undefined;
      try {
        worker = await runWorker({
          config: testWorkerConfig(env, {
            workerId: 'submission-list',
          }),
          grader: standInGrader(),
          logger,
        });
        const done = await waitFor('graded row', async () => st.events.find((e) => e.event === 'row' && e.data.id === sid && e.data.status === 'done'), 60_000);
        assert.equal(done.data.verdict, 'fail');
        assert.equal(typeof done.data.score, 'number');
        const stages = st.events.filter((e) => e.event === 'row' && e.data.id === sid).map((e) => e.data.status);
        assert.ok(stages.some((x) => ['building', 'booting', 'running', 'analyzing'].includes(x)), `saw a grading stage: ${stages}`);
        const fresh = await list('limit=1');
        assert.equal(fresh.body.items[0].id, sid, 'and the list has it first');
        assert.equal(fresh.body.total, rows.length + 1);
      } finally {
        st.close();
        await worker?.shutdown();
      }
    });
  });
});
