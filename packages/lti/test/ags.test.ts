import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import {
  AgsClient,
  AgsError,
  backoffDelay,
  exportToolKey,
  generateToolKey,
  gradedScore,
  importToolKey,
  parseRetryAfter,
  pendingScore,
  publicJwks,
  scoresUrl,
  scoreToPublish,
  type AgsPlatform,
  type ToolKey,
} from '../src/index.js';
import { AgsScore } from '@kgrader/schemas';
import { MockPlatform, serveToolJwks } from './support/mock-platform.js';

const CLIENT_ID = 'kgrader-client-ags';
let toolKey: ToolKey;
let toolServer: Awaited<ReturnType<typeof serveToolJwks>>;
let platform: MockPlatform;
let reg: AgsPlatform;

/** a client with an injectable clock and a sleep that records instead of waiting */
function client(opts: { now?: () => number } = {}) {
  const sleeps: number[] = [];
  const ags = new AgsClient({
    key: toolKey,
    allowInsecureUrls: true,
    retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 },
    random: () => 1,
    sleep: async (ms) => void sleeps.push(ms),
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { ags, sleeps };
}

before(async () => {
  toolKey = await generateToolKey();
  toolServer = await serveToolJwks(() => publicJwks([toolKey]));
  platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: 'd', toolJwksUrl: toolServer.jwksUrl, tokenTtlSec: 600 });
  reg = { clientId: CLIENT_ID, tokenEndpoint: platform.tokenUrl };
});

after(async () => {
  await platform.close();
  await toolServer.close();
});

describe('AGS score passback against the mock platform', () => {
  it('a URL the SSRF guard refuses is not retried: one try, a non-retryable error, nothing sent', async () => {
    const calls: string[] = [];
    const refusing: typeof fetch = async (input) => {
      calls.push(String(input));
      const e = new Error(`${new URL(String(input)).hostname} resolves to 169.254.169.254 (link_local), which kgrader may not reach`);
      e.name = 'SsrfError';
      throw e;
    };
    const ags = new AgsClient({ key: toolKey, allowInsecureUrls: true, fetch: refusing, retry: { maxAttempts: 4, baseDelayMs: 1 }, sleep: async () => {} });
    const tokensBefore = platform.tokenRequests.length;
    await assert.rejects(
      ags.publishScore({ clientId: CLIENT_ID, tokenEndpoint: 'http://169.254.169.254/token' }, platform.lineitemUrl, pendingScore('u-1', new Date())),
      (e: unknown) => e instanceof AgsError && e.retryable === false && e.attempts === 1 && /refused/.test(e.message),
    );
    assert.equal(calls.length, 1);
    assert.equal(platform.tokenRequests.length, tokensBefore);
  });

  it('publishes a score with the right fields, content type and token', async () => {
    const { ags } = client();
    const choice = scoreToPublish('latest', [{ score: 9, maxScore: 12, gradedAt: '2026-03-01T10:00:00.123Z', verdict: 'fail' }])!;
    const n = platform.scores.length;
    const r = await ags.publishScore(reg, platform.lineitemUrl, gradedScore('u-123', choice));
    assert.deepEqual(r, { status: 200, attempts: 1 });
    const got = platform.scores[n]!;
    AgsScore.parse(got.body);
    assert.equal(got.path, '/courses/7/lineitems/42/lineitem/scores');
    assert.equal(got.query, '?type_id=3');
    assert.equal(got.contentType, 'application/vnd.ims.lis.v1.score+json');
    assert.deepEqual(got.body, {
      userId: 'u-123',
      scoreGiven: 9,
      scoreMaximum: 12,
      activityProgress: 'Completed',
      gradingProgress: 'FullyGraded',
      timestamp: '2026-03-01T10:00:00.123Z',
    });
    // the token came from a verified client assertion with the right claims
    const tok = platform.tokenRequests.filter((t) => t.ok).at(-1)!;
    assert.equal(tok.assertion?.iss, CLIENT_ID);
    assert.equal(tok.assertion?.sub, CLIENT_ID);
    assert.equal(tok.assertion?.aud, platform.tokenUrl);
    assert.ok(tok.assertion?.jti);
    assert.equal(tok.scope, 'https://purl.imsglobal.org/spec/lti-ags/scope/score');
  });

  it('retries after the platform answers 503 twice, then records exactly one score', async () => {
    const { ags, sleeps } = client();
    const n = platform.scores.length;
    platform.failScores(2, 503);
    const r = await ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-1', new Date('2026-03-01T00:00:00Z')));
    assert.equal(r.attempts, 3);
    assert.deepEqual(sleeps, [100, 200], 'exponential backoff');
    assert.equal(platform.scores.length, n + 1);
    assert.equal(platform.scores[n]!.body['gradingProgress'], 'Pending');
  });

  it('honours Retry-After on 429', async () => {
    const { ags, sleeps } = client();
    platform.failScores(1, 429, { 'retry-after': '2' });
    const r = await ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-1', new Date()));
    assert.equal(r.attempts, 2);
    assert.deepEqual(sleeps, [2000]);
  });

  it('gives up retryable after maxAttempts of 5xx', async () => {
    const { ags, sleeps } = client();
    platform.failScores(4, 502);
    await assert.rejects(ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-1', new Date())), (e: unknown) => {
      assert.ok(e instanceof AgsError);
      assert.equal(e.code, 'score_unavailable');
      assert.equal(e.retryable, true);
      assert.equal(e.attempts, 4);
      assert.equal(e.httpStatus, 502);
      return true;
    });
    assert.deepEqual(sleeps, [100, 200, 400]);
  });

  it('does not retry other 4xx', async () => {
    const { ags, sleeps } = client();
    platform.failScores(1, 422);
    await assert.rejects(ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-1', new Date())), (e: unknown) => {
      assert.ok(e instanceof AgsError);
      assert.equal(e.code, 'score_rejected');
      assert.equal(e.retryable, false);
      assert.equal(e.attempts, 1);
      return true;
    });
    assert.deepEqual(sleeps, []);
  });

  it('retries network errors', async () => {
    // a port that refuses connections: bind then close
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const { ags, sleeps } = client();
    await assert.rejects(ags.publishScore({ clientId: CLIENT_ID, tokenEndpoint: `http://127.0.0.1:${port}/token` }, platform.lineitemUrl, pendingScore('u', new Date())), (e: unknown) => {
      assert.ok(e instanceof AgsError);
      assert.equal(e.code, 'token_request_failed');
      assert.equal(e.retryable, true);
      assert.equal(e.attempts, 4);
      return true;
    });
    assert.equal(sleeps.length, 3);
  });

  it('caches the access token until shortly before it expires', async () => {
    let now = Date.now();
    const { ags } = client({ now: () => now });
    const before = platform.tokenRequests.length;
    await ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-1', new Date()));
    await ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-2', new Date()));
    await Promise.all([ags.accessToken(reg), ags.accessToken(reg)]);
    assert.equal(platform.tokenRequests.length, before + 1, 'one token for three uses');
    now += 530_000; // 600 s token, 60 s margin: still valid
    await ags.accessToken(reg);
    assert.equal(platform.tokenRequests.length, before + 1);
    now += 20_000; // past expiry minus margin
    await ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-3', new Date()));
    assert.equal(platform.tokenRequests.length, before + 2);
    assert.equal(ags.tokenRequests, 2);
  });

  it('refreshes the token once when the platform answers 401', async () => {
    const { ags } = client();
    await ags.accessToken(reg);
    platform.revokeTokens();
    const r = await ags.publishScore(reg, platform.lineitemUrl, pendingScore('u-1', new Date()));
    assert.equal(r.status, 200);
    assert.equal(ags.tokenRequests, 2);
  });

  it('is refused a token when the assertion is signed by a key the platform does not know', async () => {
    const stranger = await generateToolKey();
    const ags = new AgsClient({ key: stranger, allowInsecureUrls: true, sleep: async () => {} });
    await assert.rejects(ags.accessToken(reg), (e: unknown) => e instanceof AgsError && e.code === 'token_request_failed' && e.httpStatus === 401 && !e.retryable);
  });

  it('refuses http URLs unless allowed', async () => {
    const ags = new AgsClient({ key: toolKey });
    await assert.rejects(ags.publishScore(reg, platform.lineitemUrl, pendingScore('u', new Date())), (e: unknown) => e instanceof AgsError && e.code === 'insecure_url');
  });
});

describe('pure helpers', () => {
  const runs = [
    { score: 6, maxScore: 12, gradedAt: '2026-03-01T10:00:00Z', verdict: 'fail' as const },
    { score: 12, maxScore: 12, gradedAt: '2026-03-02T10:00:00Z', verdict: 'pass' as const },
    { score: 3, maxScore: 12, gradedAt: '2026-03-03T10:00:00Z', verdict: 'fail' as const },
    { score: null, maxScore: null, gradedAt: '2026-03-04T10:00:00Z', verdict: 'error' as const },
  ];

  it('scoreToPublish: latest, best, ignored runs, monotonic timestamp', () => {
    const latest = scoreToPublish('latest', runs)!;
    assert.equal(latest.scoreGiven, 3);
    assert.equal(latest.timestamp.toISOString(), '2026-03-03T10:00:00.000Z');
    const best = scoreToPublish('best', runs)!;
    assert.equal(best.scoreGiven, 12);
    assert.equal(best.gradedAt.toISOString(), '2026-03-02T10:00:00.000Z');
    assert.equal(best.timestamp.toISOString(), '2026-03-03T10:00:00.000Z', 'never older than what was already sent');
    assert.equal(scoreToPublish('best', []), null);
    assert.equal(scoreToPublish('latest', [runs[3]!]), null);
    // ties go to the later run; a maximum change compares relative scores
    const tie = scoreToPublish('best', [
      { score: 5, maxScore: 10, gradedAt: 1000 },
      { score: 10, maxScore: 20, gradedAt: 2000 },
      { score: 4, maxScore: 10, gradedAt: 3000 },
    ])!;
    assert.deepEqual([tie.scoreGiven, tie.scoreMaximum, tie.gradedAt.getTime()], [10, 20, 2000]);
    // scores are clamped into [0, max]
    assert.equal(scoreToPublish('latest', [{ score: 15, maxScore: 12, gradedAt: 0 }])!.scoreGiven, 12);
  });

  it('scoresUrl, backoffDelay, parseRetryAfter', () => {
    assert.equal(scoresUrl('https://lms/c/1/lineitems/2/lineitem?type_id=3'), 'https://lms/c/1/lineitems/2/lineitem/scores?type_id=3');
    assert.equal(scoresUrl('https://lms/li/9/'), 'https://lms/li/9/scores');
    const p = { baseDelayMs: 1000, maxDelayMs: 5000 };
    assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, p, () => 1)), [1000, 2000, 4000, 5000]);
    assert.equal(backoffDelay(1, p, () => 0), 500);
    assert.equal(parseRetryAfter('7', 0), 7000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 4000), 6000);
    assert.equal(parseRetryAfter('soon', 0), undefined);
    assert.equal(parseRetryAfter(null, 0), undefined);
  });

  it('tool keys: export/import round trip, public JWKS without private parts', async () => {
    const jwk = await exportToolKey(toolKey);
    const again = await importToolKey(jwk);
    assert.equal(again.kid, toolKey.kid);
    const set = publicJwks([toolKey, await generateToolKey('ES256')]);
    assert.equal(set.keys.length, 2);
    for (const k of set.keys) {
      assert.equal(k.d, undefined);
      assert.equal(k.use, 'sig');
      assert.ok(k.kid && k.alg);
    }
    assert.equal(set.keys[1]!.alg, 'ES256');
  });
});
