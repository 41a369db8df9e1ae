// Rosters (issue 12, item 3) against the real PostgreSQL and the LTI mock platform: CSV import
// with its dry run (what would be added, changed, refused: never another course, never a
// demotion, never a user's account), the file's own errors, and the LTI Names and Role
// Provisioning Services sync (paged membership container, matched by LTI identity, never by
// e-mail; inactive members and unknown roles refused; nobody demoted).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureToolKeyFile } from '@kgrader/lti';
import { MockPlatform, type MockUser } from '@kgrader/lti/test-support';
import { api, seed, startApi, type Seed, type TestEnv } from './helpers.js';
import { fullLaunch } from './lms-support.js';

const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/membership#';
const CLIENT_ID = 'kgrader-roster';
const DEPLOYMENT = 'dep-roster';

describe('rosters', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let platform: MockPlatform;
  let keyDir: string;
  const ins = () => s.users.instructor.token;
  const csvImport = (csv: string, dryRun: boolean, token = ins()) => api(env, 'POST', `/api/v1/courses/${s.courseId}/roster/import`, { token, json: { csv, dryRun } });
  const members = async () =>
    (await env.db.membership.findMany({ where: { courseId: s.courseId }, include: { user: true } })).map((m) => `${m.user.email}:${m.role}`).sort();

  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'kgrader-roster-'));
    const toolKeysFile = join(keyDir, 'tool-keys.json');
    await ensureToolKeyFile(toolKeysFile);
    env = await startApi('roster', { lms: { toolKeysFile, ltiAllowInsecureUrls: true, ltiAllowPrivateUrls: true } });
    s = await seed(env.db);
    platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: DEPLOYMENT, toolJwksUrl: `${env.baseUrl}/.well-known/jwks.json` });
  });
  after(async () => {
    await platform?.close();
    await env?.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  const CSV = [
    'Email,Name,Role,Extra',
    'new.person@t.test,New Person,student,x',
    'outsider@t.test,Renamed Outsider,student,',
    'student1@t.test,Student One,student,',
    'student2@t.test,Student Two,instructor,',
    'instructor@t.test,Instructor,student,',
    'other@t.test,Other Instructor,student,',
    'admin@t.test,Admin,instructor,',
    'not-an-email,Nobody,student,',
    'role@t.test,Bad Role,ta,',
    'NEW.PERSON@t.test,Duplicate,student,',
    '"quoted, not@t.test",Comma,student,',
  ].join('\n');

  it('a dry run says what would be added, changed and refused, and writes nothing', async () => {
    const before = { members: await members(), users: await env.db.user.count(), audit: await env.db.auditEvent.count() };
    const r = await csvImport(CSV, true);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.dryRun, true);
    assert.deepEqual(r.body.add.map((x: { email: string; role: string; newUser: boolean }) => [x.email, x.role, x.newUser]), [
      ['new.person@t.test', 'student', true],
      ['outsider@t.test', 'student', false],
      ['other@t.test', 'student', false],
      ['admin@t.test', 'instructor', false],
    ]);
    assert.equal(r.body.add[1].name, 'outsider', "an existing user's name is theirs, not the file's");
    assert.deepEqual(r.body.change.map((x: { email: string; from: string; role: string }) => [x.email, x.from, x.role]), [['student2@t.test', 'student', 'instructor']]);
    assert.deepEqual(r.body.unchanged.map((x: { email: string }) => x.email), ['student1@t.test']);
    const refused = r.body.refused.map((x: { line: number; reason: string }) => [x.line, x.reason.split(':')[0]]);
    assert.deepEqual(refused, [
      [9, 'not an e-mail address'],
      [10, 'role must be student or instructor, not "ta"'],
      [11, 'the same e-mail as line 2'],
      [12, 'not an e-mail address'],
      [6, 'an instructor of this course'],
    ]);
    assert.deepEqual({ members: await members(), users: await env.db.user.count(), audit: await env.db.auditEvent.count() }, before);
  });

  it('applying it writes only this course: other courses, account flags and names stay; instructors are not demoted', async () => {
    const r = await csvImport(CSV, false);
    assert.equal(r.status, 200);
    assert.equal(r.body.dryRun, false);
    assert.equal(r.body.add.length, 4);
    assert.deepEqual(await members(), [
      'admin@t.test:instructor',
      'instructor@t.test:instructor',
      'new.person@t.test:student',
      'other@t.test:student',
      'outsider@t.test:student',
      'student1@t.test:student',
      'student2@t.test:instructor',
    ]);
    const other = await env.db.membership.findUniqueOrThrow({ where: { userId_courseId: { userId: s.users.otherInstructor.id, courseId: s.otherCourseId } } });
    assert.equal(other.role, 'instructor', 'still an instructor of their own course');
    const admin = await env.db.user.findUniqueOrThrow({ where: { id: s.users.admin.id } });
    assert.equal(admin.isAdmin, true);
    assert.equal((await env.db.user.findUniqueOrThrow({ where: { id: s.users.outsider.id } })).name, 'outsider');
    assert.equal((await env.db.user.findUniqueOrThrow({ where: { email: 'new.person@t.test' } })).name, 'New Person');
    assert.ok(await env.db.auditEvent.findFirst({ where: { action: 'roster.csv', courseId: s.courseId } }));
    // the same file again: nothing to add
    const again = await csvImport(CSV, false);
    assert.equal(again.body.add.length, 0);
    assert.equal(again.body.change.length, 0);
  });

  it('a file that cannot be read is refused with the reason (422), nothing written; only the course instructors may import', async () => {
    const before = await members();
    for (const [csv, re] of [
      ['email,name\n"unclosed@t.test,Quote\n', /cannot be read/],
      ['name,role\nNo Email,student\n', /needs a header line with an `email` column/],
      ['email,name\n', /no rows/],
    ] as const) {
      const r = await csvImport(csv, false);
      assert.equal(r.status, 422, csv);
      assert.equal(r.body.type, '/problems/roster/bad-csv');
      assert.match(r.body.detail, re);
    }
    assert.equal((await csvImport('', false)).status, 400);
    const big = `email\n${Array.from({ length: 5001 }, (_, i) => `u${i}@t.test`).join('\n')}`;
    assert.equal((await csvImport(big, true)).status, 413);
    assert.equal((await csvImport('email\nx@t.test\n', false, s.users.student1.token)).status, 403);
    assert.equal((await csvImport('email\nx@t.test\n', false, s.users.otherInstructor.token)).status, 403);
    assert.deepEqual(await members(), before);
  });

  it('LTI NRPS: the roster of the LMS course, paged, matched by LTI identity only; inactive members and unknown roles refused', async () => {
    const noNrps = await api(env, 'POST', `/api/v1/courses/${s.courseId}/roster/lti-sync`, { token: ins(), json: { dryRun: true } });
    assert.equal(noNrps.status, 422);
    assert.equal(noNrps.body.type, '/problems/roster/no-nrps');
    const reg = await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/platforms`, {
      token: ins(),
      json: { issuer: platform.issuer, clientId: CLIENT_ID, authEndpoint: platform.authUrl, tokenEndpoint: platform.tokenUrl, jwksUrl: platform.jwksUrl, deploymentIds: [DEPLOYMENT] },
    });
    assert.equal(reg.status, 201);
    // one launch tells kgrader the LMS course and its memberships URL
    const ada: MockUser = { sub: 'lms-ada', name: 'Ada', email: 'ada@lms.example', roles: [`${LIS}Learner`] };
    platform.users.set(ada.sub, ada);
    assert.equal((await fullLaunch(env.baseUrl, platform, ada, CLIENT_ID, `${env.baseUrl}/lti/assignments/${s.assignmentId}`)).status, 303);
    const ctxs = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/contexts`, { token: ins() });
    assert.deepEqual(ctxs.body.map((c: { contextId: string; nrps: boolean }) => [c.contextId, c.nrps]), [['ctx-os-2026', true]]);

    platform.membersPageSize = 2;
    platform.members.push(
      { user_id: 'lms-ada', name: 'Ada', email: 'ada@lms.example', roles: [`${LIS}Learner`] },
      { user_id: 'lms-bob', name: 'Bob Teacher', email: 'bob@lms.example', roles: [`${LIS}Instructor`] },
      { user_id: 'lms-carol', name: 'Carol', email: 'carol@lms.example', roles: [`${LIS}Learner`], status: 'Inactive' },
      { user_id: 'lms-dave', name: 'Dave', email: 'dave@lms.example', roles: ['http://purl.imsglobal.org/vocab/lis/v2/institution/person#Guest'] },
      // claims the address of an existing kgrader account: the LMS does not prove it, so no link
      { user_id: 'lms-eve', name: 'Eve', email: 'student1@t.test', roles: [`${LIS}Learner`] },
    );
    const before = await members();
    const dry = await api(env, 'POST', `/api/v1/courses/${s.courseId}/roster/lti-sync`, { token: ins(), json: { dryRun: true } });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.source, 'lti');
    assert.deepEqual(dry.body.add.map((x: { email: string; role: string; newUser: boolean }) => [x.email, x.role, x.newUser]), [
      ['bob@lms.example', 'instructor', true],
      ['student1@t.test', 'student', true],
    ]);
    assert.deepEqual(dry.body.unchanged.map((x: { email: string }) => x.email), ['ada@lms.example']);
    assert.deepEqual(dry.body.refused.map((x: { email: string }) => x.email), ['carol@lms.example', 'dave@lms.example']);
    assert.deepEqual(await members(), before, 'a dry run writes nothing');
    assert.ok(platform.tokenRequests.some((t) => t.ok && t.scope === 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly'));

    const applied = await api(env, 'POST', `/api/v1/courses/${s.courseId}/roster/lti-sync`, { token: ins(), json: { dryRun: false } });
    assert.equal(applied.status, 200);
    const eve = await env.db.ltiIdentity.findFirstOrThrow({ where: { sub: 'lms-eve' }, include: { user: true } });
    assert.notEqual(eve.userId, s.users.student1.id, 'not linked to the existing account by e-mail');
    assert.match(eve.user.email, /@lti\.invalid$/);
    const bob = await env.db.ltiIdentity.findFirstOrThrow({ where: { sub: 'lms-bob' } });
    assert.equal((await env.db.membership.findUniqueOrThrow({ where: { userId_courseId: { userId: bob.userId, courseId: s.courseId } } })).role, 'instructor');
    assert.ok((await env.db.ltiContext.findFirstOrThrow({ where: { courseId: s.courseId } })).lastSyncAt);

    // the LMS now says bob is a learner: never demoted
    platform.members[1]!.roles = [`${LIS}Learner`];
    const demote = await api(env, 'POST', `/api/v1/courses/${s.courseId}/roster/lti-sync`, { token: ins(), json: { dryRun: false } });
    assert.ok(demote.body.refused.some((x: { email: string; reason: string }) => x.email === 'bob@lms.example' && /never demotes/.test(x.reason)));
    assert.equal((await env.db.membership.findUniqueOrThrow({ where: { userId_courseId: { userId: bob.userId, courseId: s.courseId } } })).role, 'instructor');
    // another course's instructor cannot sync this course
    assert.equal((await api(env, 'POST', `/api/v1/courses/${s.courseId}/roster/lti-sync`, { token: s.users.otherInstructor.token, json: { dryRun: true } })).status, 403);
  });
});
