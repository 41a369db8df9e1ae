// Upload rules: what is rejected (and that nothing is stored then), archives, closed assignments,
// rate limits with Retry-After, Idempotency-Key, newer submission cancelling an older queued one.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, beforeEach, describe, it } from 'node:test';
import { issueToken } from '@kgrader/api';
import { api, seed, startApi, submit, tarGz, type Seed, type TestEnv } from './helpers.js';

let env: TestEnv;
let s: Seed;
const C = (n = 'msgbuf.c', content = 'int main;\n') => ({ name: n, content });

before(async () => {
  env = await startApi('upload');
  s = await seed(env.db, { rateLimitCount: 100 });
});
after(() => env.close());

async function counts() {
  return { submissions: await env.db.submission.count(), blobs: await env.db.blob.count(), files: await env.db.submissionFile.count() };
}

async function rejected(r: { status: number; body: any; headers: Headers }, status: number, re: RegExp, before: Awaited<ReturnType<typeof counts>>) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.match(r.body.detail, re);
  assert.deepEqual(await counts(), before, 'a rejected upload stores nothing');
}

describe('rejected uploads store nothing', () => {
  let c0: Awaited<ReturnType<typeof counts>>;
  beforeEach(async () => {
    c0 = await counts();
  });
  it('a file that is not .c/.h', async () => {
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [C('run.sh', 'echo hi')]), 422, /not allowed/, c0);
  });
  it('a file name with a path', async () => {
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [C('../evil.c')]), 422, /not allowed/, c0);
  });
  it('a file over maxFileBytes', async () => {
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [C('big.c', 'x'.repeat(300 * 1024))]), 413, /larger than|bytes/, c0);
  });
  it('too many files', async () => {
    const many = Array.from({ length: 20 }, (_, i) => C(`f${i}.c`, 'int a;\n'));
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, many), 413, /more than \d+ files/, c0);
  });
  it('no files at all (JSON body)', async () => {
    const r = await api(env, 'POST', `/api/v1/assignments/${s.assignmentId}/submissions`, { token: s.users.student1.token, json: { files: [] } });
    await rejected(r, 415, /multipart/, c0);
  });
  it('an archive holding a path', async () => {
    const tgz = tarGz([{ name: 'src/msgbuf.c', content: 'int a;' }]);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'sub.tar.gz', content: tgz }]), 422, /path/, c0);
  });
  it('an archive holding ..', async () => {
    const tgz = tarGz([{ name: '../msgbuf.c', content: 'int a;' }]);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'sub.tgz', content: tgz }]), 422, /path/, c0);
  });
  it('an archive holding a symlink', async () => {
    const tgz = tarGz([{ name: 'msgbuf.c', type: '2', linkname: '/etc/passwd' }]);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'sub.tar.gz', content: tgz }]), 422, /symbolic link/, c0);
  });
  it('an archive holding a hard link', async () => {
    const tgz = tarGz([{ name: 'a.c', content: 'int a;' }, { name: 'b.c', type: '1', linkname: 'a.c' }]);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'sub.tar.gz', content: tgz }]), 422, /hard link/, c0);
  });
  it('an archive holding a device', async () => {
    const tgz = tarGz([{ name: 'null.c', type: '3' }]);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'sub.tar.gz', content: tgz }]), 422, /character device/, c0);
  });
  it('an archive decompressing past the cap (gzip bomb)', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)); // ~64 KiB compressed, 64 MiB inflated
    assert.ok(bomb.length < 256 * 1024);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'bomb.tar.gz', content: bomb }]), 413, /decompresses past/, c0);
  });
  it('an archive that is not gzip', async () => {
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'x.tar.gz', content: 'plain text' }]), 422, /gzip/, c0);
  });
  it('an archive holding a non-source file', async () => {
    const tgz = tarGz([{ name: 'Makefile', content: 'all:' }]);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'sub.tar.gz', content: tgz }]), 422, /only .c\/.h/, c0);
  });
  it('files and an archive together', async () => {
    const tgz = tarGz([{ name: 'msgbuf.c', content: 'int a;' }]);
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [C(), { name: 'sub.tar.gz', content: tgz }]), 422, /either files or one archive/, c0);
  });
});

describe('accepted uploads', () => {
  it('multipart .c/.h files: 202 with status and events URLs, stored content-addressed', async () => {
    const r = await submit(env, s.assignmentId, s.users.student1.token, [C('msgbuf.c', 'int shared;\n'), C('msgbuf.h', '#pragma once\n')]);
    assert.equal(r.status, 202);
    assert.equal(r.body.status, 'queued');
    assert.match(r.body.statusUrl, new RegExp(`/api/v1/submissions/${r.body.id}$`));
    assert.match(r.body.eventsUrl, /\/events$/);
    assert.equal(r.headers.get('location'), `/api/v1/submissions/${r.body.id}`);
    const files = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/files`, { token: s.users.student1.token });
    assert.deepEqual(files.body.files.map((f: any) => [f.name, f.content]), [['msgbuf.c', 'int shared;\n'], ['msgbuf.h', '#pragma once\n']]);
    // the same bytes from another student reuse the blob
    const blobs = await env.db.blob.count();
    const r2 = await submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int shared;\n')]);
    assert.equal(r2.status, 202);
    assert.equal(await env.db.blob.count(), blobs);
  });
  it('a .tar.gz with ./ entries', async () => {
    const tgz = tarGz([{ name: './', type: '5' }, { name: './msgbuf.c', content: 'int from_tar;\n' }]);
    const r = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'sub.tar.gz', content: tgz }]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const files = await api(env, 'GET', `/api/v1/submissions/${r.body.id}/files`, { token: s.users.student1.token });
    assert.deepEqual(files.body.files.map((f: any) => f.name), ['msgbuf.c']);
  });
});

describe('Idempotency-Key', () => {
  it('the same key gives the same submission, once', async () => {
    const n0 = await env.db.submission.count();
    const h = { 'idempotency-key': 'retry-me-1' };
    const a = await submit(env, s.assignmentId, s.users.student1.token, [C('msgbuf.c', 'int idem;\n')], h);
    const b = await submit(env, s.assignmentId, s.users.student1.token, [C('msgbuf.c', 'int idem;\n')], h);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.equal(b.body.id, a.body.id);
    assert.equal(a.body.replayed, false);
    assert.equal(b.body.replayed, true);
    assert.equal(await env.db.submission.count(), n0 + 1);
  });
  it('concurrent requests with one key create one submission', async () => {
    const n0 = await env.db.submission.count();
    const h = { 'idempotency-key': 'race-1' };
    const rs = await Promise.all(Array.from({ length: 5 }, () => submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int race;\n')], h)));
    assert.ok(rs.every((r) => r.status === 202));
    assert.equal(new Set(rs.map((r) => r.body.id)).size, 1);
    assert.equal(await env.db.submission.count(), n0 + 1);
  });
  it('the same key with other files is a 409', async () => {
    const h = { 'idempotency-key': 'retry-me-2' };
    await submit(env, s.assignmentId, s.users.student1.token, [C('msgbuf.c', 'int one;\n')], h);
    const r = await submit(env, s.assignmentId, s.users.student1.token, [C('msgbuf.c', 'int two;\n')], h);
    assert.equal(r.status, 409);
  });
  it('keys are per user', async () => {
    const h = { 'idempotency-key': 'shared-key' };
    const a = await submit(env, s.assignmentId, s.users.student1.token, [C('msgbuf.c', 'int k;\n')], h);
    const b = await submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int k;\n')], h);
    assert.notEqual(a.body.id, b.body.id);
  });
});

describe('superseding', () => {
  it('a newer submission cancels the same student\'s older queued one and its job', async () => {
    const a = await submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int older;\n')]);
    const b = await submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int newer;\n')]);
    const older = await env.db.submission.findUniqueOrThrow({ where: { id: a.body.id } });
    assert.equal(older.status, 'cancelled');
    assert.equal((await env.db.submission.findUniqueOrThrow({ where: { id: b.body.id } })).status, 'queued');
    assert.equal(await env.deps.queue.getJob(`${a.body.id}_g1`), undefined);
    assert.ok(await env.deps.queue.getJob(`${b.body.id}_g1`));
  });
  it('not when the assignment says so', async () => {
    await env.db.assignment.update({ where: { id: s.assignmentId }, data: { supersedeQueued: false } });
    const a = await submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int keep1;\n')]);
    await submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int keep2;\n')]);
    assert.equal((await env.db.submission.findUniqueOrThrow({ where: { id: a.body.id } })).status, 'queued');
    await env.db.assignment.update({ where: { id: s.assignmentId }, data: { supersedeQueued: true } });
  });
});

describe('closed assignments and rate limits', () => {
  it('403 before it opens and after it is due (students); instructors may still submit', async () => {
    const c0 = await counts();
    await env.db.assignment.update({ where: { id: s.assignmentId }, data: { opensAt: new Date(Date.now() + 3600_000) } });
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [C()]), 403, /opens at/, c0);
    await env.db.assignment.update({ where: { id: s.assignmentId }, data: { opensAt: null, dueAt: new Date(Date.now() - 1000) } });
    await rejected(await submit(env, s.assignmentId, s.users.student1.token, [C()]), 403, /closed at/, c0);
    const r = await submit(env, s.assignmentId, s.users.instructor.token, [C()]);
    assert.equal(r.status, 202);
    await env.db.assignment.update({ where: { id: s.assignmentId }, data: { dueAt: null } });
  });
  it('429 with Retry-After past the limit; the first submission that ended in error is free, later ones count', async () => {
    await env.db.assignment.update({ where: { id: s.otherAssignmentId }, data: { rateLimitCount: 2, rateLimitWindowSeconds: 600 } });
    // the other course's instructor is privileged: enrol a fresh student there (an admin issues their token)
    const m = await api(env, 'POST', `/api/v1/courses/${s.otherCourseId}/members`, { token: s.users.otherInstructor.token, json: { email: 'rl@t.test', role: 'student' } });
    const st = (await issueToken(env.db, { userId: m.body.userId, name: 'rl', scope: 'submit', courseId: s.otherCourseId, issuedById: null })).token;
    const a = await submit(env, s.otherAssignmentId, st, [C('msgbuf.c', 'int r1;\n')]);
    const b = await submit(env, s.otherAssignmentId, st, [C('msgbuf.c', 'int r2;\n')]);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    const c0 = await counts();
    const r = await submit(env, s.otherAssignmentId, st, [C('msgbuf.c', 'int r3;\n')]);
    await rejected(r, 429, /at most 2 submissions/, c0);
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(retry > 0 && retry <= 600, `Retry-After ${retry}`);
    // one infrastructure failure is not charged: the slot comes back
    await env.db.submission.update({ where: { id: a.body.id }, data: { status: 'error', verdict: 'error' } });
    const d = await submit(env, s.otherAssignmentId, st, [C('msgbuf.c', 'int r4;\n')]);
    assert.equal(d.status, 202);
    // a second one that ended in error counts (a submission that breaks grading on purpose cannot be sent without limit)
    await env.db.submission.update({ where: { id: b.body.id }, data: { status: 'error', verdict: 'error' } });
    const c1 = await counts();
    await rejected(await submit(env, s.otherAssignmentId, st, [C('msgbuf.c', 'int r5;\n')]), 429, /at most 2 submissions/, c1);
  });
});

describe('a retry without Idempotency-Key', () => {
  it('the same files again (the answer was lost after the commit) answer the submission already made: nothing new stored, graded or charged', async () => {
    const files = [C('msgbuf.c', 'int lost_answer;\n')];
    const n0 = await env.db.submission.count();
    const a = await submit(env, s.assignmentId, s.users.student1.token, files);
    const b = await submit(env, s.assignmentId, s.users.student1.token, files);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.equal(b.body.id, a.body.id);
    assert.equal(b.body.replayed, true);
    assert.equal(await env.db.submission.count(), n0 + 1);
    assert.equal((await env.db.submission.findUniqueOrThrow({ where: { id: a.body.id } })).status, 'queued', 'not cancelled by its own retry');
    const jobs = await env.deps.queue.getJobs(['waiting', 'prioritized', 'delayed']);
    assert.equal(jobs.filter((j) => j.data.submissionId === a.body.id).length, 1);
    // five retries at once: still one submission
    const rs = await Promise.all(Array.from({ length: 5 }, () => submit(env, s.assignmentId, s.users.student1.token, [C('msgbuf.c', 'int burst;\n')])));
    assert.ok(rs.every((r) => r.status === 202));
    assert.equal(new Set(rs.map((r) => r.body.id)).size, 1);
    assert.equal(await env.db.submission.count(), n0 + 2);
  });
  it('other files, an Idempotency-Key, or a previous one that ended in error make a new submission', async () => {
    const files = [C('msgbuf.c', 'int again;\n')];
    const a = await submit(env, s.assignmentId, s.users.student2.token, files);
    const other = await submit(env, s.assignmentId, s.users.student2.token, [C('msgbuf.c', 'int changed;\n')]);
    assert.notEqual(other.body.id, a.body.id);
    const back = await submit(env, s.assignmentId, s.users.student2.token, files);
    assert.notEqual(back.body.id, a.body.id, 'only the latest submission is compared');
    const keyed = await submit(env, s.assignmentId, s.users.student2.token, files, { 'idempotency-key': 'deliberate-again' });
    assert.notEqual(keyed.body.id, back.body.id, 'a fresh key says: this is a new submission');
    await env.db.submission.update({ where: { id: keyed.body.id }, data: { status: 'error' } });
    const afterError = await submit(env, s.assignmentId, s.users.student2.token, files);
    assert.notEqual(afterError.body.id, keyed.body.id);
    assert.equal(afterError.body.replayed, false);
  });
});
