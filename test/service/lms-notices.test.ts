// LTI Platform Notification Service + Asset Processor over HTTP with the loopback mock platform
// (issue 15), no grading here (lms-asset-processor.test.ts grades for real): an instructor attaches
// kgrader to an LMS assignment by deep linking (picker, signed LtiDeepLinkingResponse verified by
// the platform), the notice handler is registered with the platform's PNS from the launch claim,
// LtiHelloWorldNotice is answered and unknown types are ignored, a submission notice is verified,
// stored once (the same notice twice creates one submission), reported `Processing` at once, its
// assets fetched (through a redirect too) and accepted by the REST upload rule, the submission
// created for the LMS user; refused assets become Failed reports visible to the instructor;
// platform endpoint failures are retried from the outbox, visible and re-sendable; forged,
// replayed, expired, wrong-deployment, wrong-audience and jti-less notices are refused with their
// rule; with the SSRF switch off nothing reaches a loopback platform.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadExercise, shippedExercisesDir } from '@kgrader/engine';
import { ensureToolKeyFile, readToolKeyFile, type ToolKey } from '@kgrader/lti';
import { makeRsaKey, MockPlatform, SCOPES, type MockUser } from '@kgrader/lti/test-support';
import { lmsServiceClient, NoticeDispatcher, ServiceCallDispatcher, type WorkerLmsConfig } from '@kgrader/worker';
import { api, seed, solutionPath, startApi, tarGz, waitFor, type Seed, type TestEnv } from './helpers.js';
import { deepLinkLaunch, formFields } from './lms-support.js';

const CLIENT_ID = 'kgrader-pns-test';
const DEPLOYMENT = 'dep-pns';
const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/';
const teacher: MockUser = { sub: 'lms-teacher-1', name: 'Grace Hopper', email: 'grace@pns.example', roles: [`${LIS}membership#Instructor`] };
const learner: MockUser = { sub: 'lms-student-7', name: 'Ada Lovelace', email: 'ada@pns.example', roles: [`${LIS}membership#Learner`] };
const ACTIVITY = 'canvas-assignment-17';

let env: TestEnv;
let s: Seed;
let platform: MockPlatform;
let keyDir: string;
let key: ToolKey;
let notices: NoticeDispatcher;
let calls: ServiceCallDispatcher;
let processorId: string;
let reference: Buffer;

const lmsConfig = (over: Partial<WorkerLmsConfig> = {}): WorkerLmsConfig => ({
  toolKeysFile: undefined,
  allowInsecureUrls: true,
  allowPrivateUrls: true,
  webhooks: { allowPrivate: false, timeoutMs: 5_000, pollMs: 0 },
  passback: { pollMs: 0, schedule: [200, 200], agsAttempts: 1, agsBaseDelayMs: 10, timeoutMs: 5_000 },
  assets: { pollMs: 0, schedule: [200, 200] },
  ...over,
});

const handlerUrl = () => `${env.baseUrl}/lti/notices`;
const send = async (...jwts: string[]) => platform.sendNotices(handlerUrl(), jwts);
const noticeRows = () => env.db.ltiNotice.count();

function assertRefused(r: { status: number; body: any; contentType: string }, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.contentType, /application\/problem\+json/);
  assert.equal(r.body.type, `/problems/lti/${code}`, JSON.stringify(r.body));
  assert.ok(r.body.detail);
  assert.equal(r.body.notices[0].outcome, 'refused');
}

const attachLaunch = (user: MockUser) => deepLinkLaunch(env.baseUrl, platform, user, CLIENT_ID, { id: ACTIVITY, title: 'Driver lab 1' });

const postForm = async (url: string, fields: Record<string, string>) => {
  const res = await fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* html */
  }
  return { status: res.status, text, body };
};

before(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'kgrader-pns-'));
  const toolKeysFile = join(keyDir, 'tool-keys.json');
  await ensureToolKeyFile(toolKeysFile);
  [key] = (await readToolKeyFile(toolKeysFile)) as [ToolKey];
  // the mock platform listens on loopback: allowed by the explicit admin switch (API and worker; default off)
  env = await startApi('lms_notices', { lms: { toolKeysFile, ltiAllowInsecureUrls: true, ltiAllowPrivateUrls: true } });
  s = await seed(env.db);
  platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: DEPLOYMENT, toolJwksUrl: `${env.baseUrl}/.well-known/jwks.json`, pns: true });
  platform.users.set(teacher.sub, teacher);
  platform.users.set(learner.sub, learner);
  const reg = await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/platforms`, {
    token: s.users.instructor.token,
    json: { issuer: platform.issuer, clientId: CLIENT_ID, authEndpoint: platform.authUrl, tokenEndpoint: platform.tokenUrl, jwksUrl: platform.jwksUrl, deploymentIds: [DEPLOYMENT] },
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  assert.equal(reg.body.tool.noticeHandlerUrl, handlerUrl());
  const cfg = lmsConfig();
  const ags = lmsServiceClient(key, cfg);
  // the worker's loops, driven round by round (the grading queue is the API's: jobs stay queued, nothing grades here)
  notices = new NoticeDispatcher({ db: env.db, ags, config: cfg, queue: env.deps.queue, loadExercise: (slug) => loadExercise(slug, shippedExercisesDir) });
  calls = new ServiceCallDispatcher({ db: env.db, ags, config: cfg });
  reference = await readFile(solutionPath('reference'));
});

after(async () => {
  await platform?.close();
  await env?.close();
  await rm(keyDir, { recursive: true, force: true });
});

describe('attaching kgrader to an LMS assignment (deep linking) and registering the notice handler', () => {
  it('a learner cannot attach kgrader', async () => {
    const r = await attachLaunch(learner);
    assert.equal(r.status, 403, r.text);
    assert.equal(JSON.parse(r.text).type, '/problems/lti/not-instructor');
    assert.equal(await env.db.ltiAssetProcessor.count(), 0);
  });

  it('the instructor picks the exercise; the LMS gets a signed ltiAssetProcessor content item', async () => {
    const r = await attachLaunch(teacher);
    assert.equal(r.status, 200, r.text);
    assert.match(r.contentType, /text\/html/);
    assert.match(r.text, /value="msgbuf"/, 'the exercises are offered');
    const picker = formFields(r.text);
    assert.equal(picker['_action'], `${env.baseUrl}/lti/deep-link`);
    // a tampered state is refused
    const tampered = await postForm(picker['_action']!, { state: `${picker['state']!.slice(0, -4)}AAAA`, exercise: 'msgbuf' });
    assert.equal(tampered.status, 401, tampered.text);
    // an unknown exercise is refused and the state stays usable
    const unknown = await postForm(picker['_action']!, { state: picker['state']!, exercise: 'no-such-exercise' });
    assert.equal(unknown.status, 422, unknown.text);
    assert.equal(unknown.body.type, '/problems/lti/unknown-exercise');

    const done = await postForm(picker['_action']!, { state: picker['state']!, exercise: 'msgbuf', title: 'Driver lab 1 (msgbuf)' });
    assert.equal(done.status, 200, done.text);
    const back = formFields(done.text);
    assert.equal(back['_action'], platform.deepLinkReturnUrl);
    const atPlatform = await fetch(back['_action']!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ JWT: back['JWT']! }).toString() });
    assert.equal(atPlatform.status, 200, `${await atPlatform.text()} ${platform.deepLinkErrors.join('; ')}`);
    const claims = platform.deepLinkResponses[0]!.claims as Record<string, any>;
    assert.equal(claims['https://purl.imsglobal.org/spec/lti-dl/claim/data'], 'opaque-dl-data-42', 'the opaque data comes back');
    const items = claims['https://purl.imsglobal.org/spec/lti-dl/claim/content_items'];
    assert.equal(items.length, 1);
    assert.equal(items[0].type, 'ltiAssetProcessor');
    assert.equal(items[0].custom.kgrader_exercise, 'msgbuf');
    processorId = items[0].custom.kgrader_processor;

    const p = await env.db.ltiAssetProcessor.findUniqueOrThrow({ where: { id: processorId }, include: { assignment: true } });
    assert.equal(p.activityId, ACTIVITY);
    assert.equal(p.exerciseSlug, 'msgbuf');
    assert.equal(p.exerciseVersion, null);
    assert.equal(p.assignment.courseId, s.courseId);
    assert.equal(p.assignment.exerciseSlug, 'msgbuf');
    assert.equal(p.assignment.title, 'Driver lab 1 (msgbuf)');
    // the same form twice: one-time
    const again = await postForm(picker['_action']!, { state: picker['state']!, exercise: 'msgbuf' });
    assert.equal(again.status, 401, again.text);
    assert.equal(await env.db.ltiAssetProcessor.count(), 1);

    const listed = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/asset-processors`, { token: s.users.instructor.token });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.map((x: any) => [x.id, x.activityId, x.exerciseSlug]), [[processorId, ACTIVITY, 'msgbuf']]);
  });

  it('the launch registered the notice handler with the PNS (noticehandlers scope), once', async () => {
    const queued = await env.db.ltiServiceCall.findMany({ where: { kind: 'register_handler' } });
    assert.equal(queued.length, 2, 'submission and hello-world notices');
    const sum = await calls.runOnce();
    assert.equal(sum.sent, 2, JSON.stringify(sum));
    assert.deepEqual(platform.handlers.map((h) => h.body['notice_type']).sort(), ['LtiAssetProcessorSubmissionNotice', 'LtiHelloWorldNotice']);
    for (const h of platform.handlers) {
      assert.equal(h.deploymentId, DEPLOYMENT);
      assert.equal(h.body['handler'], handlerUrl());
    }
    // another launch with the same claim registers nothing new
    await attachLaunch(teacher);
    assert.equal(await env.db.ltiServiceCall.count({ where: { kind: 'register_handler' } }), 2);
    const listed = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/service-calls?kind=register_handler`, { token: s.users.instructor.token });
    assert.deepEqual(listed.body.map((c: any) => c.status), ['sent', 'sent']);
  });
});

describe('notices', () => {
  let submissionNoticeId: string;

  it('LtiHelloWorldNotice is answered, an unknown notice type acknowledged and ignored', async () => {
    const hello = await send(await platform.sign(platform.noticeClaims('LtiHelloWorldNotice')));
    assert.equal(hello.status, 200, JSON.stringify(hello.body));
    assert.equal(hello.body.notices[0].outcome, 'answered');
    const copy = await send(await platform.sign(platform.noticeClaims('LtiContextCopyNotice', { 'https://purl.imsglobal.org/spec/lti/claim/origin_contexts': ['c0'] })));
    assert.equal(copy.status, 200);
    assert.equal(copy.body.notices[0].outcome, 'ignored');
    assert.deepEqual((await env.db.ltiNotice.findMany({ orderBy: { receivedAt: 'asc' } })).map((n) => n.status), ['answered', 'ignored']);
  });

  it('a submission notice is stored at once with a Processing report per asset; the same notice again is a duplicate', async () => {
    platform.addAsset({ id: 'asset-c', filename: 'msgbuf.c', content: reference });
    const claims = platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-c'], activityId: ACTIVITY, submissionId: 'lms-sub-1', custom: { kgrader_processor: processorId } });
    const started = Date.now();
    const r = await send(await platform.sign(claims));
    assert.ok(Date.now() - started < 2_000, 'answered quickly');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.notices[0].outcome, 'accepted');
    submissionNoticeId = r.body.notices[0].noticeId;
    const processing = await env.db.ltiServiceCall.findMany({ where: { kind: 'asset_report' } });
    assert.equal(processing.length, 1);
    assert.equal((processing[0]!.body as any).processingProgress, 'Processing');
    // the platform sends the same notice again (a new JWT, the same notice id)
    const again = structuredClone(claims);
    again.jti = 'another-jti';
    again['nonce'] = 'another-nonce';
    const dup = await send(await platform.sign(again));
    assert.equal(dup.status, 200);
    assert.equal(dup.body.notices[0].outcome, 'duplicate');
    const row = await env.db.ltiNotice.findFirstOrThrow({ where: { noticeId: submissionNoticeId } });
    assert.equal(row.duplicates, 1);
    assert.equal(row.status, 'received');
  });

  it('the Processing report reaches the platform with a report-scoped token', async () => {
    await calls.runOnce();
    assert.equal(platform.reports.length, 1);
    const rep = platform.reports[0]!;
    assert.equal(rep.status, 201);
    assert.equal(rep.body['assetId'], 'asset-c');
    assert.equal(rep.body['processingProgress'], 'Processing');
    assert.equal(rep.body['type'], 'kgrader');
    assert.equal(rep.body['priority'], 0);
    assert.equal(rep.path, `/reports/${ACTIVITY}`);
    assert.ok(platform.tokenRequests.some((t) => t.ok && t.scope === SCOPES.report));
  });

  it('the worker fetches the asset and creates one submission for the LMS user, whatever the duplicates', async () => {
    const sum = await notices.runOnce();
    assert.equal(sum.submitted, 1, JSON.stringify(sum));
    assert.equal((await notices.runOnce()).claimed, 0, 'the duplicate is not processed again');
    const row = await env.db.ltiNotice.findFirstOrThrow({ where: { noticeId: submissionNoticeId } });
    assert.equal(row.status, 'submitted');
    const sub = await env.db.submission.findUniqueOrThrow({ where: { id: row.submissionId! }, include: { files: true, user: { include: { ltiIdentities: true, memberships: true } } } });
    const p = await env.db.ltiAssetProcessor.findUniqueOrThrow({ where: { id: processorId } });
    assert.equal(sub.assignmentId, p.assignmentId);
    assert.equal(sub.status, 'queued');
    assert.deepEqual(sub.files.map((f) => f.name), ['msgbuf.c']);
    const blob = await env.db.blob.findUniqueOrThrow({ where: { sha256: sub.files[0]!.sha256 } });
    assert.ok(Buffer.from(blob.content).equals(reference), 'the bytes the platform served');
    assert.deepEqual(sub.user.ltiIdentities.map((i) => i.sub), [learner.sub]);
    assert.deepEqual(sub.user.memberships.map((m) => [m.courseId, m.role]), [[s.courseId, 'student']]);
    assert.ok(platform.assetDownloads.every((d) => d.authorization?.startsWith('Bearer ')));
    assert.ok(platform.tokenRequests.some((t) => t.ok && t.scope === SCOPES.assetReadonly));
    // the grading is queued like any submission's
    assert.ok(await env.deps.queue.getJob(`${sub.id}_g1`));
    assert.equal(await env.db.submission.count({ where: { assignmentId: p.assignmentId } }), 1);
    // the notice grades its AGS line item too: the passback link is there
    assert.equal(await env.db.ltiResourceLink.count({ where: { assignmentId: p.assignmentId, lineitemUrl: platform.lineitemUrl } }), 1);
  });

  it('an archive served through a redirect is accepted by the upload rule', async () => {
    platform.addAsset({ id: 'asset-tgz', filename: 'driver.tar.gz', content: tarGz([{ name: 'msgbuf.c', content: reference }]), contentType: 'application/gzip', redirect: true });
    const r = await send(await platform.sign(platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-tgz'], activityId: ACTIVITY, custom: { kgrader_processor: processorId } })));
    assert.equal(r.body.notices[0].outcome, 'accepted');
    assert.equal((await notices.runOnce()).submitted, 1);
    const row = await env.db.ltiNotice.findFirstOrThrow({ where: { noticeId: r.body.notices[0].noticeId }, include: { submission: { include: { files: true } } } });
    assert.deepEqual(row.submission!.files.map((f) => f.name), ['msgbuf.c']);
    assert.ok(platform.assetDownloads.some((d) => d.path === '/files/asset-tgz'), 'the redirect was followed');
  });

  it('assets the upload rule refuses become Failed reports with the reason, visible to the instructor', async () => {
    platform.addAsset({ id: 'asset-make', filename: 'Makefile', content: Buffer.from('obj-m := msgbuf.o\n') });
    platform.addAsset({ id: 'asset-big', filename: 'huge.c', content: Buffer.alloc(2 * 1024 * 1024, 0x20) });
    platform.addAsset({ id: 'asset-text', title: 'Online text entry', content: Buffer.from('<p>hi</p>'), contentType: 'text/html' });
    const ids: string[] = [];
    for (const a of ['asset-make', 'asset-big', 'asset-text']) {
      const r = await send(await platform.sign(platform.submissionNotice({ userId: learner.sub, assetIds: [a], activityId: ACTIVITY, custom: { kgrader_processor: processorId } })));
      assert.equal(r.body.notices[0].outcome, 'accepted');
      ids.push(r.body.notices[0].noticeId);
    }
    const downloadsBefore = platform.assetDownloads.length;
    const sum = await notices.runOnce();
    assert.equal(sum.rejected, 3, JSON.stringify(sum));
    assert.equal(platform.assetDownloads.length, downloadsBefore, 'refused by name or declared size before any byte was fetched');
    await calls.runOnce();
    const failed = platform.reports.filter((r) => r.body['processingProgress'] === 'Failed');
    assert.deepEqual(
      failed.map((r) => [r.body['assetId'], r.body['errorCode']]).sort(),
      [
        ['asset-big', 'ASSET_TOO_LARGE'],
        ['asset-make', 'UNSUPPORTED_ASSET_TYPE'],
        ['asset-text', 'UNSUPPORTED_ASSET_TYPE'],
      ],
    );
    assert.match(String(failed.find((r) => r.body['assetId'] === 'asset-make')!.body['comment']), /Makefile/);
    const listed = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/notices?status=rejected`, { token: s.users.instructor.token });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.map((n: any) => n.noticeId).sort(), [...ids].sort());
    for (const n of listed.body) {
      assert.ok(n.lastError, 'the reason is shown');
      // the unsent Processing report was superseded by the Failed one
      assert.deepEqual(n.reports.map((c: any) => [c.processingProgress, c.status]), [['Processing', 'superseded'], ['Failed', 'sent']]);
    }
    // a student cannot read the notices
    assert.equal((await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/notices`, { token: s.users.student1.token })).status, 403);
  });

  it('a notice for an LMS assignment kgrader is not attached to is refused with a Failed report', async () => {
    platform.addAsset({ id: 'asset-other', filename: 'msgbuf.c', content: reference });
    const r = await send(await platform.sign(platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-other'], activityId: 'not-attached' })));
    assert.equal(r.body.notices[0].outcome, 'accepted');
    assert.equal((await notices.runOnce()).rejected, 1);
    await calls.runOnce();
    const rep = platform.reports.at(-1)!;
    assert.equal(rep.body['assetId'], 'asset-other');
    assert.equal(rep.body['errorCode'], 'KGRADER_NOT_ATTACHED');
  });
});

describe('platform endpoint failures: retried from the outbox, visible, re-sendable', () => {
  it('a 503 from the Asset Service is retried, then the submission is made', async () => {
    platform.addAsset({ id: 'asset-retry', filename: 'msgbuf.c', content: reference });
    platform.plan('assets', [503]);
    const r = await send(await platform.sign(platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-retry'], activityId: ACTIVITY, custom: { kgrader_processor: processorId } })));
    const noticeId = r.body.notices[0].noticeId;
    assert.equal((await notices.runOnce()).retried, 1);
    const listed = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/notices?status=received`, { token: s.users.instructor.token });
    const n = listed.body.find((x: any) => x.noticeId === noticeId);
    assert.equal(n.attempts, 1);
    assert.match(n.lastError, /503/);
    await waitFor('retry due', async () => (await notices.runOnce()).submitted === 1, 5_000, 100);
    assert.equal((await env.db.ltiNotice.findFirstOrThrow({ where: { noticeId } })).status, 'submitted');
  });

  it('a report answered 503 is retried on the schedule; a 400 fails visibly and an instructor sends it again', async () => {
    await calls.runOnce(); // whatever is due
    platform.addAsset({ id: 'asset-rep', filename: 'msgbuf.c', content: reference });
    await send(await platform.sign(platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-rep'], activityId: ACTIVITY, custom: { kgrader_processor: processorId } })));
    platform.plan('reports', [503]);
    assert.equal((await calls.runOnce()).retried, 1);
    const pending = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/service-calls?kind=asset_report&status=pending`, { token: s.users.instructor.token });
    assert.equal(pending.body.length, 1);
    assert.equal(pending.body[0].lastStatus, 503);
    assert.equal(pending.body[0].attempts, 1);
    assert.ok(pending.body[0].nextAttemptAt);
    await waitFor('report re-sent', async () => (await calls.runOnce()).sent === 1, 5_000, 100);
    assert.equal(platform.reports.filter((r) => r.body['assetId'] === 'asset-rep' && r.status === 201).length, 1);

    // the final (Failed, after a refusal) report is refused by the platform with a 400
    platform.addAsset({ id: 'asset-400', filename: 'notes.txt', content: Buffer.from('x') });
    await send(await platform.sign(platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-400'], activityId: ACTIVITY, custom: { kgrader_processor: processorId } })));
    await notices.runOnce();
    platform.plan('reports', [400]);
    await calls.runOnce();
    const failed = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/service-calls?status=failed`, { token: s.users.instructor.token });
    assert.equal(failed.body.length, 1, JSON.stringify(failed.body));
    assert.equal(failed.body[0].lastStatus, 400);
    const callId = failed.body[0].id;
    assert.equal((await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/service-calls/${callId}/retry`, { token: s.users.student1.token })).status, 403);
    assert.equal((await api(env, 'POST', `/api/v1/courses/${s.otherCourseId}/lti/service-calls/${callId}/retry`, { token: s.users.otherInstructor.token })).status, 404);
    const re = await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/service-calls/${callId}/retry`, { token: s.users.instructor.token });
    assert.equal(re.status, 202, JSON.stringify(re.body));
    assert.equal((await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/service-calls/${callId}/retry`, { token: s.users.instructor.token })).status, 409, 'only a failed call');
    await calls.runOnce();
    assert.equal((await env.db.ltiServiceCall.findUniqueOrThrow({ where: { id: callId } })).status, 'sent');
  });
});

describe('hostile notices are refused, nothing stored', () => {
  const valid = () => platform.noticeClaims('LtiHelloWorldNotice');

  it('forged: signed by another key under the platform kid', async () => {
    const before = await noticeRows();
    const other = await makeRsaKey('attacker');
    assertRefused(await send(await platform.sign(valid(), { key: other, kid: platform.currentKey.kid })), 401, 'bad_signature');
    assert.equal(await noticeRows(), before);
  });

  it('replayed: the same notice JWT twice', async () => {
    const jwt = await platform.sign(valid());
    assert.equal((await send(jwt)).status, 200);
    const before = await noticeRows();
    assertRefused(await send(jwt), 401, 'notice_replayed');
    assert.equal(await noticeRows(), before);
  });

  it('expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const before = await noticeRows();
    assertRefused(await send(await platform.sign({ ...valid(), iat: now - 7_000, exp: now - 3_400 })), 401, 'token_expired');
    assert.equal(await noticeRows(), before);
  });

  it('wrong deployment', async () => {
    const before = await noticeRows();
    assertRefused(await send(await platform.sign({ ...valid(), 'https://purl.imsglobal.org/spec/lti/claim/deployment_id': 'dep-of-another-school' })), 403, 'unknown_deployment');
    assert.equal(await noticeRows(), before);
  });

  it('wrong audience, unknown issuer, no jti nor nonce, no notice claim', async () => {
    const before = await noticeRows();
    assertRefused(await send(await platform.sign({ ...valid(), aud: 'another-tool', azp: 'another-tool' })), 401, 'invalid_audience');
    assertRefused(await send(await platform.sign({ ...valid(), iss: 'https://lms.evil.example' })), 401, 'unknown_platform');
    const bare = valid() as Record<string, unknown>;
    delete bare['jti'];
    delete bare['nonce'];
    assertRefused(await send(await platform.sign(bare)), 401, 'missing_jti');
    const noNotice = valid() as Record<string, unknown>;
    delete noNotice['https://purl.imsglobal.org/spec/lti/claim/notice'];
    assertRefused(await send(await platform.sign(noNotice)), 400, 'invalid_notice');
    assert.equal(await noticeRows(), before);
  });

  it('a batch with good and forged notices: 207, each notice with its outcome', async () => {
    const other = await makeRsaKey('attacker');
    const r = await send(await platform.sign(valid()), await platform.sign(valid(), { key: other, kid: platform.currentKey.kid }));
    assert.equal(r.status, 207, JSON.stringify(r.body));
    assert.deepEqual(r.body.notices.map((n: any) => [n.index, n.outcome, n.status]), [
      [0, 'answered', 200],
      [1, 'refused', 401],
    ]);
    assert.equal(r.body.notices[1].problem.type, '/problems/lti/bad_signature');
  });

  it('a malformed body is a 400 problem', async () => {
    const res = await fetch(handlerUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ notices: [] }) });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
  });
});

describe('SSRF guard: with the admin switch off nothing reaches a loopback platform', () => {
  it('the worker refuses to call a loopback platform and fails the call at once, visibly', async () => {
    const strictCalls = new ServiceCallDispatcher({ db: env.db, ags: lmsServiceClient(key, lmsConfig({ allowPrivateUrls: false })), config: lmsConfig({ allowPrivateUrls: false }) });
    platform.addAsset({ id: 'asset-ssrf', filename: 'msgbuf.c', content: reference });
    await calls.runOnce();
    const reportsBefore = platform.reports.length;
    await send(await platform.sign(platform.submissionNotice({ userId: learner.sub, assetIds: ['asset-ssrf'], activityId: ACTIVITY, custom: { kgrader_processor: processorId } })));
    const sum = await strictCalls.runOnce();
    assert.equal(sum.failed, 1, JSON.stringify(sum));
    assert.equal(platform.reports.length, reportsBefore, 'nothing was sent');
    const c = await env.db.ltiServiceCall.findFirstOrThrow({ where: { status: 'failed', url: platform.reportUrl(ACTIVITY) }, orderBy: { createdAt: 'desc' } });
    assert.match(c.lastError ?? '', /loopback/);
  });

  it('an API without the switch does not fetch a loopback platform JWKS for a notice', async () => {
    const strict = await startApi('lms_notices_strict', { lms: { toolKeysFile: join(keyDir, 'tool-keys.json'), ltiAllowInsecureUrls: true } });
    try {
      const ss = await seed(strict.db);
      await strict.db.ltiPlatform.create({
        data: {
          courseId: ss.courseId,
          issuer: platform.issuer,
          clientId: CLIENT_ID,
          authEndpoint: platform.authUrl,
          tokenEndpoint: platform.tokenUrl,
          jwksUrl: platform.jwksUrl,
          deployments: { create: [{ deploymentId: DEPLOYMENT, courseId: ss.courseId }] },
        },
      });
      const fetchedBefore = platform.jwksFetches;
      const r = await platform.sendNotices(`${strict.baseUrl}/lti/notices`, [await platform.sign(platform.noticeClaims('LtiHelloWorldNotice'))]);
      assertRefused(r, 502, 'jwks_unavailable');
      assert.equal(platform.jwksFetches, fetchedBefore);
      assert.equal(await strict.db.ltiNotice.count(), 0);
    } finally {
      await strict.close();
    }
  });
});
