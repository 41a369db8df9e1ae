// LTI AGS grade passback end to end: a student launches from the mock platform, submits over HTTP,
// the worker grades it with the real engine (sandboxed build, QEMU) and stores the verdict and
// queues the passback in the same transaction; the worker's passback loop publishes
// the score to the mock platform's line item; a 503 is retried with backoff; the state is visible
// on the submission.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ensureToolKeyFile } from '@kgrader/lti';
import { MockPlatform, type MockUser } from '@kgrader/lti/test-support';
import { runWorker, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, waitFor, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { fullLaunch, realGrader } from './lms-support.js';

/** a grading by the real engine (QEMU under TCG) takes 25-60 s on 2 cores */
const GRADING_MS = 240_000;

const CLIENT_ID = 'kgrader-ags-test';
const DEPLOYMENT = 'dep-ags';
const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/';
const ada: MockUser = { sub: 'lms-ada', name: 'Ada Lovelace', email: 'ada@ags.example', roles: [`${LIS}membership#Learner`] };
const neverLoads = fileURLToPath(new URL('../../../exercises/msgbuf/solutions/never-loads/msgbuf.c', import.meta.url));

let env: TestEnv;
let s: Seed;
let platform: MockPlatform;
let worker: RunningWorker;
let keyDir: string;
let student: string;

const detail = (id: string, token = student) => api(env, 'GET', `/api/v1/submissions/${id}`, { token });

before(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'kgrader-ags-'));
  const toolKeysFile = join(keyDir, 'tool-keys.json');
  await ensureToolKeyFile(toolKeysFile);
  // the mock platform listens on loopback: allowed by the explicit admin switch (API and worker; default off)
  env = await startApi('lms_passback', { lms: { toolKeysFile, ltiAllowInsecureUrls: true, ltiAllowPrivateUrls: true } });
  s = await seed(env.db);
  platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: DEPLOYMENT, toolJwksUrl: `${env.baseUrl}/.well-known/jwks.json` });
  platform.users.set(ada.sub, ada);
  const reg = await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/platforms`, {
    token: s.users.instructor.token,
    json: { issuer: platform.issuer, clientId: CLIENT_ID, authEndpoint: platform.authUrl, tokenEndpoint: platform.tokenUrl, jwksUrl: platform.jwksUrl, deploymentIds: [DEPLOYMENT] },
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  worker = await runWorker({
    config: testWorkerConfig(env, {
      workerId: 'lms-passback',
      retry: { attempts: 2, backoffMs: 100 },
      shutdownGraceMs: 1_000,
      heartbeat: { intervalMs: 10_000, staleSeconds: 45 },
      lms: {
        toolKeysFile,
        allowInsecureUrls: true,
        allowPrivateUrls: true,
        // one HTTP try per round, then the durable schedule: 1.5 s (long enough to observe `pending`)
        passback: { pollMs: 100, schedule: [1_500, 1_500], agsAttempts: 1, agsBaseDelayMs: 10, timeoutMs: 5_000 },
      },
    }),
    grader: realGrader(),
    logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
  });
  // the student arrives from the LMS
  const launch = await fullLaunch(env.baseUrl, platform, ada, CLIENT_ID, `${env.baseUrl}/lti/assignments/${s.assignmentId}`);
  assert.equal(launch.status, 303, JSON.stringify(launch.body));
  const code = new URLSearchParams(new URL(launch.location).hash.slice(1)).get('lti_session');
  const ex = await api(env, 'POST', '/lti/session', { json: { code } });
  assert.equal(ex.status, 200);
  student = ex.body.token;
});

after(async () => {
  await worker?.shutdown();
  await platform?.close();
  await env?.close();
  await rm(keyDir, { recursive: true, force: true });
});

describe('AGS grade passback', { timeout: 600_000 }, () => {
  let first: string;

  it('a graded submission publishes its score to the LMS line item with the right fields', async () => {
    const r = await submit(env, s.assignmentId, student, [{ name: 'msgbuf.c', content: await readFile(neverLoads) }]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    first = r.body.id;
    const d = await waitFor('passback sent', async () => {
      const d = await detail(first);
      return d.body.passback?.status === 'sent' ? d : null;
    }, GRADING_MS);
    // graded by the real engine: the module never loads, so only the kmemleak test's points remain
    assert.equal(d.body.verdict, 'fail');
    const score = d.body.score as number;
    assert.ok(score > 0 && score < 100, `score ${score}`);
    assert.equal(d.body.passback.scoreGiven, score);
    assert.equal(d.body.passback.scoreMaximum, 100);
    assert.equal(d.body.passback.attempts, 1);
    assert.ok(d.body.passback.sentAt);

    assert.equal(platform.scores.length, 1);
    const got = platform.scores[0]!;
    assert.equal(got.path, '/courses/7/lineitems/42/lineitem/scores');
    assert.equal(got.query, '?type_id=3', "the line item's query string is kept");
    assert.equal(got.contentType, 'application/vnd.ims.lis.v1.score+json');
    assert.equal(got.body['userId'], ada.sub);
    assert.equal(got.body['scoreGiven'], score);
    assert.equal(got.body['scoreMaximum'], 100);
    assert.equal(got.body['activityProgress'], 'Completed');
    assert.equal(got.body['gradingProgress'], 'FullyGraded');
    assert.equal(got.body['timestamp'], d.body.finishedAt);
    // the token came from a client-credentials grant with our signed assertion (checked by the platform against our JWKS)
    const tok = platform.tokenRequests.filter((t) => t.ok);
    assert.equal(tok.length, 1);
    assert.equal(tok[0]!.assertion?.iss, CLIENT_ID);
    assert.equal(tok[0]!.assertion?.aud, platform.tokenUrl);
  });

  it('a passback answered 503 is retried with backoff, its state visible on the submission', async () => {
    platform.failScores(1, 503);
    // the same files again, on purpose: a fresh Idempotency-Key (without one it would be taken as a retry of the first)
    const r = await submit(env, s.assignmentId, student, [{ name: 'msgbuf.c', content: await readFile(neverLoads) }], { 'idempotency-key': 'again-after-503' });
    assert.equal(r.status, 202);
    const pending = await waitFor('passback pending after 503', async () => {
      const d = await detail(r.body.id);
      return d.body.passback?.status === 'pending' && d.body.passback.attempts === 1 ? d.body.passback : null;
    }, GRADING_MS);
    assert.equal(pending.lastStatus, 503);
    assert.match(pending.lastError, /503/);
    assert.ok(Date.parse(pending.nextAttemptAt) > Date.now() - 1_000);
    assert.equal(platform.scores.length, 1, 'nothing recorded by the platform yet');
    const sent = await waitFor('passback sent after retry', async () => {
      const d = await detail(r.body.id);
      return d.body.passback?.status === 'sent' ? d.body.passback : null;
    });
    assert.equal(sent.attempts, 2);
    assert.equal(sent.lastError, null);
    assert.equal(platform.scores.length, 2);
    assert.equal(platform.scores[1]!.body['userId'], ada.sub);
  });

  it('instructors (only) set the score policy and re-send a grade', async () => {
    const path = `/api/v1/assignments/${s.assignmentId}/score-policy`;
    assert.equal((await api(env, 'PUT', path, { token: student, json: { scorePolicy: 'best' } })).status, 403);
    assert.equal((await api(env, 'PUT', path, { token: s.users.otherInstructor.token, json: { scorePolicy: 'best' } })).status, 403);
    const ok = await api(env, 'PUT', path, { token: s.users.instructor.token, json: { scorePolicy: 'best' } });
    assert.equal(ok.status, 200);
    assert.equal((await env.db.assignment.findUniqueOrThrow({ where: { id: s.assignmentId } })).scorePolicy, 'best');

    const resend = `/api/v1/submissions/${first}/passback`;
    assert.equal((await api(env, 'POST', resend, { token: student })).status, 403);
    assert.equal((await api(env, 'POST', resend, { token: s.users.otherInstructor.token })).status, 403);
    const re = await api(env, 'POST', resend, { token: s.users.instructor.token });
    assert.equal(re.status, 202);
    await waitFor('re-sent', async () => platform.scores.length === 3);
    // under `best` both runs tie; the timestamp is the latest grading time, never older than what was sent
    assert.ok(Date.parse(platform.scores[2]!.body['timestamp'] as string) >= Date.parse(platform.scores[0]!.body['timestamp'] as string));
  });

  it('a submission by a user who did not come through the LMS has no passback', async () => {
    const r = await submit(env, s.assignmentId, s.users.student2.token, [{ name: 'msgbuf.c', content: await readFile(neverLoads) }]);
    await waitFor('graded', async () => ((await detail(r.body.id, s.users.student2.token)).body.status === 'done' ? true : null), GRADING_MS);
    assert.equal((await detail(r.body.id, s.users.student2.token)).body.passback, null);
    assert.equal(await env.db.ltiPassback.count({ where: { submissionId: r.body.id } }), 0);
  });
});
