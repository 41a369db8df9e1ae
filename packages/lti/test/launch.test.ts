import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateToolKey,
  LtiError,
  LtiTool,
  mapRole,
  mapRoles,
  MemoryLoginStateStore,
  MemoryNonceStore,
  MemoryRegistrationStore,
  publicJwks,
  type LtiErrorCode,
  type ToolKey,
} from '../src/index.js';
import { makeRsaKey, MockPlatform, serveToolJwks, type MockUser } from './support/mock-platform.js';

const CLIENT_ID = 'kgrader-client-1';
const DEPLOYMENT = 'dep-1';
const LIS = 'http://purl.imsglobal.org/vocab/lis/v2/';
const student: MockUser = { sub: 'u-123', name: 'Ada Lovelace', email: 'ada@example.edu', roles: [`${LIS}membership#Learner`] };
const teacher: MockUser = { sub: 'u-900', name: 'Grace Hopper', email: 'grace@example.edu', roles: [`${LIS}membership#Instructor`, `${LIS}institution/person#Faculty`] };

let toolKey: ToolKey;
let toolServer: Awaited<ReturnType<typeof serveToolJwks>>;
let platform: MockPlatform;
let tool: LtiTool;
let launchUrl: string;
let target: string;

async function rejects(p: Promise<unknown>, code: LtiErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LtiError, `expected LtiError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** login initiation without visiting the platform: a fresh state and nonce */
async function login(): Promise<{ state: string; nonce: string }> {
  const r = await tool.initiateLogin({ iss: platform.issuer, login_hint: student.sub, target_link_uri: target, client_id: CLIENT_ID });
  return { state: r.state, nonce: r.nonce };
}

before(async () => {
  toolKey = await generateToolKey();
  toolServer = await serveToolJwks(() => publicJwks([toolKey]));
  platform = await MockPlatform.start({ clientId: CLIENT_ID, deploymentId: DEPLOYMENT, toolJwksUrl: toolServer.jwksUrl });
  platform.users.set(student.sub, student);
  platform.users.set(teacher.sub, teacher);
  const registrations = new MemoryRegistrationStore();
  registrations.add(
    { id: 'reg-1', issuer: platform.issuer, clientId: CLIENT_ID, authEndpoint: platform.authUrl, tokenEndpoint: platform.tokenUrl, jwksUrl: platform.jwksUrl },
    [DEPLOYMENT],
    'course-uuid-1',
  );
  launchUrl = `${toolServer.baseUrl}/lti/launch`;
  target = `${toolServer.baseUrl}/lti/assignments/msgbuf`;
  tool = new LtiTool({
    launchUrl,
    registrations,
    states: new MemoryLoginStateStore(),
    nonces: new MemoryNonceStore(),
    allowInsecureUrls: true,
    jwks: { cooldownMs: 0 },
  });
});

after(async () => {
  await platform.close();
  await toolServer.close();
});

describe('LTI 1.3 login and launch against a mock platform', () => {
  it('runs a full login -> platform auth -> form_post launch and returns the launch context', async () => {
    const hint = Buffer.from(JSON.stringify({ target })).toString('base64url');
    const init = await tool.initiateLogin({ iss: platform.issuer, login_hint: teacher.sub, target_link_uri: target, client_id: CLIENT_ID, lti_message_hint: hint });
    const redirect = new URL(init.redirectUrl);
    assert.equal(redirect.origin + redirect.pathname, `${platform.baseUrl}/auth`);
    const q = redirect.searchParams;
    assert.equal(q.get('tenant'), 't1', 'keeps the auth endpoint query');
    assert.deepEqual(
      ['scope', 'response_type', 'response_mode', 'prompt', 'client_id', 'redirect_uri', 'login_hint', 'lti_message_hint'].map((k) => q.get(k)),
      ['openid', 'id_token', 'form_post', 'none', CLIENT_ID, launchUrl, teacher.sub, hint],
    );
    assert.equal(q.get('state'), init.state);
    assert.equal(q.get('nonce'), init.nonce);

    // the browser follows the redirect; the platform answers with an auto-submitting form
    const page = await (await fetch(init.redirectUrl)).text();
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1];
    assert.equal(/action="([^"]*)"/.exec(page)?.[1], launchUrl);
    const ctx = await tool.validateLaunch({ idToken: field('id_token'), state: field('state'), cookieState: init.state });

    assert.equal(ctx.issuer, platform.issuer);
    assert.equal(ctx.clientId, CLIENT_ID);
    assert.equal(ctx.deploymentId, DEPLOYMENT);
    assert.equal(ctx.courseId, 'course-uuid-1');
    assert.deepEqual(ctx.user, { sub: teacher.sub, name: teacher.name, email: teacher.email, givenName: 'Grace', familyName: undefined });
    assert.equal(ctx.role, 'instructor');
    assert.deepEqual(ctx.roles, teacher.roles);
    assert.deepEqual(ctx.context, { id: 'ctx-os-2026', title: 'Operating Systems 2026', label: 'OS', type: [`${LIS}course#CourseOffering`] });
    assert.deepEqual(ctx.resourceLink, { id: 'rl-msgbuf', title: 'msgbuf driver', description: undefined });
    assert.equal(ctx.targetLinkUri, target);
    assert.equal(ctx.ags?.lineitem, platform.lineitemUrl);
    assert.ok(ctx.ags?.scopes.includes('https://purl.imsglobal.org/spec/lti-ags/scope/score'));
    assert.deepEqual(ctx.custom, { assignment: 'msgbuf' });
    assert.equal(ctx.returnUrl, `${platform.baseUrl}/return`);
  });

  it('accepts a student launch and maps Learner to student', async () => {
    const { state, nonce } = await login();
    const ctx = await tool.validateLaunch({ idToken: await platform.sign(platform.claims(nonce, student, target)), state });
    assert.equal(ctx.role, 'student');
    assert.equal(ctx.user.sub, student.sub);
  });

  it('refetches the platform JWKS when a token names a kid it does not know yet (key rotation)', async () => {
    const before = platform.jwksFetches;
    await platform.rotateKey();
    const { state, nonce } = await login();
    const ctx = await tool.validateLaunch({ idToken: await platform.sign(platform.claims(nonce, student, target)), state });
    assert.equal(ctx.user.sub, student.sub);
    assert.equal(platform.jwksFetches, before + 1);
  });
});

describe('forged launches are rejected, one rule each', () => {
  const forge = async (mutate: (claims: Record<string, unknown>) => void, opts: Parameters<MockPlatform['sign']>[1] = {}) => {
    const { state, nonce } = await login();
    const claims = platform.claims(nonce, student, target) as Record<string, unknown>;
    mutate(claims);
    return { state, nonce, idToken: await platform.sign(claims, opts) };
  };

  it('bad signature: a key that is not the platform’s, under the platform’s kid', async () => {
    const attacker = await makeRsaKey();
    const f = await forge(() => {}, { key: attacker, kid: platform.currentKey.kid });
    await rejects(tool.validateLaunch(f), 'bad_signature');
  });

  it('tampered payload: a valid signature over other claims', async () => {
    const f = await forge(() => {});
    const [h, , s] = f.idToken.split('.');
    const other = Buffer.from(JSON.stringify({ ...platform.claims(f.nonce, teacher, target), iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
    await rejects(tool.validateLaunch({ idToken: `${h}.${other}.${s}`, state: f.state }), 'bad_signature');
  });

  it('unknown kid (after refetching the JWKS once)', async () => {
    const before = platform.jwksFetches;
    const f = await forge(() => {}, { key: await makeRsaKey('not-published') });
    await rejects(tool.validateLaunch(f), 'unknown_kid');
    assert.ok(platform.jwksFetches > before, 'refreshed the key set before giving up');
  });

  it('missing kid and disallowed algorithm', async () => {
    const { state, nonce } = await login();
    const { SignJWT } = await import('jose');
    const now = Math.floor(Date.now() / 1000);
    const noKid = await new SignJWT({ ...platform.claims(nonce, student, target), iat: now, exp: now + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(platform.currentKey.privateKey);
    await rejects(tool.validateLaunch({ idToken: noKid, state }), 'missing_kid');
    const s2 = await login();
    const hs = await new SignJWT({ ...platform.claims(s2.nonce, student, target), iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: platform.currentKey.kid })
      .sign(new TextEncoder().encode('x'.repeat(32)));
    await rejects(tool.validateLaunch({ idToken: hs, state: s2.state }), 'disallowed_algorithm');
  });

  it('wrong iss', async () => {
    await rejects(tool.validateLaunch(await forge((c) => (c['iss'] = 'https://evil.example'))), 'invalid_issuer');
  });

  it('wrong aud', async () => {
    await rejects(tool.validateLaunch(await forge((c) => (c['aud'] = 'someone-else'))), 'invalid_audience');
    await rejects(tool.validateLaunch(await forge((c) => (c['aud'] = ['a', 'b']))), 'invalid_audience');
  });

  it('azp mismatch when aud is a list, and a missing azp with several audiences', async () => {
    await rejects(tool.validateLaunch(await forge((c) => ((c['aud'] = [CLIENT_ID, 'other']), (c['azp'] = 'other')))), 'invalid_azp');
    await rejects(tool.validateLaunch(await forge((c) => (c['aud'] = [CLIENT_ID, 'other']))), 'invalid_azp');
    const ok = await tool.validateLaunch(await forge((c) => ((c['aud'] = [CLIENT_ID, 'other']), (c['azp'] = CLIENT_ID))));
    assert.equal(ok.clientId, CLIENT_ID);
  });

  it('replayed nonce: the same id_token posted again with a fresh state', async () => {
    const f = await forge(() => {});
    await tool.validateLaunch(f);
    const again = await login();
    await rejects(tool.validateLaunch({ idToken: f.idToken, state: again.state }), 'nonce_replayed');
  });

  it('nonce not the one sent at login, and no nonce at all', async () => {
    await rejects(tool.validateLaunch(await forge((c) => (c['nonce'] = 'some-other-nonce'))), 'nonce_mismatch');
    await rejects(tool.validateLaunch(await forge((c) => delete c['nonce'])), 'missing_nonce');
  });

  it('expired, and issued in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejects(tool.validateLaunch(await forge((c) => ((c['iat'] = now - 400), (c['exp'] = now - 120)))), 'token_expired');
    await rejects(tool.validateLaunch(await forge((c) => ((c['iat'] = now + 600), (c['exp'] = now + 900)))), 'invalid_iat');
  });

  it('accepts a token a few seconds past exp (clock skew)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ctx = await tool.validateLaunch(await forge((c) => ((c['iat'] = now - 100), (c['exp'] = now - 10))));
    assert.equal(ctx.user.sub, student.sub);
  });

  it('wrong state: unknown, reused, or not this browser’s', async () => {
    const f = await forge(() => {});
    await rejects(tool.validateLaunch({ idToken: f.idToken, state: 'made-up' }), 'invalid_state');
    await rejects(tool.validateLaunch({ idToken: f.idToken, state: f.state, cookieState: 'another-browser' }), 'invalid_state');
    const g = await forge(() => {});
    await tool.validateLaunch(g);
    await rejects(tool.validateLaunch(g), 'invalid_state');
  });

  it('unknown deployment', async () => {
    await rejects(tool.validateLaunch(await forge((c) => (c['https://purl.imsglobal.org/spec/lti/claim/deployment_id'] = 'dep-unknown'))), 'unknown_deployment');
  });

  it('wrong message type and version', async () => {
    await rejects(
      tool.validateLaunch(await forge((c) => (c['https://purl.imsglobal.org/spec/lti/claim/message_type'] = 'LtiDeepLinkingRequest'))),
      'invalid_message_type',
    );
    await rejects(tool.validateLaunch(await forge((c) => (c['https://purl.imsglobal.org/spec/lti/claim/version'] = '1.1'))), 'invalid_version');
  });

  it('missing resource link and a target link outside kgrader', async () => {
    await rejects(tool.validateLaunch(await forge((c) => delete c['https://purl.imsglobal.org/spec/lti/claim/resource_link'])), 'missing_claim');
    await rejects(
      tool.validateLaunch(await forge((c) => (c['https://purl.imsglobal.org/spec/lti/claim/target_link_uri'] = 'https://evil.example/phish'))),
      'invalid_target_link_uri',
    );
  });
});

describe('login initiation checks', () => {
  it('rejects missing parameters, unknown issuers and client ids, foreign target links', async () => {
    const base = { iss: platform.issuer, login_hint: 'u', target_link_uri: target, client_id: CLIENT_ID };
    await rejects(tool.initiateLogin({ ...base, login_hint: undefined }), 'missing_parameter');
    await rejects(tool.initiateLogin({ ...base, iss: undefined }), 'missing_parameter');
    await rejects(tool.initiateLogin({ ...base, target_link_uri: '' }), 'missing_parameter');
    await rejects(tool.initiateLogin({ ...base, iss: 'https://other-lms.example' }), 'unknown_issuer');
    await rejects(tool.initiateLogin({ ...base, client_id: 'nope' }), 'unknown_client_id');
    await rejects(tool.initiateLogin({ ...base, target_link_uri: 'https://evil.example/x' }), 'invalid_target_link_uri');
    const ok = await tool.initiateLogin({ ...base, client_id: undefined });
    assert.equal(ok.registrationId, 'reg-1');
  });

  it('reports an unreachable platform JWKS as jwks_unavailable', async () => {
    const regs = new MemoryRegistrationStore();
    regs.add({ id: 'down', issuer: 'http://down.lms', clientId: 'c', authEndpoint: 'http://127.0.0.1:9/auth', tokenEndpoint: 'http://127.0.0.1:9/token', jwksUrl: 'http://127.0.0.1:9/jwks' }, ['d']);
    const t = new LtiTool({ launchUrl, registrations: regs, states: new MemoryLoginStateStore(), nonces: new MemoryNonceStore(), allowInsecureUrls: true, jwks: { timeoutMs: 1_000 } });
    const { state, nonce } = await t.initiateLogin({ iss: 'http://down.lms', login_hint: 'u', target_link_uri: target });
    await rejects(t.validateLaunch({ idToken: await platform.sign(platform.claims(nonce, student, target)), state }), 'jwks_unavailable');
  });

  it('refuses http platform URLs unless allowed', async () => {
    const regs = new MemoryRegistrationStore();
    regs.add({ id: 'r', issuer: 'http://lms', clientId: 'c', authEndpoint: 'http://lms/auth', tokenEndpoint: 'http://lms/token', jwksUrl: 'http://lms/jwks' }, ['d']);
    const strict = new LtiTool({ launchUrl: 'https://kgrader.example/lti/launch', registrations: regs, states: new MemoryLoginStateStore(), nonces: new MemoryNonceStore() });
    await rejects(strict.initiateLogin({ iss: 'http://lms', login_hint: 'u', target_link_uri: 'https://kgrader.example/a' }), 'insecure_url');
  });
});

describe('role mapping', () => {
  it('maps context roles, sub-roles and administrators; ignores institution roles', () => {
    assert.equal(mapRole(`${LIS}membership#Instructor`), 'instructor');
    assert.equal(mapRole(`${LIS}membership/Instructor#TeachingAssistant`), 'instructor');
    assert.equal(mapRole(`${LIS}membership#Administrator`), 'instructor');
    assert.equal(mapRole(`${LIS}institution/person#Administrator`), 'instructor');
    assert.equal(mapRole(`${LIS}system/person#Administrator`), 'instructor');
    assert.equal(mapRole(`${LIS}membership#Learner`), 'student');
    assert.equal(mapRole(`${LIS}membership/Learner#NonCreditLearner`), 'student');
    assert.equal(mapRole('Learner'), 'student');
    assert.equal(mapRole(`${LIS}institution/person#Instructor`), null);
    assert.equal(mapRole(`${LIS}membership#Mentor`), null);
    assert.equal(mapRoles([`${LIS}membership#Learner`, `${LIS}membership/Instructor#TeachingAssistant`]), 'instructor');
    assert.equal(mapRoles([`${LIS}institution/person#Student`]), null);
  });
});
