// LTI 1.3 through the real HTTP endpoints against the mock platform of @kgrader/lti (its own keys,
// JWKS, OIDC auth endpoint with form_post): platform registration per course (and its forbidden
// cases), a full login -> platform -> launch creating the user, membership and resource link, the
// one-time session handoff, and forged launches refused with a clear 4xx per rule.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureToolKeyFile } from '@kgrader/lti';
import { makeRsaKey, MockPlatform, type MockUser } from '@kgrader/lti/test-support';
import { api, seed, startApi, type Seed, type TestEnv } from './helpers.js';
import { formFields, ltiLaunch, ltiLogin } from './lms-support.js';

const CLIENT_ID = 'kgrader-lms-test';
const DEPLOYMENT = 'dep-os-2026';
const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/';
const ada: MockUser = { sub: 'lms-user-123', name: 'Ada Lovelace', email: 'ada@uni.example', roles: [`${LIS}membership#Learner`] };
const grace: MockUser = { sub: 'lms-user-900', name: 'Grace Hopper', email: 'grace@uni.example', roles: [`${LIS}membership#Instructor`] };

let env: TestEnv;
let s: Seed;
let platform: MockPlatform;
let keyDir: string;
let target: string;

const registration = () => ({
  issuer: platform.issuer,
  clientId: CLIENT_ID,
  authEndpoint: platform.authUrl,
  tokenEndpoint: platform.tokenUrl,
  jwksUrl: platform.jwksUrl,
  deploymentIds: [DEPLOYMENT],
});

/** login initiation through the API, returning state, nonce and the state cookie */
const login = (user: MockUser) =>
  ltiLogin(env.baseUrl, {
    iss: platform.issuer,
    login_hint: user.sub,
    target_link_uri: target,
    client_id: CLIENT_ID,
    lti_message_hint: Buffer.from(JSON.stringify({ target })).toString('base64url'),
  });

/** the whole browser dance: /lti/login -> platform auth -> form_post to /lti/launch */
async function fullLaunch(user: MockUser) {
  const l = await login(user);
  assert.equal(l.status, 302, l.body);
  const auth = await fetch(l.location);
  assert.equal(auth.status, 200);
  const form = formFields(await auth.text());
  assert.equal(form['_action'], `${env.baseUrl}/lti/launch`);
  return ltiLaunch(env.baseUrl, { id_token: form['id_token']!, state: form['state']! }, l.cookie);
}

function assertProblem(r: { status: number; body: any; contentType?: string }, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  if (r.contentType !== undefined) assert.match(r.contentType, /application\/problem\+json/);
  assert.equal(r.body.type, `/problems/lti/${code}`, JSON.stringify(r.body));
  assert.equal(r.body.status, status);
  assert.ok(r.body.detail);
}

before(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'kgrader-lti-'));
  const toolKeysFile = join(keyDir, 'tool-keys.json');
  await ensureToolKeyFile(toolKeysFile);
  // the mock platform listens on loopback: allowed here by the explicit admin switch (default off)
  env = await startApi('lms_lti', { lms: { toolKeysFile, ltiAllowInsecureUrls: true, ltiAllowPrivateUrls: true } });
  s = await seed(env.db);
  platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: DEPLOYMENT, toolJwksUrl: `${env.baseUrl}/.well-known/jwks.json` });
  platform.users.set(ada.sub, ada);
  platform.users.set(grace.sub, grace);
  target = `${env.baseUrl}/lti/assignments/${s.assignmentId}`;
});

after(async () => {
  await platform?.close();
  await env?.close();
  await rm(keyDir, { recursive: true, force: true });
});

describe('LTI platform registration (instructors of the course only)', () => {
  it('publishes the tool JWKS', async () => {
    const r = await api(env, 'GET', '/.well-known/jwks.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.keys.length, 1);
    assert.equal(r.body.keys[0].kty, 'RSA');
    assert.equal(r.body.keys[0].d, undefined, 'no private part');
    assert.ok(r.body.keys[0].kid);
  });

  it('refuses students, other instructors and unknown courses', async () => {
    const path = `/api/v1/courses/${s.courseId}/lti/platforms`;
    assert.equal((await api(env, 'POST', path, { token: s.users.student1.token, json: registration() })).status, 403);
    assert.equal((await api(env, 'POST', path, { token: s.users.otherInstructor.token, json: registration() })).status, 403);
    assert.equal((await api(env, 'GET', path, { token: s.users.student1.token })).status, 403);
    assert.equal((await api(env, 'GET', path, { token: s.users.otherInstructor.token })).status, 403);
    assert.equal((await api(env, 'POST', path, { json: registration() })).status, 401);
    assert.equal((await api(env, 'POST', `/api/v1/courses/00000000-0000-4000-8000-000000000000/lti/platforms`, { token: s.users.instructor.token, json: registration() })).status, 404);
    assert.equal(await env.db.ltiPlatform.count(), 0);
  });

  it('registers the platform for the course and answers what to paste into the LMS', async () => {
    const r = await api(env, 'POST', `/api/v1/courses/${s.courseId}/lti/platforms`, { token: s.users.instructor.token, json: registration() });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.courseId, s.courseId);
    assert.deepEqual(r.body.deploymentIds, [DEPLOYMENT]);
    assert.equal(r.body.tool.loginUrl, `${env.baseUrl}/lti/login`);
    assert.equal(r.body.tool.launchUrl, `${env.baseUrl}/lti/launch`);
    assert.equal(r.body.tool.jwksUrl, `${env.baseUrl}/.well-known/jwks.json`);
    const again = await api(env, 'POST', `/api/v1/courses/${s.otherCourseId}/lti/platforms`, { token: s.users.otherInstructor.token, json: registration() });
    assert.equal(again.status, 409, 'one registration per issuer + client id');
    const list = await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/platforms`, { token: s.users.instructor.token });
    assert.equal(list.body.length, 1);
    // another course's instructor cannot delete it through their own course
    const del = await api(env, 'DELETE', `/api/v1/courses/${s.otherCourseId}/lti/platforms/${r.body.id}`, { token: s.users.otherInstructor.token });
    assert.equal(del.status, 404);
    assert.equal((await api(env, 'DELETE', `/api/v1/courses/${s.courseId}/lti/platforms/${r.body.id}`, { token: s.users.student1.token })).status, 403);
  });
});

describe('LTI launch over HTTP', () => {
  let session: { token: string; userId: string };

  it('login initiation redirects to the platform with the OIDC parameters and sets the state cookie', async () => {
    const l = await login(ada);
    assert.equal(l.status, 302);
    const q = new URL(l.location).searchParams;
    assert.equal(q.get('scope'), 'openid');
    assert.equal(q.get('response_type'), 'id_token');
    assert.equal(q.get('response_mode'), 'form_post');
    assert.equal(q.get('prompt'), 'none');
    assert.equal(q.get('client_id'), CLIENT_ID);
    assert.equal(q.get('redirect_uri'), `${env.baseUrl}/lti/launch`);
    assert.equal(q.get('tenant'), 't1', "keeps the auth endpoint's own query");
    assert.equal(l.cookie, `lti_state=${l.state}`);
    const unknown = await ltiLogin(env.baseUrl, { iss: 'https://lms.unknown.example', login_hint: 'x', target_link_uri: target });
    assert.equal(unknown.status, 400);
    assert.equal(JSON.parse(unknown.body).type, '/problems/lti/unknown_issuer');
  });

  it('a student launch creates the user, identity, membership and resource link, and lands on the assignment', async () => {
    const r = await fullLaunch(ada);
    assert.equal(r.status, 303, JSON.stringify(r.body));
    const loc = new URL(r.location);
    assert.equal(loc.pathname, `/app/assignments/${s.assignmentId}`);
    assert.equal(loc.search, '', 'nothing secret in the query string');
    const code = new URLSearchParams(loc.hash.slice(1)).get('lti_session');
    assert.ok(code && code.length >= 32);

    const identity = await env.db.ltiIdentity.findFirst({ where: { sub: ada.sub }, include: { user: true } });
    assert.ok(identity);
    assert.equal(identity.user.email, ada.email);
    assert.equal(identity.user.name, ada.name);
    const m = await env.db.membership.findUnique({ where: { userId_courseId: { userId: identity.userId, courseId: s.courseId } } });
    assert.equal(m?.role, 'student');
    const link = await env.db.ltiResourceLink.findFirst({ where: { resourceLinkId: 'rl-msgbuf' } });
    assert.equal(link?.assignmentId, s.assignmentId);
    assert.equal(link?.lineitemUrl, platform.lineitemUrl);
    assert.ok(link?.agsScopes.includes('https://purl.imsglobal.org/spec/lti-ags/scope/score'));
    const audit = await env.db.auditEvent.findFirst({ where: { action: 'lti.launch', actorId: identity.userId } });
    assert.equal(audit?.courseId, s.courseId);

    // the one-time code becomes a short-lived API token, once
    const ex = await api(env, 'POST', '/lti/session', { json: { code } });
    assert.equal(ex.status, 200, JSON.stringify(ex.body));
    assert.equal(ex.body.userId, identity.userId);
    assert.equal(ex.body.assignmentId, s.assignmentId);
    const hours = (Date.parse(ex.body.expiresAt) - Date.now()) / 3_600_000;
    assert.ok(hours > 7.9 && hours <= 8, `expires in ${hours} h`);
    const replay = await api(env, 'POST', '/lti/session', { json: { code } });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.type, '/problems/lti/invalid-session-code');
    session = { token: ex.body.token, userId: ex.body.userId };

    const me = await api(env, 'GET', '/api/v1/me', { token: session.token });
    assert.equal(me.status, 200);
    assert.deepEqual(me.body.memberships.map((x: any) => [x.courseId, x.role]), [[s.courseId, 'student']]);
    // the session token is what the launch proved: submit, in the launch's course only
    assert.equal(me.body.token.scope, 'submit');
    assert.equal(me.body.token.courseId, s.courseId);
    const a = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}`, { token: session.token });
    assert.equal(a.status, 200);
    // a student session cannot administer the LMS side
    assert.equal((await api(env, 'GET', `/api/v1/courses/${s.courseId}/lti/platforms`, { token: session.token })).status, 403);
  });

  it('a second launch of the same LMS user reuses the user; an instructor launch maps to instructor', async () => {
    const again = await fullLaunch(ada);
    assert.equal(again.status, 303);
    assert.equal(await env.db.ltiIdentity.count({ where: { sub: ada.sub } }), 1);
    assert.equal(await env.db.user.count({ where: { email: ada.email } }), 1);
    const t = await fullLaunch(grace);
    assert.equal(t.status, 303);
    const id = await env.db.ltiIdentity.findFirst({ where: { sub: grace.sub } });
    const m = await env.db.membership.findUnique({ where: { userId_courseId: { userId: id!.userId, courseId: s.courseId } } });
    assert.equal(m?.role, 'instructor');
  });
});

describe('SSRF guard on platform URLs (default: public addresses only)', () => {
  let strict: TestEnv;
  let ss: Seed;
  before(async () => {
    strict = await startApi('lms_lti_ssrf', { lms: { toolKeysFile: join(keyDir, 'tool-keys.json'), ltiAllowInsecureUrls: true } });
    ss = await seed(strict.db);
  });
  after(() => strict?.close());

  it('registration refuses loopback, link-local (cloud metadata), private and credential URLs: 422, nothing stored', async () => {
    const path = `/api/v1/courses/${ss.courseId}/lti/platforms`;
    const bad: [keyof ReturnType<typeof registration>, string][] = [
      ['jwksUrl', platform.jwksUrl], // the loopback mock platform
      ['tokenEndpoint', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
      ['authEndpoint', 'http://[::1]:8080/auth'],
      ['jwksUrl', 'http://localhost/jwks'],
      ['tokenEndpoint', 'https://10.0.0.5/token'],
      ['jwksUrl', 'https://user:secret@lms.example.edu/jwks'],
    ];
    for (const [field, url] of bad) {
      const pub = { authEndpoint: 'https://93.184.215.14/auth', tokenEndpoint: 'https://93.184.215.14/token', jwksUrl: 'https://93.184.215.14/jwks' };
      const r = await api(strict, 'POST', path, { token: ss.users.instructor.token, json: { ...registration(), ...pub, clientId: `c-${field}`, [field]: url } });
      assert.equal(r.status, 422, `${field} ${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.type, '/problems/lti/url-rejected');
      assert.match(r.body.detail, new RegExp(field));
    }
    assert.equal(await strict.db.ltiPlatform.count(), 0);
    // the same registration with public addresses is accepted (the check is not a blanket refusal)
    const ok = await api(strict, 'POST', path, {
      token: ss.users.instructor.token,
      json: { ...registration(), issuer: 'https://lms.example.edu', authEndpoint: 'https://93.184.215.14/auth', tokenEndpoint: 'https://93.184.215.14/token', jwksUrl: 'https://93.184.215.14/jwks' },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    await strict.db.ltiPlatform.deleteMany();
  });

  it('a platform stored with a loopback JWKS URL (before the check, or by hand) is not fetched at launch: 502, nothing created', async () => {
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
    const strictTarget = `${strict.baseUrl}/lti/assignments/${ss.assignmentId}`;
    const l = await ltiLogin(strict.baseUrl, { iss: platform.issuer, login_hint: ada.sub, target_link_uri: strictTarget, client_id: CLIENT_ID });
    assert.equal(l.status, 302, l.body);
    const idToken = await platform.sign({ ...platform.claims(l.nonce, ada, strictTarget) });
    const r = await ltiLaunch(strict.baseUrl, { id_token: idToken, state: l.state }, l.cookie);
    assertProblem(r, 502, 'jwks_unavailable');
    assert.match(r.body.detail, /loopback/);
    assert.equal(platform.jwksFetches, fetchedBefore, 'no request reached the loopback platform');
    assert.equal(await strict.db.ltiIdentity.count(), 0);
  });
});

describe('forged launches are refused at the HTTP level', () => {
  /** a fresh login (state + nonce) and a token signed with the given changes */
  async function forge(change: (claims: Record<string, unknown>) => Record<string, unknown>, signOpts: Parameters<MockPlatform['sign']>[1] = {}) {
    const l = await login(ada);
    const claims = change({ ...platform.claims(l.nonce, ada, target) });
    const idToken = await platform.sign(claims, signOpts);
    return ltiLaunch(env.baseUrl, { id_token: idToken, state: l.state }, l.cookie);
  }

  it('bad signature: signed by another key under the platform kid', async () => {
    const other = await makeRsaKey('attacker');
    const r = await forge((c) => c, { key: other, kid: platform.currentKey.kid });
    assertProblem(r, 401, 'bad_signature');
  });

  it('wrong aud', async () => {
    const r = await forge((c) => ({ ...c, aud: 'another-tool' }));
    assertProblem(r, 401, 'invalid_audience');
  });

  it('aud list without our client id, and azp of another client', async () => {
    assertProblem(await forge((c) => ({ ...c, aud: ['a', 'b'] })), 401, 'invalid_audience');
    assertProblem(await forge((c) => ({ ...c, aud: [CLIENT_ID, 'b'], azp: 'b' })), 401, 'invalid_azp');
  });

  it('expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const r = await forge((c) => ({ ...c, iat: now - 400, exp: now - 300 }));
    assertProblem(r, 401, 'token_expired');
  });

  it('replayed nonce: an id_token already used, posted again with a fresh state', async () => {
    const l1 = await login(ada);
    const idToken = await platform.sign(platform.claims(l1.nonce, ada, target));
    const ok = await ltiLaunch(env.baseUrl, { id_token: idToken, state: l1.state }, l1.cookie);
    assert.equal(ok.status, 303, JSON.stringify(ok.body));
    // the same state again: refused (one-time state)
    assertProblem(await ltiLaunch(env.baseUrl, { id_token: idToken, state: l1.state }, l1.cookie), 401, 'invalid_state');
    // a new login's state with the old token: the nonce was consumed
    const l2 = await login(ada);
    assertProblem(await ltiLaunch(env.baseUrl, { id_token: idToken, state: l2.state }, l2.cookie), 401, 'nonce_replayed');
  });

  it('state cookie of another login, unknown deployment, wrong issuer', async () => {
    const l = await login(ada);
    const token = await platform.sign(platform.claims(l.nonce, ada, target));
    assertProblem(await ltiLaunch(env.baseUrl, { id_token: token, state: l.state }, 'lti_state=someone-elses'), 401, 'invalid_state');
    assertProblem(await forge((c) => ({ ...c, 'https://purl.imsglobal.org/spec/lti/claim/deployment_id': 'dep-unknown' })), 403, 'unknown_deployment');
    assertProblem(await forge((c) => ({ ...c, iss: 'https://evil.example' })), 401, 'invalid_issuer');
  });

  it('no forged launch created anything', async () => {
    assert.equal(await env.db.ltiIdentity.count(), 2);
    assert.equal(await env.db.ltiResourceLink.count(), 1);
  });
});
