// OpenID Connect sign-in (issue 12, item 2) with openid-client: authorization code flow with PKCE
// (S256), state and nonce kept server-side for one use, the ID token checked by openid-client
// (signature, issuer, audience, expiry, nonce). Users are found by (issuer, subject); a first
// sign-in creates an account only as the provider's `provision` setting allows.
import type { Db, User } from '@kgrader/db';
import * as oidc from 'openid-client';
import type { AuthConfig, OidcProviderConfig } from '../config.js';

export class SignInRefused extends Error {
  constructor(
    readonly code: 'unknown-provider' | 'bad-state' | 'provider-error' | 'token-rejected' | 'account-exists' | 'provisioning-off' | 'email-unverified' | 'email-domain',
    message: string,
  ) {
    super(message);
    this.name = 'SignInRefused';
  }
}

const STATE_MINUTES = 10;

/** Provider configurations from discovery, cached per provider (the IdP may be down at API start: discovered on first use). */
export class OidcClients {
  private readonly cache = new Map<string, Promise<oidc.Configuration>>();
  constructor(private readonly auth: AuthConfig) {}

  provider(id: string): OidcProviderConfig {
    const p = this.auth.providers.find((x) => x.id === id);
    if (!p) throw new SignInRefused('unknown-provider', `no sign-in provider ${id}`);
    return p;
  }

  config(p: OidcProviderConfig): Promise<oidc.Configuration> {
    let hit = this.cache.get(p.id);
    if (!hit) {
      hit = oidc.discovery(new URL(p.issuer), p.clientId, undefined, p.clientSecret ? oidc.ClientSecretBasic(p.clientSecret) : oidc.None(), {
        ...(this.auth.allowInsecure ? { execute: [oidc.allowInsecureRequests] } : {}),
        timeout: 10,
      });
      this.cache.set(p.id, hit);
      hit.catch(() => this.cache.delete(p.id)); // try again next time
    }
    return hit;
  }
}

/** Only a path of the dashboard: never an absolute URL (no open redirect). */
export function safeReturnTo(v: unknown): string {
  return typeof v === 'string' && /^\/app(\/[A-Za-z0-9_\-./%?=&]*)?$/.test(v) && !v.includes('//') && !v.includes('..') ? v : '/app/';
}

export async function startLogin(db: Db, clients: OidcClients, providerId: string, redirectUri: string, returnTo: string): Promise<URL> {
  const p = clients.provider(providerId);
  const config = await clients.config(p).catch((err: Error) => {
    throw new SignInRefused('provider-error', `the sign-in provider cannot be reached: ${err.message}`);
  });
  // sign-ins never finished and sessions long over: cleared as new sign-ins start
  const now = new Date();
  await db.oidcLoginState.deleteMany({ where: { expiresAt: { lt: now } } });
  await db.session.deleteMany({ where: { expiresAt: { lt: new Date(now.getTime() - 30 * 86_400_000) } } });
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  await db.oidcLoginState.create({ data: { state, providerId: p.id, codeVerifier, nonce, returnTo: safeReturnTo(returnTo), expiresAt: new Date(Date.now() + STATE_MINUTES * 60_000) } });
  return oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile',
    response_type: 'code',
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
}

export interface SignedIn {
  user: User;
  issuer: string;
  returnTo: string;
  created: boolean;
}

/** Finishes a sign-in at the callback: exchanges the code, checks the ID token, finds or provisions the user. */
export async function finishLogin(db: Db, clients: OidcClients, providerId: string, callbackUrl: URL): Promise<SignedIn> {
  const p = clients.provider(providerId);
  const stateParam = callbackUrl.searchParams.get('state') ?? '';
  // one use: taken (deleted) whatever happens next
  const rows = await db.$queryRaw<{ providerId: string; codeVerifier: string; nonce: string; returnTo: string; expiresAt: Date }[]>`
    DELETE FROM "OidcLoginState" WHERE state = ${stateParam} RETURNING "providerId", "codeVerifier", nonce, "returnTo", "expiresAt"`;
  const st = rows[0];
  if (!st || st.providerId !== p.id || st.expiresAt.getTime() < Date.now()) throw new SignInRefused('bad-state', 'this sign-in is unknown, was used already or expired: start again');
  const error = callbackUrl.searchParams.get('error');
  if (error) throw new SignInRefused('provider-error', `the provider refused the sign-in: ${error}${callbackUrl.searchParams.get('error_description') ? ` (${callbackUrl.searchParams.get('error_description')})` : ''}`);
  const config = await clients.config(p).catch((err: Error) => {
    throw new SignInRefused('provider-error', `the sign-in provider cannot be reached: ${err.message}`);
  });
  let claims: Record<string, unknown> & { iss: string; sub: string };
  try {
    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: st.codeVerifier, expectedState: stateParam, expectedNonce: st.nonce, idTokenExpected: true });
    const id = tokens.claims()!;
    claims = { ...id };
    // providers that keep profile claims out of the ID token give them at the userinfo endpoint
    // (its subject must be the ID token's: openid-client checks it)
    if (id['email'] === undefined && config.serverMetadata().userinfo_endpoint) {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, id.sub);
      claims = { ...info, ...id, email: info.email, email_verified: info.email_verified, name: id['name'] ?? info.name };
    }
  } catch (err) {
    throw new SignInRefused('token-rejected', `the provider's answer was refused: ${(err as Error).message}`);
  }
  const issuer = claims.iss;
  const subject = claims.sub;
  const email = typeof claims['email'] === 'string' ? (claims['email'] as string).toLowerCase() : null;
  const verified = claims['email_verified'] === true;
  const name = typeof claims['name'] === 'string' && (claims['name'] as string).trim() ? (claims['name'] as string).trim().slice(0, 200) : null;
  const domainOk = !!email && !!p.provision && p.provision.emailDomains.includes(email.slice(email.lastIndexOf('@') + 1));

  return db.$transaction(async (tx) => {
    const identity = await tx.userIdentity.findUnique({ where: { issuer_subject: { issuer, subject } }, include: { user: true } });
    if (identity) {
      await tx.userIdentity.update({ where: { issuer_subject: { issuer, subject } }, data: { lastLoginAt: new Date(), email } });
      return { user: identity.user, issuer, returnTo: st.returnTo, created: false };
    }
    const existing = email ? await tx.user.findUnique({ where: { email } }) : null;
    if (existing) {
      // an account made by enrolment (or an admin) for this e-mail: linked only when the provider
      // vouches for the address and its domain is one this provider may provision
      if (!verified || !domainOk) {
        throw new SignInRefused('account-exists', `an account for ${email} exists and this provider cannot vouch for that address: ask an administrator`);
      }
      await tx.userIdentity.create({ data: { issuer, subject, userId: existing.id, email } });
      await tx.auditEvent.create({ data: { actorId: existing.id, action: 'user.identity_link', targetType: 'user', targetId: existing.id, data: { issuer, subject } } });
      return { user: existing, issuer, returnTo: st.returnTo, created: false };
    }
    if (!p.provision) throw new SignInRefused('provisioning-off', 'this provider does not create kgrader accounts: ask your instructor to enrol you');
    if (!email || !verified) throw new SignInRefused('email-unverified', 'the provider gave no verified e-mail address');
    if (!domainOk) throw new SignInRefused('email-domain', `accounts are not created for ${email.slice(email.lastIndexOf('@') + 1)} addresses here`);
    const user = await tx.user.create({ data: { email, name: name ?? email.split('@')[0]!, canCreateCourses: p.provision.role === 'course_creator' } });
    await tx.userIdentity.create({ data: { issuer, subject, userId: user.id, email } });
    await tx.auditEvent.create({ data: { actorId: user.id, action: 'user.provision', targetType: 'user', targetId: user.id, data: { issuer, subject, role: p.provision.role } } });
    return { user, issuer, returnTo: st.returnTo, created: true };
  });
}
