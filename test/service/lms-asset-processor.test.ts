// LTI Asset Processor end to end with the real worker and the real engine (QEMU): an instructor
// attaches kgrader to an LMS assignment by deep linking; the worker registers the notice handler
// with the platform's PNS; a student submits in the LMS, the platform sends the
// LtiAssetProcessorSubmissionNotice (twice: the same notice again grades once); kgrader reports
// `Processing` at once, fetches the asset, grades it and posts the final Asset Report (score,
// indicator color by verdict, link to the submission page); the score reaches the AGS line item.
// Boots QEMU: run under `flock /tmp/kgrader-vm.lock`.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureToolKeyFile } from '@kgrader/lti';
import { MockPlatform, type MockUser } from '@kgrader/lti/test-support';
import { assignmentChannel, createRedis } from '@kgrader/db';
import { runWorker, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, kernelMissing, REDIS_URL, seed, solutionPath, startApi, waitFor, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { attachExercise, deepLinkLaunch, realGrader } from './lms-support.js';

/** a grading by the real engine (QEMU under TCG) takes 25-60 s on 2 cores */
const GRADING_MS = 240_000;
const CLIENT_ID = 'kgrader-ap-test';
const DEPLOYMENT = 'dep-ap';
const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/';
const teacher: MockUser = { sub: 'lms-t-1', name: 'Grace Hopper', email: 'grace@ap.example', roles: [`${LIS}membership#Instructor`] };
const learner: MockUser = { sub: 'lms-s-1', name: 'Ada Lovelace', email: 'ada@ap.example', roles: [`${LIS}membership#Learner`] };
const ACTIVITY = 'canvas-assignment-99';

let env: TestEnv;
let s: Seed;
let platform: MockPlatform;
let worker: RunningWorker;
let keyDir: string;

before(async () => {
  if (kernelMissing) return;
  keyDir = await mkdtemp(join(tmpdir(), 'kgrader-ap-'));
  const toolKeysFile = join(keyDir, 'tool-keys.json');
  await ensureToolKeyFile(toolKeysFile);
  // the mock platform listens on loopback: allowed by the explicit admin switch (API and worker; default off)
  env = await startApi('lms_asset_processor', { lms: { toolKeysFile, ltiAllowInsecureUrls: true, ltiAllowPrivateUrls: true } });
  s = await seed(env.db);
  platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: DEPLOYMENT, toolJwksUrl: `${env.baseUrl}/.well-known/jwks.json`, pns: true });
  platform.users.set(teacher.sub, teacher);
  const reg = await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/platforms`, {
    token: s.users.instructor.token,
    json: { issuer: platform.issuer, clientId: CLIENT_ID, authEndpoint: platform.authUrl, tokenEndpoint: platform.tokenUrl, jwksUrl: platform.jwksUrl, deploymentIds: [DEPLOYMENT] },
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  worker = await runWorker({
    config: testWorkerConfig(env, {
      workerId: 'lms-asset-processor',
      retry: { attempts: 2, backoffMs: 100 },
      shutdownGraceMs: 1_000,
      heartbeat: { intervalMs: 10_000, staleSeconds: 45 },
      lms: {
        toolKeysFile,
        allowInsecureUrls: true,
        allowPrivateUrls: true,
        passback: { pollMs: 100, schedule: [1_000], agsAttempts: 1, agsBaseDelayMs: 10, timeoutMs: 5_000 },
        assets: { pollMs: 100, schedule: [500, 500] },
      },
    }),
    grader: realGrader(),
    logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
  });
});

after(async () => {
  await worker?.shutdown();
  await platform?.close();
  await env?.close();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

describe('LTI Asset Processor, graded by the real engine', { skip: kernelMissing ?? false, timeout: 600_000 }, () => {
  let processorId: string;

  it('the instructor attaches kgrader (msgbuf) to the LMS assignment; the worker registers the notice handler', async () => {
    const launch = await deepLinkLaunch(env.baseUrl, platform, teacher, CLIENT_ID, { id: ACTIVITY, title: 'Lab 3: msgbuf' });
    assert.equal(launch.status, 200, launch.text);
    const r = await attachExercise(launch.text, 'msgbuf');
    assert.deepEqual(r, { status: 200, platformStatus: 200 });
    processorId = (platform.deepLinkResponses[0]!.claims['https://purl.imsglobal.org/spec/lti-dl/claim/content_items'] as any)[0].custom.kgrader_processor;
    await waitFor('handlers registered', async () => platform.handlers.length === 2, 10_000);
    assert.ok(platform.handlers.every((h) => h.body['handler'] === `${env.baseUrl}/lti/notices`));
  });

  it('a submission in the LMS is graded once and reported: Processing at once, then the score, color and link', async () => {
    // the instructors' live table hears of the new submission before its grading starts
    const attached = await env.db.ltiAssetProcessor.findUniqueOrThrow({ where: { id: processorId } });
    const listener = createRedis(REDIS_URL);
    const heard: { type: string; status: string; submissionId: string }[] = [];
    listener.on('message', (_channel, message) => heard.push(JSON.parse(message)));
    await listener.subscribe(assignmentChannel(attached.assignmentId));
    platform.addAsset({ id: 'asset-1', filename: 'msgbuf.c', content: await readFile(solutionPath('never-loads')) });
    const claims = platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-1'], activityId: ACTIVITY, submissionId: 'lms-sub-1', custom: { kgrader_processor: processorId } });
    const first = await platform.sendNotices(`${env.baseUrl}/lti/notices`, [await platform.sign(claims)]);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.notices[0].outcome, 'accepted');
    // the platform delivers the same notice again (another JWT, the same notice id)
    const again = await platform.sendNotices(`${env.baseUrl}/lti/notices`, [await platform.sign({ ...claims, jti: 'retry-jti', nonce: 'retry-nonce' })]);
    assert.equal(again.body.notices[0].outcome, 'duplicate');

    const processing = await waitFor('Processing report', async () => platform.reports.find((r) => r.body['processingProgress'] === 'Processing'), 20_000);
    assert.equal(processing.body['assetId'], 'asset-1');

    const final = await waitFor('final report', async () => platform.reports.find((r) => r.body['processingProgress'] === 'Processed' && r.status === 201), GRADING_MS, 500);
    const subs = await env.db.submission.findMany({ where: { assignment: { ltiAssetProcessors: { some: { id: processorId } } } }, include: { runs: true } });
    assert.equal(subs.length, 1, 'the same notice twice grades once');
    const sub = subs[0]!;
    assert.equal(sub.status, 'done');
    listener.disconnect();
    const forSub = heard.filter((e) => e.submissionId === sub.id);
    assert.deepEqual(forSub[0] && [forSub[0].type, forSub[0].status], ['status', 'queued'], `announced as queued first: ${JSON.stringify(forSub.slice(0, 3))}`);
    assert.equal(sub.runs.length, 1);
    // never-loads: the module does not load, so only the kmemleak test's points remain
    assert.equal(sub.verdict, 'fail');
    assert.equal(final.body['scoreGiven'], sub.score);
    assert.equal(final.body['scoreMaximum'], 100);
    assert.equal(final.body['indicationColor'], '#C62828', 'red for a failing driver');
    assert.equal(final.body['priority'], 4);
    assert.equal(final.body['type'], 'kgrader');
    assert.match(String(final.body['result']), /^fail \d/);
    assert.ok(String(final.body['comment']).includes(`${env.baseUrl}/app/submissions/${sub.id}`), 'links to the submission page');
    assert.ok(Date.parse(final.body['timestamp'] as string) > Date.parse(processing.body['timestamp'] as string));

    // the score goes to the gradebook through AGS as well
    const score = await waitFor('AGS score', async () => platform.scores.find((x) => x.body['userId'] === learner.sub), 20_000);
    assert.equal(score.body['scoreGiven'], sub.score);

    // what the instructor sees
    const listed = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/notices`, { token: s.users.instructor.token });
    const n = listed.body.find((x: any) => x.noticeId === first.body.notices[0].noticeId);
    assert.equal(n.status, 'submitted');
    assert.equal(n.submissionId, sub.id);
    assert.equal(n.duplicates, 1);
    assert.deepEqual(n.reports.map((c: any) => [c.processingProgress, c.status]), [
      ['Processing', 'sent'],
      ['Processed', 'sent'],
    ]);
    // the page the report links to answers (its run timings hold the engine's `vmStart` string too)
    const detail = await api(env, 'GET', `/api/v1/submissions/${sub.id}`, { token: s.users.instructor.token });
    assert.equal(detail.status, 200, JSON.stringify(detail.body));
    assert.ok(Object.values(detail.body.run.timings).every((v) => typeof v === 'number'));
    // the row is the LMS user's
    const owner = await env.db.ltiIdentity.findFirstOrThrow({ where: { sub: learner.sub } });
    assert.equal(owner.userId, sub.userId);
  });
});
