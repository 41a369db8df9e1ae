// Similarity checks (issue 12, item 6): Dolos (tree-sitter C) on real drivers — a copy with
// renamed identifiers and moved lines is caught, unrelated drivers are not, code that only shares
// the starter files is not, fragments point at the right file and lines of multi-file
// submissions; through the service: instructors start a check (a worker loop runs it), list the
// pairs and open one side by side; students and other courses' instructors get nothing; the check
// after the due date is queued once, not while an extension runs.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { similarPairs } from '@kgrader/similarity';
import { queueDueSimilarityRuns, startSimilarityLoop } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, type Seed, type TestEnv } from './helpers.js';

const repo = (p: string) => readFile(fileURLToPath(new URL(`../../../${p}`, import.meta.url)), 'utf8');
/** the same driver with every identifier of its own renamed and its functions reordered */
function disguise(src: string): string {
  const renamed = src
    .replace(/\bmsgbuf_/g, 'mb_')
    .replace(/\bmsg\b/g, 'data')
    .replace(/\blen\b/g, 'size')
    .replace(/\bbuf\b/g, 'ubuf')
    .replace(/\block\b/g, 'mtx');
  return `// my own work, honest\n\n${renamed.replace(/\n\n+/g, '\n\n\n')}`;
}

describe('similar pairs (Dolos, tree-sitter C)', () => {
  it('a disguised copy is caught, unrelated drivers are not, and fragments map to files and lines', async () => {
    const reference = await repo('exercises/msgbuf/solutions/reference/msgbuf.c');
    const scull = await repo('exercises/chardev-generic/solutions/scull-ring/scull.c');
    const scullH = await repo('exercises/chardev-generic/solutions/scull-ring/scull.h');
    const lkmpg = await repo('exercises/chardev-generic/solutions/lkmpg-chardev/chardev.c');
    const pairs = await similarPairs(
      [
        { key: 'orig', files: [{ name: 'msgbuf.c', content: reference }] },
        { key: 'copy', files: [{ name: 'a_header.h', content: '#define X 1\n' }, { name: 'msgbuf.c', content: disguise(reference) }] },
        { key: 'scull', files: [{ name: 'scull.c', content: scull }, { name: 'scull.h', content: scullH }] },
        { key: 'lkmpg', files: [{ name: 'chardev.c', content: lkmpg }] },
      ],
      { threshold: 0.5 },
    );
    assert.deepEqual(pairs.map((p) => [p.left, p.right].sort().join('+')), ['copy+orig'], JSON.stringify(pairs.map((p) => [p.left, p.right, p.similarity])));
    const p = pairs[0]!;
    assert.ok(p.similarity > 0.8, `similarity ${p.similarity}`);
    assert.ok(p.fragments.length >= 1);
    const copySide = p.left === 'copy' ? 'left' : 'right';
    for (const f of p.fragments) {
      assert.equal(f[copySide].file, 'msgbuf.c', 'the header file of the copy holds nothing in common');
      assert.ok(f[copySide].startLine >= 1 && f[copySide].endLine >= f[copySide].startLine);
    }
    // the copy's lines are shifted by the added comment and blank lines: fragments follow
    const origStart = Math.min(...p.fragments.map((f) => f[copySide === 'left' ? 'right' : 'left'].startLine));
    const copyStart = Math.min(...p.fragments.map((f) => f[copySide].startLine));
    assert.ok(copyStart > origStart, `copy lines ${copyStart} after original lines ${origStart}`);
  });

  it('code that only shares the starter files is not a pair', async () => {
    const starter = await repo('exercises/msgbuf/solutions/reference/msgbuf.c');
    const own = (n: number) => `static int helper_${n}(int a) {\n  int r = ${n};\n  for (int i = 0; i < a; i++) r = r * ${n + 3} + i;\n  return r;\n}\n`;
    const students = [
      { key: 'd', files: [{ name: 'msgbuf.c', content: starter + own(1) }] },
      { key: 'e', files: [{ name: 'msgbuf.c', content: starter + own(2).replace('for', 'while (a--) r += a; for') }] },
    ];
    const withoutStarter = await similarPairs(students, { threshold: 0.5 });
    assert.equal(withoutStarter.length, 1, 'without the starter files they look alike');
    assert.deepEqual(await similarPairs(students, { threshold: 0.5, starterFiles: [{ name: 'msgbuf.c', content: starter }] }), []);
  });
});

describe('similarity checks through the service', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let loop: ReturnType<typeof startSimilarityLoop>;
  const ins = () => s.users.instructor.token;
  const base = () => `/api/v1/assignments/${s.assignmentId}/similarity`;

  before(async () => {
    env = await startApi('similarity');
    s = await seed(env.db);
    loop = startSimilarityLoop({ db: env.db, logger: pino({ level: 'silent' }), pollMs: 0 });
    const reference = await repo('exercises/msgbuf/solutions/reference/msgbuf.c');
    assert.equal((await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: reference }])).status, 202);
    assert.equal((await submit(env, s.assignmentId, s.users.student2.token, [{ name: 'msgbuf.c', content: disguise(reference) }])).status, 202);
  });
  after(async () => {
    await loop?.stop();
    await env?.close();
  });

  let runId = '';
  let pairId = '';
  it('an instructor starts a check; the worker loop runs it; the pair is listed and opens side by side', async () => {
    const r = await api(env, 'POST', base(), { token: ins(), json: { threshold: 0.5 } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.status, 'queued');
    runId = r.body.id;
    assert.equal((await api(env, 'POST', base(), { token: ins(), json: {} })).status, 409, 'one at a time');
    assert.equal(await loop.runOnce(), 1);
    const done = await api(env, 'GET', `${base()}/${runId}`, { token: ins() });
    assert.equal(done.body.status, 'done');
    assert.equal(done.body.students, 2);
    assert.equal(done.body.pairs.length, 1);
    const p = done.body.pairs[0];
    assert.deepEqual([p.left.userEmail, p.right.userEmail].sort(), ['student1@t.test', 'student2@t.test']);
    pairId = p.id;
    const pair = await api(env, 'GET', `${base()}/${runId}/pairs/${pairId}`, { token: ins() });
    assert.equal(pair.status, 200);
    assert.equal(pair.body.left.files[0].name, 'msgbuf.c');
    assert.ok(pair.body.fragments.length >= 1);
    const list = await api(env, 'GET', base(), { token: ins() });
    assert.equal(list.body[0].id, runId);
  });

  it('students never see similarity results, not even their own pair; other courses\' instructors neither', async () => {
    for (const token of [s.users.student1.token, s.users.student2.token, s.users.otherInstructor.token, s.users.outsider.token]) {
      for (const [method, path] of [['GET', base()], ['GET', `${base()}/${runId}`], ['GET', `${base()}/${runId}/pairs/${pairId}`], ['POST', base()]] as const) {
        const r = await api(env, method, path, { token, ...(method === 'POST' ? { json: {} } : {}) });
        assert.equal(r.status, 403, `${method} ${path}`);
        assert.doesNotMatch(JSON.stringify(r.body), /student[12]@t\.test/);
      }
    }
    // a run of this assignment is not reachable through another assignment of the course
    const other = await env.db.assignment.create({ data: { courseId: s.courseId, exerciseSlug: 'msgbuf', title: 'other' } });
    assert.equal((await api(env, 'GET', `/api/v1/assignments/${other.id}/similarity/${runId}/pairs/${pairId}`, { token: ins() })).status, 404);
  });

  it('after the due date (and every extension) a check is queued once, by itself', async () => {
    await env.db.assignment.update({ where: { id: s.assignmentId }, data: { dueAt: new Date(Date.now() - 60_000) } });
    await env.db.extension.create({ data: { assignmentId: s.assignmentId, userId: s.users.student1.id, dueAt: new Date(Date.now() + 3_600_000) } });
    assert.equal(await queueDueSimilarityRuns(env.db), 0, 'an extension still runs');
    await env.db.extension.deleteMany({});
    assert.equal(await queueDueSimilarityRuns(env.db), 1);
    assert.equal(await queueDueSimilarityRuns(env.db), 0, 'once');
    const queued = await env.db.similarityRun.findFirstOrThrow({ where: { assignmentId: s.assignmentId, trigger: 'due' } });
    assert.equal(queued.status, 'queued');
    assert.equal(await loop.runOnce(), 1);
    assert.equal((await env.db.similarityRun.findUniqueOrThrow({ where: { id: queued.id } })).status, 'done');
  });
});
