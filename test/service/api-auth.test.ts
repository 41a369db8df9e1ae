// Authentication (401s, hashing, problem+json) and the classic forbidden case of each endpoint. The
// full endpoint × caller × token scope × course matrix is api-authz-matrix.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, seed, startApi, submit, type Seed, type TestEnv } from './helpers.js';

let env: TestEnv;
let s: Seed;
let sub1: string; // student1's submission

before(async () => {
  env = await startApi('auth');
  s = await seed(env.db);
  const r = await submit(env, s.assignmentId, s.users.student1.token, [{ name: 'msgbuf.c', content: 'int x;\n' }]);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  sub1 = r.body.id;
});
after(() => env.close());

const isProblem = (r: { headers: Headers; body: any }, status: number) => {
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.status, status);
  assert.equal(typeof r.body.title, 'string');
};

describe('authentication', () => {
  it('401 without a token, with WWW-Authenticate', async () => {
    const r = await api(env, 'GET', '/api/v1/me');
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
    isProblem(r, 401);
  });
  it('401 with an unknown token', async () => {
    const r = await api(env, 'GET', '/api/v1/me', { token: 'kgr_nope' });
    assert.equal(r.status, 401);
  });
  it('401 with a malformed Authorization header', async () => {
    const r = await api(env, 'GET', '/api/v1/me', { headers: { authorization: 'Basic abc' } });
    assert.equal(r.status, 401);
  });
  it('401 with a revoked token', async () => {
    await env.db.apiToken.updateMany({ where: { userId: s.users.outsider.id }, data: { revokedAt: new Date() } });
    const r = await api(env, 'GET', '/api/v1/me', { token: s.users.outsider.token });
    assert.equal(r.status, 401);
  });
  it('tokens are stored hashed', async () => {
    const rows = await env.db.apiToken.findMany();
    for (const t of rows) assert.match(t.tokenHash, /^[0-9a-f]{64}$/);
    assert.ok(!rows.some((t) => Object.values(s.users).some((u) => t.tokenHash === u.token)));
  });
  it('/me answers with the caller', async () => {
    const r = await api(env, 'GET', '/api/v1/me', { token: s.users.student1.token });
    assert.equal(r.status, 200);
    assert.equal(r.body.user.email, 'student1@t.test');
    assert.deepEqual(r.body.memberships.map((m: any) => m.role), ['student']);
  });
});

describe('forbidden cases, endpoint by endpoint', () => {
  const cases: [string, () => { method: string; path: string; token: () => string; json?: unknown; status?: number }][] = [
    ['POST /courses by a student', () => ({ method: 'POST', path: '/api/v1/courses', token: () => s.users.student1.token, json: { code: 'x-1', title: 'x' } })],
    ['GET /courses/:id by a non-member', () => ({ method: 'GET', path: `/api/v1/courses/${s.courseId}`, token: () => s.users.otherInstructor.token })],
    ['GET /courses/:id/members by a student', () => ({ method: 'GET', path: `/api/v1/courses/${s.courseId}/members`, token: () => s.users.student1.token })],
    ['POST /courses/:id/members by a student', () => ({ method: 'POST', path: `/api/v1/courses/${s.courseId}/members`, token: () => s.users.student1.token, json: { email: 'n@t.test', role: 'instructor' } })],
    ['POST /courses/:id/members by another course instructor', () => ({ method: 'POST', path: `/api/v1/courses/${s.courseId}/members`, token: () => s.users.otherInstructor.token, json: { email: 'n@t.test', role: 'student' } })],
    ['POST /courses/:id/assignments by a student', () => ({ method: 'POST', path: `/api/v1/courses/${s.courseId}/assignments`, token: () => s.users.student1.token, json: { exerciseSlug: 'msgbuf', title: 't' } })],
    ['GET /courses/:id/assignments by a non-member', () => ({ method: 'GET', path: `/api/v1/courses/${s.courseId}/assignments`, token: () => s.users.otherInstructor.token })],
    ['GET /assignments/:id by a non-member', () => ({ method: 'GET', path: `/api/v1/assignments/${s.assignmentId}`, token: () => s.users.otherInstructor.token })],
    ['PATCH /assignments/:id by a student', () => ({ method: 'PATCH', path: `/api/v1/assignments/${s.assignmentId}`, token: () => s.users.student1.token, json: { title: 'hacked' } })],
    ['POST /assignments/:id/submissions by a non-member', () => ({ method: 'POST', path: `/api/v1/assignments/${s.assignmentId}/submissions`, token: () => s.users.otherInstructor.token, json: {} })],
    ['GET /assignments/:id/submissions by a non-member', () => ({ method: 'GET', path: `/api/v1/assignments/${s.assignmentId}/submissions`, token: () => s.users.otherInstructor.token })],
    ['POST /assignments/:id/regrade by a student', () => ({ method: 'POST', path: `/api/v1/assignments/${s.assignmentId}/regrade`, token: () => s.users.student1.token, json: {} })],
    ['GET /assignments/:id/stats by a student', () => ({ method: 'GET', path: `/api/v1/assignments/${s.assignmentId}/stats`, token: () => s.users.student1.token })],
    ["GET /submissions/:id by another student", () => ({ method: 'GET', path: `/api/v1/submissions/${sub1}`, token: () => s.users.student2.token })],
    ["GET /submissions/:id by another course's instructor", () => ({ method: 'GET', path: `/api/v1/submissions/${sub1}`, token: () => s.users.otherInstructor.token })],
    ["GET /submissions/:id/logs by another student", () => ({ method: 'GET', path: `/api/v1/submissions/${sub1}/logs`, token: () => s.users.student2.token })],
    ["GET /submissions/:id/files by another student", () => ({ method: 'GET', path: `/api/v1/submissions/${sub1}/files`, token: () => s.users.student2.token })],
    ["GET /submissions/:id/events by another student", () => ({ method: 'GET', path: `/api/v1/submissions/${sub1}/events`, token: () => s.users.student2.token })],
    ['POST /submissions/:id/regrade by its own student', () => ({ method: 'POST', path: `/api/v1/submissions/${sub1}/regrade`, token: () => s.users.student1.token })],
  ];
  for (const [name, mk] of cases) {
    it(`${name}: 403`, async () => {
      const c = mk();
      const r = await api(env, c.method, c.path, { token: c.token(), ...(c.json !== undefined ? { json: c.json } : {}) });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      isProblem(r, 403);
    });
    it(`${name.split(' by ')[0]} without a token: 401`, async () => {
      const c = mk();
      const r = await api(env, c.method, c.path, c.json !== undefined ? { json: c.json } : {});
      assert.equal(r.status, 401);
    });
  }
  it('GET /courses lists only the caller\'s courses', async () => {
    const r = await api(env, 'GET', '/api/v1/courses', { token: s.users.otherInstructor.token });
    assert.deepEqual(r.body.map((c: any) => c.id), [s.otherCourseId]);
  });
  it("a student's submission list holds only their own", async () => {
    await submit(env, s.assignmentId, s.users.student2.token, [{ name: 'msgbuf.c', content: 'int y;\n' }]);
    const r = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions?userId=${s.users.student2.id}`, { token: s.users.student1.token });
    assert.equal(r.status, 200);
    assert.ok(r.body.items.length >= 1);
    assert.ok(r.body.items.every((i: any) => i.userId === s.users.student1.id));
  });
  it('the instructor sees both students and the admin sees everything', async () => {
    const r = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions`, { token: s.users.instructor.token });
    assert.equal(new Set(r.body.items.map((i: any) => i.userId)).size, 2);
    const a = await api(env, 'GET', `/api/v1/submissions/${sub1}`, { token: s.users.admin.token });
    assert.equal(a.status, 200);
  });
  it('404 problem for an unknown submission, 400 problem for a malformed id', async () => {
    const r = await api(env, 'GET', '/api/v1/submissions/00000000-0000-4000-8000-000000000000', { token: s.users.admin.token });
    assert.equal(r.status, 404);
    isProblem(r, 404);
    const b = await api(env, 'GET', '/api/v1/submissions/not-a-uuid', { token: s.users.admin.token });
    assert.equal(b.status, 400);
    isProblem(b, 400);
    assert.ok(Array.isArray(b.body.errors));
  });
});
