// Sign-in with OpenID Connect (issue 12, item 2) against a real provider on loopback
// (oidc-provider, see oidc-idp.ts) over HTTP: provisioning as the instance allows, matching by
// (issuer, subject), linking enrolled accounts only on a verified e-mail of a trusted domain, the
// session cookie's attributes, one-time state, a forged code, no open redirect, the CSRF rule for
// cookie-authenticated writes, sessions never acting as admins, sign-out, expiry. The browser flow
// is test/dashboard/course-ops.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthConfig, OidcProviderConfig } from '@kgrader/api';
import { api, freePort, seed, startApi, type Seed, type TestEnv } from './helpers.js';
import { httpSignIn, startIdp, type TestIdp } from './oidc-idp.js';

describe('sign-in with OpenID Connect', { timeout: 120_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let idp: TestIdp;
  const cookieOf = (setCookie: string | null) => setCookie!.split(';')[0]!;
  const me = (cookie: string, headers: Record<string, string> = {}) => api(env, 'GET', '/api/v1/me', { headers: { cookie, ...headers } });

  before(async () => {
    // the provider must know the API's callback URLs before either starts: the port is chosen first
    const port = await freePort();
    const apiUrl = `http://127.0.0.1:${port}`;
    idp = await startIdp({ clientId: 'kgrader', clientSecret: 'test-secret', redirectUris: [`${apiUrl}/auth/callback/uni`, `${apiUrl}/auth/callback/closed`] });
    const base = { issuer: idp.issuer, clientId: 'kgrader', clientSecret: 'test-secret' };
    const providers: OidcProviderConfig[] = [
      { id: 'uni', name: 'University SSO', ...base, provision: { emailDomains: ['uni.test'], role: 'user' } },
      { id: 'closed', name: 'Closed SSO', ...base, provision: null },
    ];
    const auth: AuthConfig = { providers, allowInsecure: true, sessionHours: 12 };
    env = await startApi('signin', { auth }, { port });
    s = await seed(env.db);
  });
  after(async () => {
    await idp?.close();
    await env?.close();
  });

  it('lists the providers', async () => {
    const r = await api(env, 'GET', '/auth/providers');
    assert.deepEqual(r.body, [{ id: 'uni', name: 'University SSO' }, { id: 'closed', name: 'Closed SSO' }]);
  });

  let adaCookie = '';
  it('a first sign-in creates the account (allowed domain, verified e-mail) and a session cookie: httpOnly, SameSite=Lax, back to the dashboard path', async () => {
    idp.accounts.set('ada', { email: 'Ada@uni.test', name: 'Ada Lovelace' });
    const r = await httpSignIn(env.baseUrl, 'uni', 'ada', { returnTo: '/app/courses/x?tab=1' });
    assert.equal(r.status, 303, r.body);
    assert.equal(r.location, '/app/courses/x?tab=1');
    assert.match(r.setCookie!, /^kgr_session=[A-Za-z0-9_-]{40,};/);
    assert.match(r.setCookie!, /HttpOnly/);
    assert.match(r.setCookie!, /SameSite=Lax/);
    assert.match(r.setCookie!, /Path=\//);
    assert.doesNotMatch(r.setCookie!, /Secure/, 'http here: https deployments get Secure and the __Host- prefix');
    adaCookie = cookieOf(r.setCookie);
    const m = await me(adaCookie);
    assert.equal(m.status, 200);
    assert.equal(m.body.user.email, 'ada@uni.test');
    assert.equal(m.body.user.name, 'Ada Lovelace');
    assert.equal(m.body.token.kind, 'session');
    assert.equal(m.body.token.scope, 'instructor');
    assert.equal(m.body.user.canCreateCourses, false, 'the default role: a plain user');
    const ident = await env.db.userIdentity.findMany({ where: { userId: m.body.user.id } });
    assert.deepEqual(ident.map((i) => [i.issuer, i.subject]), [[idp.issuer, 'ada']]);
    const stored = await env.db.session.findFirstOrThrow({ where: { userId: m.body.user.id } });
    assert.ok(!adaCookie.includes(stored.secretHash), 'only a hash is stored');
  });

  it('signing in again finds the same user by (issuer, subject), even with another e-mail', async () => {
    idp.accounts.set('ada', { email: 'ada.lovelace@uni.test' });
    const r = await httpSignIn(env.baseUrl, 'uni', 'ada');
    const m = await me(cookieOf(r.setCookie));
    assert.equal(m.body.user.email, 'ada@uni.test');
    assert.equal(await env.db.user.count({ where: { email: { contains: 'ada' } } }), 1);
  });

  it('no open redirect: a returnTo outside the dashboard lands on /app/', async () => {
    for (const bad of ['https://evil.test/', '//evil.test/app', '/app/../../etc', '/api/v1/me', 'javascript:alert(1)']) {
      const r = await httpSignIn(env.baseUrl, 'uni', 'ada', { returnTo: bad });
      assert.equal(r.location, '/app/', bad);
    }
  });

  it('the state is one-time: replaying the callback is refused; a forged code with a fresh state is refused', async () => {
    const r = await httpSignIn(env.baseUrl, 'uni', 'ada');
    assert.equal(r.status, 303);
    const again = await fetch(r.callbackUrl, { redirect: 'manual', headers: { accept: 'application/json' } });
    assert.equal(again.status, 400);
    assert.equal(((await again.json()) as { type: string }).type, '/problems/signin/bad-state');
    const start = await fetch(`${env.baseUrl}/auth/login/uni`, { redirect: 'manual' });
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    const forged = await fetch(`${env.baseUrl}/auth/callback/uni?code=forged-code&state=${state}&iss=${encodeURIComponent(idp.issuer)}`, { redirect: 'manual', headers: { accept: 'application/json' } });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as { type: string }).type, '/problems/signin/token-rejected');
    assert.equal(forged.headers.get('set-cookie'), null, 'no session');
    // a browser gets the reason on the dashboard instead
    const html = await fetch(`${env.baseUrl}/auth/callback/uni?code=x&state=unknown`, { redirect: 'manual', headers: { accept: 'text/html' } });
    assert.equal(html.status, 303);
    assert.match(html.headers.get('location')!, /^\/app\/#signin_error=/);
    // the login start sends PKCE (S256) and a nonce
    const u = new URL(start.headers.get('location')!);
    assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(u.searchParams.get('nonce'));
    assert.equal((await fetch(`${env.baseUrl}/auth/login/nope`, { redirect: 'manual' })).status, 404);
  });

  it('no account for other domains, unverified e-mails, or providers that do not provision', async () => {
    const before = await env.db.user.count();
    idp.accounts.set('eve', { email: 'eve@evil.test' });
    const r1 = await httpSignIn(env.baseUrl, 'uni', 'eve');
    assert.equal(r1.status, 403);
    assert.equal(JSON.parse(r1.body).type, '/problems/signin/email-domain');
    idp.accounts.set('unverified', { email: 'unverified@uni.test', email_verified: false });
    const r2 = await httpSignIn(env.baseUrl, 'uni', 'unverified');
    assert.equal(JSON.parse(r2.body).type, '/problems/signin/email-unverified');
    const r3 = await httpSignIn(env.baseUrl, 'closed', 'newcomer');
    assert.equal(JSON.parse(r3.body).type, '/problems/signin/provisioning-off');
    assert.equal(await env.db.user.count(), before, 'nobody created');
  });

  it('an enrolled account is linked only on a verified e-mail of a domain the provider may vouch for', async () => {
    const enrolled = await api(env, 'POST', `/api/v1/courses/${s.courseId}/members`, { token: s.users.instructor.token, json: { email: 'sam@uni.test', role: 'student' } });
    assert.equal(enrolled.status, 200);
    idp.accounts.set('sam-sub', { email: 'sam@uni.test', email_verified: false });
    const unverified = await httpSignIn(env.baseUrl, 'uni', 'sam-sub');
    assert.equal(JSON.parse(unverified.body).type, '/problems/signin/account-exists');
    idp.accounts.set('sam-sub', { email: 'sam@uni.test' });
    const ok = await httpSignIn(env.baseUrl, 'uni', 'sam-sub');
    assert.equal(ok.status, 303);
    const m = await me(cookieOf(ok.setCookie));
    assert.equal(m.body.user.id, enrolled.body.userId, 'the enrolled account');
    assert.deepEqual(m.body.memberships.map((x: { role: string }) => x.role), ['student']);
    // the seeded admin's address is not in a trusted domain: an IdP account claiming it gets nothing
    idp.accounts.set('fake-admin', { email: 'admin@t.test' });
    const takeover = await httpSignIn(env.baseUrl, 'uni', 'fake-admin');
    assert.equal(takeover.status, 403);
    assert.equal(JSON.parse(takeover.body).type, '/problems/signin/account-exists');
  });

  it('CSRF: a write with the session cookie needs this site as its Origin (or Sec-Fetch-Site: same-origin)', async () => {
    const post = (headers: Record<string, string>) => api(env, 'POST', '/api/v1/me/tokens', { headers: { cookie: adaCookie, ...headers }, json: { scope: 'read', name: 'csrf' } });
    const none = await post({});
    assert.equal(none.status, 403);
    assert.equal(none.body.type, '/problems/csrf');
    assert.equal((await post({ origin: 'https://evil.test' })).status, 403);
    assert.equal((await post({ origin: env.baseUrl.replace('127.0.0.1', 'localhost') })).status, 403, 'another origin on the same host');
    assert.equal((await post({ 'sec-fetch-site': 'same-site' })).status, 403);
    assert.equal(await env.db.apiToken.count({ where: { name: 'csrf' } }), 0, 'nothing created by refused writes');
    const ok = await post({ origin: env.baseUrl });
    assert.equal(ok.status, 201);
    assert.equal((await post({ 'sec-fetch-site': 'same-origin' })).status, 201);
    // the bearer token it made works without any cookie
    assert.equal((await api(env, 'GET', '/api/v1/me', { token: ok.body.token })).status, 200);
    // reads need no Origin
    assert.equal((await me(adaCookie)).status, 200);
  });

  it('users create, list and revoke their own tokens with the session; a session never carries admin rights', async () => {
    const o = { origin: env.baseUrl };
    const created = await api(env, 'POST', '/api/v1/me/tokens', { headers: { cookie: adaCookie, ...o }, json: { scope: 'submit', name: 'cli', expiresInDays: 30 } });
    assert.equal(created.status, 201);
    const wider = await api(env, 'POST', '/api/v1/me/tokens', { headers: { cookie: adaCookie, ...o }, json: { scope: 'admin' } });
    assert.equal(wider.status, 403);
    const list = await api(env, 'GET', '/api/v1/me/tokens', { headers: { cookie: adaCookie } });
    assert.ok(list.body.some((t: { id: string }) => t.id === created.body.id));
    assert.equal((await api(env, 'DELETE', `/api/v1/me/tokens/${created.body.id}`, { headers: { cookie: adaCookie, ...o } })).status, 204);
    assert.equal((await api(env, 'GET', '/api/v1/me', { token: created.body.token })).status, 401, 'revoked');
    // an admin signed in with the provider acts with course rights only
    await env.db.userIdentity.create({ data: { issuer: idp.issuer, subject: 'root', userId: s.users.admin.id } });
    const r = await httpSignIn(env.baseUrl, 'uni', 'root');
    const adminCookie = cookieOf(r.setCookie);
    assert.equal((await me(adminCookie)).body.user.isAdmin, true);
    assert.equal((await api(env, 'GET', `/api/v1/users/${s.users.student1.id}/tokens`, { headers: { cookie: adminCookie } })).status, 403);
  });

  it('sign-out ends the session; an expired session is refused; a bearer token cannot sign out', async () => {
    const r = await httpSignIn(env.baseUrl, 'uni', 'ada');
    const cookie = cookieOf(r.setCookie);
    assert.equal((await api(env, 'DELETE', '/api/v1/me/session', { headers: { cookie } })).status, 403, 'CSRF rule applies to sign-out too');
    const out = await api(env, 'DELETE', '/api/v1/me/session', { headers: { cookie, origin: env.baseUrl } });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await me(cookie)).status, 401);
    await env.db.session.updateMany({ where: { revokedAt: null }, data: { expiresAt: new Date(Date.now() - 1000) } });
    assert.equal((await me(adaCookie)).status, 401, 'expired');
    assert.equal((await api(env, 'DELETE', '/api/v1/me/session', { token: s.users.student1.token })).status, 409);
    assert.equal((await me('kgr_session=not-a-session-secret-at-all-xxxxxxxx')).status, 401);
  });
});
