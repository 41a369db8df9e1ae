// A real OpenID Connect provider on loopback for the sign-in tests: `oidc-provider` with its
// development login form (any login; the login name is the account id), the accounts' claims set
// by the test, consent pre-granted for the kgrader client, PKCE required.
import { createServer, type Server } from 'node:http';
import Provider from 'oidc-provider';

export interface IdpAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface TestIdp {
  issuer: string;
  /** claims of an account (the login name typed into the form); unknown logins get `<login>@uni.test`, verified */
  accounts: Map<string, IdpAccount>;
  close(): Promise<void>;
}

export async function startIdp(opts: { clientId: string; clientSecret: string; redirectUris: string[] }): Promise<TestIdp> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const accounts = new Map<string, IdpAccount>();
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: opts.clientId,
        client_secret: opts.clientSecret,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['kgrader-test-idp-cookie-key'] },
    async findAccount(_ctx: unknown, id: string) {
      const a = accounts.get(id) ?? {};
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: a.email ?? `${id}@uni.test`, email_verified: a.email_verified ?? true, ...(a.name ? { name: a.name } : {}) };
        },
      };
    },
    // consent is given for the kgrader client: only the login form is shown
    async loadExistingGrant(ctx: any) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  } as any);
  provider.proxy = false;
  server.on('request', provider.callback());
  return {
    issuer,
    accounts,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Signs in through the provider with plain HTTP (no browser): follows the redirects, fills the
 * development login form, keeps the IdP's cookies; returns the answer of kgrader's callback.
 */
export async function httpSignIn(baseUrl: string, providerId: string, login: string, opts: { returnTo?: string } = {}): Promise<{ status: number; location: string | null; setCookie: string | null; body: string; callbackUrl: string }> {
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let url = `${baseUrl}/auth/login/${providerId}${opts.returnTo ? `?returnTo=${encodeURIComponent(opts.returnTo)}` : ''}`;
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookie(), accept: 'application/json' } });
    keep(res);
    if (url.startsWith(`${baseUrl}/auth/callback/`)) {
      return { status: res.status, location: res.headers.get('location'), setCookie: res.headers.get('set-cookie'), body: await res.text(), callbackUrl: url };
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url).href;
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action) throw new Error(`unexpected IdP answer ${res.status} at ${url}: ${html.slice(0, 300)}`);
    const post = await fetch(new URL(action.replace(/&amp;/g, '&'), url), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ prompt: 'login', login, password: 'any' }).toString(),
    });
    keep(post);
    url = new URL(post.headers.get('location')!, url).href;
  }
  throw new Error('too many redirects');
}
