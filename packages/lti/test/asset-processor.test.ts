// The Asset Processor pieces of @kgrader/lti on their own: notice parsing across the claim
// namespaces platforms use, the report bodies, the signed one-time form state, and the capped
// asset download against the mock platform.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AgsClient,
  AgsError,
  failedReport,
  generateToolKey,
  gradedReport,
  LtiError,
  parseSubmissionNotice,
  processingReport,
  publicJwks,
  signToolState,
  verifyToolState,
  type ToolKey,
} from '../src/index.js';
import { MockPlatform, SCOPES, serveToolJwks } from './support/mock-platform.js';

const CLIENT_ID = 'ap-client';
let toolKey: ToolKey;
let platform: MockPlatform;
let toolServer: Awaited<ReturnType<typeof serveToolJwks>>;

before(async () => {
  toolKey = await generateToolKey();
  toolServer = await serveToolJwks(() => publicJwks([toolKey]));
  platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: 'd1', toolJwksUrl: toolServer.jwksUrl });
});
after(async () => {
  await platform.close();
  await toolServer.close();
});

describe('parseSubmissionNotice', () => {
  it("reads Canvas's lti/claim namespace", () => {
    platform.addAsset({ id: 'a1', filename: 'msgbuf.c', content: Buffer.from('int x;\n') });
    const n = parseSubmissionNotice(platform.submissionNotice({ userId: 'u1', assetIds: ['a1'], activityId: 'act', submissionId: 'sub-1', custom: { kgrader_processor: 'p' } }));
    assert.equal(n.userId, 'u1');
    assert.equal(n.activityId, 'act');
    assert.equal(n.submissionId, 'sub-1');
    assert.equal(n.reportUrl, platform.reportUrl('act'));
    assert.equal(n.reportScope, SCOPES.report);
    assert.equal(n.assetScope, SCOPES.assetReadonly);
    assert.deepEqual(n.assets.map((a) => [a.assetId, a.name, a.size]), [['a1', 'msgbuf.c', 7]]);
    assert.equal(n.custom['kgrader_processor'], 'p');
    assert.equal(n.ags?.lineitem, platform.lineitemUrl);
  });

  it('reads the lti-ap / lti-aip namespaces and defaults the scopes', () => {
    const n = parseSubmissionNotice({
      'https://purl.imsglobal.org/spec/lti/claim/for_user': { user_id: 'u2' },
      'https://purl.imsglobal.org/spec/lti-aip/claim/activity': { activity_id: 'act-2' },
      'https://purl.imsglobal.org/spec/lti-aip/claim/submission': { submission_id: 's-2' },
      'https://purl.imsglobal.org/spec/lti-ap/claim/assetservice': { assets: [{ asset_id: 'x', url: 'https://lms.example/x', title: 'Submission_Text.html' }] },
      'https://purl.imsglobal.org/spec/lti-ap/claim/assetreport': { report_url: 'https://lms.example/reports' },
    });
    assert.equal(n.activityId, 'act-2');
    assert.equal(n.submissionId, 's-2');
    assert.equal(n.assets[0]!.name, 'Submission_Text.html');
    assert.equal(n.assetScope, 'https://purl.imsglobal.org/spec/lti-ap/scope/asset.readonly');
    assert.equal(n.reportScope, 'https://purl.imsglobal.org/spec/lti-ap/scope/report');
  });

  it('says what is missing', () => {
    const base = platform.submissionNotice({ userId: 'u1', assetIds: ['a1'], activityId: 'act' }) as Record<string, unknown>;
    for (const [claim, what] of [
      ['https://purl.imsglobal.org/spec/lti/claim/for_user', /for_user/],
      ['https://purl.imsglobal.org/spec/lti/claim/assetreport', /assetreport/],
      ['https://purl.imsglobal.org/spec/lti/claim/assetservice', /assetservice/],
    ] as const) {
      const c = { ...base };
      delete c[claim];
      assert.throws(() => parseSubmissionNotice(c), (e: unknown) => e instanceof LtiError && e.code === 'invalid_notice' && what.test(e.message));
    }
  });
});

describe('report bodies', () => {
  const at = new Date('2026-03-01T10:00:00.123Z');
  it('Processing, then graded: score, color by verdict, link; error is a Failed report', () => {
    assert.deepEqual(
      { ...processingReport('a', at, 't'), comment: undefined },
      { assetId: 'a', type: 'kgrader', timestamp: '2026-03-01T10:00:00.123Z', processingProgress: 'Processing', priority: 0, title: 't', comment: undefined, visibleToOwner: true },
    );
    const pass = gradedReport('a', at, { title: 't', verdict: 'pass', score: 100, maxScore: 100, summary: 'all good', url: 'https://k/app/submissions/1' });
    assert.equal(pass.processingProgress, 'Processed');
    assert.equal(pass.indicationColor, '#2E7D32');
    assert.equal(pass.priority, 0);
    assert.equal(pass.result, 'pass 100/100');
    assert.equal(pass.scoreGiven, 100);
    assert.match(pass.comment!, /all good\nFull report: https:\/\/k\/app\/submissions\/1/);
    const fail = gradedReport('a', at, { title: 't', verdict: 'fail', score: 12.345, maxScore: 100, summary: null, url: 'u' });
    assert.equal(fail.indicationColor, '#C62828');
    assert.equal(fail.priority, 4);
    assert.equal(fail.result, 'fail 12.35/100');
    assert.ok(fail.result!.length <= 16);
    const err = gradedReport('a', at, { title: 't', verdict: 'error', score: null, maxScore: null, summary: 'x', url: 'u' });
    assert.equal(err.processingProgress, 'Failed');
    assert.equal(err.errorCode, 'KGRADER_INTERNAL_ERROR');
    assert.equal(err.scoreGiven, undefined);
    assert.equal(failedReport('a', at, { title: 't', errorCode: 'ASSET_TOO_LARGE', comment: 'big' }).processingProgress, 'Failed');
  });
});

describe('the signed form state', () => {
  it('round-trips, and refuses tampering, another key and expiry', async () => {
    const st = await signToolState(toolKey, { kind: 'deep-link', courseId: 'c' });
    const got = await verifyToolState([toolKey], st);
    assert.equal(got['courseId'], 'c');
    assert.ok(got.jti);
    const [h, p, sig] = st.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), courseId: 'other' })).toString('base64url');
    await assert.rejects(verifyToolState([toolKey], `${h}.${forgedPayload}.${sig}`), (e: unknown) => e instanceof LtiError && e.code === 'bad_signature');
    const other = await generateToolKey();
    await assert.rejects(verifyToolState([other], st), (e: unknown) => e instanceof LtiError && e.code === 'invalid_state');
    const old = await signToolState(toolKey, { kind: 'deep-link' }, 60, Date.now() - 3_600_000);
    await assert.rejects(verifyToolState([toolKey], old), (e: unknown) => e instanceof LtiError && e.code === 'token_expired');
  });
});

describe('asset download', () => {
  const reg = () => ({ clientId: CLIENT_ID, tokenEndpoint: platform.tokenUrl });
  const client = () => new AgsClient({ key: toolKey, allowInsecureUrls: true, retry: { maxAttempts: 2, baseDelayMs: 1 }, sleep: async () => {} });

  it('downloads with a scoped token, follows a redirect, and stops past the byte cap', async () => {
    platform.addAsset({ id: 'small', filename: 'a.c', content: Buffer.from('int a;\n'), redirect: true });
    const got = await client().downloadAsset(reg(), [SCOPES.assetReadonly], platform.assetUrl('small'), { maxBytes: 100 });
    assert.equal(got.bytes.toString(), 'int a;\n');
    assert.ok(platform.assetDownloads.some((d) => d.path === '/files/small'));
    platform.addAsset({ id: 'big', filename: 'b.c', content: Buffer.alloc(5_000, 0x41) });
    await assert.rejects(client().downloadAsset(reg(), [SCOPES.assetReadonly], platform.assetUrl('big'), { maxBytes: 4_096 }), (e: unknown) => e instanceof AgsError && e.code === 'asset_too_large' && !e.retryable);
  });

  it('a 503 is retryable once the tries are spent; a 404 is not', async () => {
    platform.plan('assets', [503, 503]);
    await assert.rejects(client().downloadAsset(reg(), [SCOPES.assetReadonly], platform.assetUrl('small'), { maxBytes: 100 }), (e: unknown) => e instanceof AgsError && e.retryable);
    await assert.rejects(client().downloadAsset(reg(), [SCOPES.assetReadonly], platform.assetUrl('nope'), { maxBytes: 100 }), (e: unknown) => e instanceof AgsError && !e.retryable && e.httpStatus === 404);
  });
});
