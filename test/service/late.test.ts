// Late work (issue 12, item 5) against the real PostgreSQL and Redis, the worker machinery (a
// stand-in grader) and the LTI mock platform: a hard deadline refuses late work, a penalty policy
// accepts it up to the cutoff and takes off a share per started day, per-student extensions move a
// student's own due date (acceptance, penalty, tests shown after the due date), and the score sent
// to the LMS gradebook (AGS) is the score after the penalty, sent again when an extension changes it.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureToolKeyFile } from '@kgrader/lti';
import { MockPlatform, type MockUser } from '@kgrader/lti/test-support';
import { lateness } from '@kgrader/schemas';
import { runWorker, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, waitFor, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { fullLaunch } from './lms-support.js';
import { standInGrader } from './stand-in.js';

const CLIENT_ID = 'kgrader-late-test';
const DEPLOYMENT = 'dep-late';
const ada: MockUser = { sub: 'lms-ada', name: 'Ada Late', email: 'ada@late.example', roles: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'] };
const H = 3_600_000;

describe('lateness (pure)', () => {
  it('hard: refused after the due date; penalty: per started unit, capped, refused after the cutoff', () => {
    const due = new Date('2026-12-01T12:00:00Z');
    const at = (h: number) => new Date(due.getTime() + h * H);
    assert.deepEqual(lateness({ kind: 'hard' }, due, at(-1)), { lateSeconds: 0, penaltyPercent: 0, accepted: true });
    assert.equal(lateness({ kind: 'hard' }, due, at(0.01)).accepted, false);
    assert.equal(lateness({ kind: 'hard' }, null, at(1000)).accepted, true, 'no due date: never late');
    const p = { kind: 'penalty' as const, percent: 10, per: 'day' as const, maxPercent: 30, cutoffHours: 96 };
    assert.equal(lateness(p, due, at(0.5)).penaltyPercent, 10, 'a started day counts');
    assert.equal(lateness(p, due, at(25)).penaltyPercent, 20);
    assert.equal(lateness(p, due, at(90)).penaltyPercent, 30, 'capped');
    assert.equal(lateness(p, due, at(96)).accepted, true);
    assert.equal(lateness(p, due, at(96.01)).accepted, false, 'after the cutoff');
    assert.equal(lateness({ kind: 'penalty', percent: 2, per: 'hour', maxPercent: 100, cutoffHours: 10 }, due, at(3.5)).penaltyPercent, 8);
  });
});

describe('late work through the service', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let platform: MockPlatform;
  let worker: RunningWorker;
  let keyDir: string;
  let adaToken = '';
  let adaId = '';
  const ins = () => s.users.instructor.token;
  const patch = (json: object) => api(env, 'PATCH', `/api/v1/assignments/${s.assignmentId}`, { token: ins(), json });
  let n = 0;
  const file = () => [{ name: 'msgbuf.c', content: `int ok_${++n};\n` }];
  const graded = (id: string) => waitFor(`graded ${id}`, async () => (await env.db.submission.findUniqueOrThrow({ where: { id } })).status === 'done', 30_000);

  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'kgrader-late-'));
    const toolKeysFile = join(keyDir, 'tool-keys.json');
    await ensureToolKeyFile(toolKeysFile);
    env = await startApi('late', { lms: { toolKeysFile, ltiAllowInsecureUrls: true, ltiAllowPrivateUrls: true } });
    s = await seed(env.db);
    platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: DEPLOYMENT, toolJwksUrl: `${env.baseUrl}/.well-known/jwks.json` });
    platform.users.set(ada.sub, ada);
    const reg = await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/platforms`, {
      token: ins(),
      json: { issuer: platform.issuer, clientId: CLIENT_ID, authEndpoint: platform.authUrl, tokenEndpoint: platform.tokenUrl, jwksUrl: platform.jwksUrl, deploymentIds: [DEPLOYMENT] },
    });
    assert.equal(reg.status, 201);
    worker = await runWorker({
      config: testWorkerConfig(env, {
        workerId: 'late',
        lms: { toolKeysFile, allowInsecureUrls: true, allowPrivateUrls: true, passback: { pollMs: 100, schedule: [500], agsAttempts: 1, agsBaseDelayMs: 10, timeoutMs: 5_000 } },
      }),
      grader: standInGrader(),
      logger: pino({ level: 'silent' }),
    });
    const launch = await fullLaunch(env.baseUrl, platform, ada, CLIENT_ID, `${env.baseUrl}/lti/assignments/${s.assignmentId}`);
    assert.equal(launch.status, 303);
    const code = new URLSearchParams(new URL(launch.location).hash.slice(1)).get('lti_session');
    const ex = await api(env, 'POST', '/lti/session', { json: { code } });
    adaToken = ex.body.token;
    adaId = ex.body.userId;
  });
  after(async () => {
    await worker?.shutdown();
    await platform?.close();
    await env?.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  it('a hard deadline refuses late work; an extension lets that student submit', async () => {
    assert.equal((await patch({ dueAt: new Date(Date.now() - H).toISOString(), latePolicy: { kind: 'hard' } })).status, 200);
    const late = await submit(env, s.assignmentId, s.users.student1.token, file());
    assert.equal(late.status, 403);
    assert.equal(late.body.type, '/problems/assignment-closed');
    const ext = await api(env, 'PUT', `/api/v1/assignments/${s.assignmentId}/extensions/${s.users.student1.id}`, { token: ins(), json: { dueAt: new Date(Date.now() + H).toISOString(), reason: 'illness' } });
    assert.equal(ext.status, 200, JSON.stringify(ext.body));
    assert.equal(ext.body.reason, 'illness');
    const a = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}`, { token: s.users.student1.token });
    assert.equal(a.body.yourDueAt, ext.body.dueAt, 'the student sees their own due date');
    const ok = await submit(env, s.assignmentId, s.users.student1.token, file());
    assert.equal(ok.status, 202);
    assert.equal((await submit(env, s.assignmentId, s.users.student2.token, file())).status, 403, 'the others are still refused');
  });

  it('who may grant extensions, and to whom', async () => {
    const put = (token: string, userId: string) => api(env, 'PUT', `/api/v1/assignments/${s.assignmentId}/extensions/${userId}`, { token, json: { dueAt: new Date(Date.now() + H).toISOString() } });
    assert.equal((await put(s.users.student1.token, s.users.student1.id)).status, 403, 'not oneself');
    assert.equal((await put(s.users.otherInstructor.token, s.users.student2.id)).status, 403, "not another course's instructor");
    const notStudent = await put(ins(), s.users.instructor.id);
    assert.equal(notStudent.status, 422);
    assert.equal(notStudent.body.type, '/problems/not-a-student');
    assert.equal((await put(ins(), s.users.outsider.id)).status, 422, 'not in the course');
    const bad = await api(env, 'PUT', `/api/v1/assignments/${s.assignmentId}/extensions/${s.users.student2.id}`, { token: ins(), json: { dueAt: 'tomorrow' } });
    assert.equal(bad.status, 400);
    assert.equal(await env.db.extension.count({ where: { userId: { in: [s.users.student2.id, s.users.instructor.id, s.users.outsider.id] } } }), 0, 'nothing stored');
    const list = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/extensions`, { token: ins() });
    assert.deepEqual(list.body.map((e: { userEmail: string }) => e.userEmail), ['student1@t.test']);
    assert.equal((await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/extensions`, { token: s.users.student1.token })).status, 403);
  });

  it('a penalty policy accepts late work up to the cutoff, shows the penalty to the student, and sends the penalized score to the LMS', async () => {
    // 25 h late: two started days at 10 % each
    assert.equal((await patch({ dueAt: new Date(Date.now() - 25 * H).toISOString(), latePolicy: { kind: 'penalty', percent: 10, per: 'day', maxPercent: 50, cutoffHours: 72 } })).status, 200);
    const r = await submit(env, s.assignmentId, adaToken, file());
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await graded(r.body.id);
    const d = await api(env, 'GET', `/api/v1/submissions/${r.body.id}`, { token: adaToken });
    assert.equal(d.body.score, 100, 'the raw score');
    assert.equal(d.body.late.penaltyPercent, 20);
    assert.ok(d.body.late.lateSeconds >= 25 * 3600);
    assert.equal(d.body.late.finalScore, 80);
    const list = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}/submissions`, { token: adaToken });
    assert.equal(list.body.items[0].late.finalScore, 80);
    await waitFor('score sent to the LMS', async () => platform.scores.length >= 1, 15_000);
    assert.equal(platform.scores[0]!.body['scoreGiven'], 80, 'the gradebook gets the penalized score');
    assert.equal(platform.scores[0]!.body['scoreMaximum'], 100);

    // past the cutoff: refused
    assert.equal((await patch({ dueAt: new Date(Date.now() - 73 * H).toISOString() })).status, 200);
    const closed = await submit(env, s.assignmentId, s.users.student2.token, file());
    assert.equal(closed.status, 403);
    assert.match(closed.body.detail, /late submissions included/);
  });

  it("an extension for the LMS student re-sends the gradebook score without the penalty", async () => {
    // the due date moved 73 h back in the last test: the gradebook got 4 days' penalty (40 %)
    await waitFor('re-sent after the due date change', async () => platform.scores.length >= 2, 15_000);
    assert.equal(platform.scores.at(-1)!.body['scoreGiven'], 60);
    assert.equal((await patch({ dueAt: new Date(Date.now() - 25 * H).toISOString() })).status, 200);
    await waitFor('re-sent after the due date change', async () => platform.scores.length >= 3, 15_000);
    assert.equal(platform.scores.at(-1)!.body['scoreGiven'], 80);
    const ext = await api(env, 'PUT', `/api/v1/assignments/${s.assignmentId}/extensions/${adaId}`, { token: ins(), json: { dueAt: new Date(Date.now() + H).toISOString() } });
    assert.equal(ext.status, 200);
    await waitFor('re-sent after the extension', async () => platform.scores.length >= 4, 15_000);
    assert.equal(platform.scores.at(-1)!.body['scoreGiven'], 100);
    const sub = (await env.db.submission.findFirstOrThrow({ where: { userId: adaId } })).id;
    const d = await api(env, 'GET', `/api/v1/submissions/${sub}`, { token: adaToken });
    assert.equal(d.body.late, undefined, 'on time for this student now');
    // withdrawing it brings the penalty back
    assert.equal((await api(env, 'DELETE', `/api/v1/assignments/${s.assignmentId}/extensions/${adaId}`, { token: ins() })).status, 204);
    await waitFor('re-sent after the withdrawal', async () => platform.scores.length >= 5, 15_000);
    assert.equal(platform.scores.at(-1)!.body['scoreGiven'], 80);
    assert.equal((await api(env, 'DELETE', `/api/v1/assignments/${s.assignmentId}/extensions/${adaId}`, { token: ins() })).status, 404);
  });

  it("tests shown after the due date follow the student's own due date", async () => {
    assert.equal((await patch({ dueAt: new Date(Date.now() - H).toISOString(), testVisibility: { kmemleak: 'after_due_date' } })).status, 200);
    const sub = (await env.db.submission.findFirstOrThrow({ where: { userId: adaId } })).id;
    const seen = async () => (await api(env, 'GET', `/api/v1/submissions/${sub}`, { token: adaToken })).body.tests.some((t: { name: string }) => t.name === 'kmemleak');
    assert.equal(await seen(), true, 'the due date has passed');
    await api(env, 'PUT', `/api/v1/assignments/${s.assignmentId}/extensions/${adaId}`, { token: ins(), json: { dueAt: new Date(Date.now() + H).toISOString() } });
    assert.equal(await seen(), false, 'not for a student whose extension runs on');
  });
});
