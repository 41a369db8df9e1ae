// Issue 8, accounts: the account-takeover path (an instructor enrols an admin or another course's
// instructor, overwrites their role and mints tokens for them) and the token scope rules, as a
// hostile instructor, student or leaked token would try them. Plus the migration that narrows
// tokens minted for others before the fix.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '@kgrader/api';
import { createDb, defaultMigrationsDir, migrate } from '@kgrader/db';
import pg from 'pg';
import { api, dropDatabase, freshDatabase, seed, startApi, submit, type Seed, type TestEnv } from './helpers.js';

let env: TestEnv;
let s: Seed;

before(async () => {
  env = await startApi('accounts');
  s = await seed(env.db);
});
after(() => env?.close());

const tokensOf = (userId: string) => env.db.apiToken.count({ where: { userId } });

describe('account takeover by a hostile instructor', () => {
  it('enrolling an existing admin by email touches this course only, and no token can be minted for them', async () => {
    const admin = await env.db.user.findUniqueOrThrow({ where: { id: s.users.admin.id } });
    const before = await tokensOf(admin.id);
    const m = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members`, { token: s.users.instructor.token, json: { email: admin.email, role: 'student' } });
    assert.equal(m.status, 200);
    assert.equal(m.body.role, 'student');
    const after = await env.db.user.findUniqueOrThrow({ where: { id: admin.id } });
    assert.equal(after.isAdmin, true, 'the admin flag is untouched');
    assert.equal(after.name, admin.name);
    // the old minting route is gone: nobody mints a token for another user through a course
    const t = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members/${admin.id}/tokens`, { token: s.users.instructor.token, json: {} });
    assert.equal(t.status, 404);
    // nor through the admin route or another user's self-service route
    const viaAdmin = await api(env, 'POST', `/api/v1/users/${admin.id}/tokens`, { token: s.users.instructor.token, json: { scope: 'admin' } });
    assert.equal(viaAdmin.status, 403);
    assert.equal(await tokensOf(admin.id), before, 'no token was created for the admin');
    assert.equal(await env.db.auditEvent.count({ where: { action: 'token.issue', targetId: admin.id, actorId: s.users.instructor.id } }), 0);
  });

  it("enrolling another course's instructor never changes their role there", async () => {
    const other = await env.db.user.findUniqueOrThrow({ where: { id: s.users.otherInstructor.id } });
    const m = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members`, { token: s.users.instructor.token, json: { email: other.email, role: 'student' } });
    assert.equal(m.status, 200);
    const inB = await env.db.membership.findUniqueOrThrow({ where: { userId_courseId: { userId: other.id, courseId: s.otherCourseId } } });
    assert.equal(inB.role, 'instructor', 'still the instructor of their own course');
    // and their own token keeps working there, while the hostile instructor gets nothing of course B
    const r = await api(env, 'GET', `/api/v1/courses/${s.otherCourseId}/members`, { token: s.users.otherInstructor.token });
    assert.equal(r.status, 200);
    const hostile = await api(env, 'GET', `/api/v1/courses/${s.otherCourseId}/members`, { token: s.users.instructor.token });
    assert.equal(hostile.status, 403);
  });

  it('enrolment never demotes an instructor (409, nothing changed); an admin token may', async () => {
    const co = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members`, { token: s.users.instructor.token, json: { email: 'co@t.test', role: 'instructor' } });
    assert.equal(co.status, 200);
    const demote = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members`, { token: s.users.instructor.token, json: { email: 'co@t.test', role: 'student' } });
    assert.equal(demote.status, 409);
    assert.equal(demote.body.type, '/problems/role-demotion-refused');
    const m = await env.db.membership.findUniqueOrThrow({ where: { userId_courseId: { userId: co.body.userId, courseId: s.courseId } } });
    assert.equal(m.role, 'instructor');
    // promoting is fine
    const up = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members`, { token: s.users.instructor.token, json: { email: 'student2@t.test', role: 'instructor' } });
    assert.equal(up.status, 200);
    assert.equal(up.body.role, 'instructor');
    const byAdmin = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members`, { token: s.users.admin.token, json: { email: 'student2@t.test', role: 'student' } });
    assert.equal(byAdmin.status, 200);
    assert.equal(byAdmin.body.role, 'student');
  });

  it('an admin acts as admin only with an admin-scoped token', async () => {
    const plain = await issueToken(env.db, { userId: s.users.admin.id, name: 'plain', scope: 'instructor', issuedById: null });
    const r = await api(env, 'GET', `/api/v1/courses/${s.otherCourseId}/members`, { token: plain.token });
    assert.equal(r.status, 403, 'no admin rights through a non-admin token');
    const issue = await api(env, 'POST', `/api/v1/users/${s.users.student1.id}/tokens`, { token: plain.token, json: { scope: 'read' } });
    assert.equal(issue.status, 403);
    const ok = await api(env, 'POST', `/api/v1/users/${s.users.student1.id}/tokens`, { token: s.users.admin.token, json: { scope: 'submit', courseId: s.courseId, name: 'for student1' } });
    assert.equal(ok.status, 201);
    assert.equal(ok.body.scope, 'submit');
    assert.equal(ok.body.courseId, s.courseId);
    const me = await api(env, 'GET', '/api/v1/me', { token: ok.body.token });
    assert.equal(me.body.user.id, s.users.student1.id);
    assert.deepEqual(me.body.token, { id: ok.body.id, scope: 'submit', courseId: s.courseId, expiresAt: null });
    // an admin scope only for admins
    const wide = await api(env, 'POST', `/api/v1/users/${s.users.student1.id}/tokens`, { token: s.users.admin.token, json: { scope: 'admin' } });
    assert.equal(wide.status, 422);
  });
});

describe('tokens are refused outside their scope', () => {
  it('a read-only token reads but cannot submit or manage', async () => {
    const t = await issueToken(env.db, { userId: s.users.instructor.id, name: 'ro', scope: 'read', issuedById: null });
    assert.equal((await api(env, 'GET', `/api/v1/courses/${s.courseId}/members`, { token: t.token })).status, 200);
    const sub = await submit(env, s.assignmentId, t.token, [{ name: 'msgbuf.c', content: 'int ro;\n' }]);
    assert.equal(sub.status, 403);
    assert.match(sub.body.detail, /scope \(read\).*needs submit/);
    const edit = await api(env, 'PATCH', `/api/v1/assignments/${s.assignmentId}`, { token: t.token, json: { title: 'x' } });
    assert.equal(edit.status, 403);
  });

  it('a course-scoped token works in its course only, even for a user who teaches elsewhere too', async () => {
    await env.db.membership.create({ data: { userId: s.users.otherInstructor.id, courseId: s.courseId, role: 'instructor' } }).catch(() => {});
    await env.db.membership.update({ where: { userId_courseId: { userId: s.users.otherInstructor.id, courseId: s.courseId } }, data: { role: 'instructor' } });
    const t = await issueToken(env.db, { userId: s.users.otherInstructor.id, name: 'A only', scope: 'instructor', courseId: s.courseId, issuedById: null });
    assert.equal((await api(env, 'GET', `/api/v1/courses/${s.courseId}/members`, { token: t.token })).status, 200);
    const b = await api(env, 'GET', `/api/v1/courses/${s.otherCourseId}/members`, { token: t.token });
    assert.equal(b.status, 403);
    assert.match(b.body.detail, /limited to another course/);
    const courses = await api(env, 'GET', '/api/v1/courses', { token: t.token });
    assert.deepEqual(courses.body.map((c: any) => c.id), [s.courseId], 'it sees its course only');
    const create = await api(env, 'POST', '/api/v1/courses', { token: t.token, json: { code: 'scoped-1', title: 'x' } });
    assert.equal(create.status, 403);
  });
});

describe('users create and revoke their own tokens, never wider than the asking token', () => {
  it('no escalation by creating a token', async () => {
    const ro = await issueToken(env.db, { userId: s.users.instructor.id, name: 'ro', scope: 'read', issuedById: null });
    const wider = await api(env, 'POST', '/api/v1/me/tokens', { token: ro.token, json: { scope: 'instructor' } });
    assert.equal(wider.status, 403);
    const scoped = await issueToken(env.db, { userId: s.users.instructor.id, name: 'A', scope: 'instructor', courseId: s.courseId, issuedById: null });
    const unscoped = await api(env, 'POST', '/api/v1/me/tokens', { token: scoped.token, json: { scope: 'read', courseId: null } });
    assert.equal(unscoped.status, 403);
    const inherit = await api(env, 'POST', '/api/v1/me/tokens', { token: scoped.token, json: { scope: 'read', name: 'ci' } });
    assert.equal(inherit.status, 201);
    assert.equal(inherit.body.courseId, s.courseId, 'a course token makes tokens of its course');
    const student = await api(env, 'POST', '/api/v1/me/tokens', { token: s.users.student1.token, json: { scope: 'admin' } });
    assert.equal(student.status, 403);
    const notMine = await api(env, 'POST', '/api/v1/me/tokens', { token: s.users.instructor.token, json: { scope: 'read', courseId: s.otherCourseId } });
    assert.equal(notMine.status, 403, 'not for a course the user is not in');
    const fine = await api(env, 'POST', '/api/v1/me/tokens', { token: s.users.student1.token, json: { scope: 'read', courseId: s.courseId, expiresInDays: 7, name: 'ci' } });
    assert.equal(fine.status, 201);
    assert.equal(fine.headers.get('cache-control'), 'no-store');
    const list = await api(env, 'GET', '/api/v1/me/tokens', { token: fine.body.token });
    assert.ok(list.body.some((t: any) => t.id === fine.body.id && t.scope === 'read' && !('token' in t) && !('tokenHash' in t)));
    assert.ok(list.body.every((t: any) => typeof t.prefix === 'string'));
  });

  it('a leaked narrow token cannot revoke the wider ones; any token can revoke itself', async () => {
    const wide = await issueToken(env.db, { userId: s.users.instructor.id, name: 'wide', scope: 'instructor', issuedById: null });
    const ro = await issueToken(env.db, { userId: s.users.instructor.id, name: 'ro', scope: 'read', issuedById: null });
    const r = await api(env, 'DELETE', `/api/v1/me/tokens/${wide.id}`, { token: ro.token });
    assert.equal(r.status, 403);
    const other = await api(env, 'DELETE', `/api/v1/me/tokens/${s.users.otherInstructor.id}`, { token: wide.token });
    assert.equal(other.status, 404);
    const self = await api(env, 'DELETE', `/api/v1/me/tokens/${ro.id}`, { token: ro.token });
    assert.equal(self.status, 204);
    assert.equal((await api(env, 'GET', '/api/v1/me', { token: ro.token })).status, 401);
    const byWide = await api(env, 'DELETE', `/api/v1/me/tokens/${wide.id}`, { token: wide.token });
    assert.equal(byWide.status, 204);
    assert.equal(await env.db.auditEvent.count({ where: { action: 'token.revoke', targetId: s.users.instructor.id } }), 2);
  });
});

describe('the migration narrows tokens minted for others before the fix', () => {
  it('an instructor-minted token becomes a submit token of its course; without its course it is revoked; admin tokens stay admin', async () => {
    // a database at the previous migration, with tokens as the old code made them
    const dir = await mkdtemp(join(tmpdir(), 'kgrader-migrations-'));
    const all = (await readdir(defaultMigrationsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    const mine = all.find((n) => n.endsWith('_token_scopes_heartbeats'))!;
    for (const name of all.filter((n) => n < mine)) await cp(join(defaultMigrationsDir, name), join(dir, name), { recursive: true });
    const url = await freshDatabase('accounts_migration', { migrationsDir: dir });
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const q = (sql: string, args: unknown[] = []) => c.query(sql, args);
      const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
      await q(`INSERT INTO "User"(id, email, name, "isAdmin") VALUES ($1,'adm@t','adm',true), ($2,'ins@t','ins',false), ($3,'stu@t','stu',false)`, [id(1), id(2), id(3)]);
      await q(`INSERT INTO "Course"(id, code, title) VALUES ($1,'c-1','c')`, [id(10)]);
      const tok = (n: number, user: number, issuer: number | null, name = 't') =>
        q(`INSERT INTO "ApiToken"(id, "userId", name, "tokenHash", prefix, "issuedById") VALUES ($1,$2,$3,$4,'kgr_x',$5)`, [id(n), id(user), name, `h${n}`, issuer ? id(issuer) : null]);
      await tok(20, 1, null); // admin's own, from kgrader-admin
      await tok(21, 1, 2); // minted for the admin by an instructor: the takeover
      await tok(22, 3, 2); // minted for a student by an instructor, audited with the course
      await tok(23, 2, null); // an instructor's own
      await tok(24, 3, 1); // issued by an admin
      await q(`INSERT INTO "AuditEvent"(id, "actorId", action, "courseId", "targetType", "targetId", data) VALUES ($1,$2,'token.issue',$3,'user',$4,$5)`, [id(30), id(2), id(10), id(3), { tokenId: id(22) }]);
      await c.end();

      await migrate({ databaseUrl: url });
      const db = createDb({ databaseUrl: url, poolMax: 1 });
      try {
        const rows = new Map((await db.apiToken.findMany()).map((t) => [t.id, t]));
        assert.equal(rows.get(id(20))!.scope, 'admin');
        assert.equal(rows.get(id(20))!.revokedAt, null);
        assert.ok(rows.get(id(21))!.revokedAt, 'the token an instructor minted for an admin is revoked');
        assert.equal(rows.get(id(21))!.scope, 'submit');
        assert.deepEqual([rows.get(id(22))!.scope, rows.get(id(22))!.courseId, rows.get(id(22))!.revokedAt], ['submit', id(10), null]);
        assert.equal(rows.get(id(23))!.scope, 'instructor');
        assert.equal(rows.get(id(24))!.scope, 'instructor', "an admin-issued token keeps its user's rights");
        const run = await db.gradingRun.count();
        assert.equal(run, 0);
      } finally {
        await db.$disconnect();
      }
    } finally {
      await dropDatabase(url);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
