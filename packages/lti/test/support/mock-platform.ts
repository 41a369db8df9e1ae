// A real LTI 1.3 platform for the tests, on 127.0.0.1: its own key pair, a JWKS endpoint, an OIDC
// auth endpoint answering with an auto-submitting form_post, a token endpoint that verifies the
// tool's client assertion against the tool's JWKS URL, and a line item whose scores endpoint
// records what it receives and can answer errors N times.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

export interface PlatformKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeRsaKey(kid?: string): Promise<PlatformKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const id = kid ?? (await calculateJwkThumbprint(jwk));
  return { kid: id, privateKey, publicJwk: { ...jwk, kid: id, alg: 'RS256', use: 'sig' } };
}

export interface RecordedScore {
  path: string;
  query: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

export interface TokenRequestRecord {
  ok: boolean;
  error?: string;
  assertion?: JWTPayload;
  scope?: string;
}

export interface MockPlatformOptions {
  clientId: string;
  deploymentId: string;
  /** where the platform fetches the tool's public keys to check client assertions */
  toolJwksUrl: string;
  /** seconds an access token lives (default 3600) */
  tokenTtlSec?: number;
}

export interface MockUser {
  sub: string;
  name: string;
  email: string;
  roles: string[];
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export class MockPlatform {
  readonly keys: PlatformKey[] = [];
  readonly users = new Map<string, MockUser>();
  readonly authRequests: URLSearchParams[] = [];
  readonly tokenRequests: TokenRequestRecord[] = [];
  readonly scores: RecordedScore[] = [];
  /** the context's members as NRPS 2.0 serves them (GET /courses/7/memberships, bearer token with the NRPS scope) */
  readonly members: { user_id: string; name?: string; email?: string; roles: string[]; status?: string }[] = [];
  /** members per page of the membership container (a `Link: rel="next"` leads on) */
  membersPageSize = 100;
  /** scopes of the access tokens issued, by token */
  private readonly tokenScopes = new Map<string, string>();
  readonly issuedTokens = new Set<string>();
  jwksFetches = 0;
  private failures: Array<{ status: number; headers: Record<string, string> }> = [];
  private readonly seenJti = new Set<string>();
  private toolJwks?: ReturnType<typeof createRemoteJWKSet>;

  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
    readonly opts: MockPlatformOptions,
  ) {}

  static async start(opts: MockPlatformOptions): Promise<MockPlatform> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const p = new MockPlatform(server, `http://127.0.0.1:${port}`, opts);
    p.keys.push(await makeRsaKey());
    server.on('request', (req, res) => {
      p.handle(req, res).catch((e: unknown) => json(res, 500, { error: String(e) }));
    });
    return p;
  }

  get issuer(): string {
    return this.baseUrl;
  }
  get jwksUrl(): string {
    return `${this.baseUrl}/jwks`;
  }
  get authUrl(): string {
    return `${this.baseUrl}/auth?tenant=t1`;
  }
  get tokenUrl(): string {
    return `${this.baseUrl}/token`;
  }
  /** a line item URL with a query string, as Moodle sends them */
  get lineitemUrl(): string {
    return `${this.baseUrl}/courses/7/lineitems/42/lineitem?type_id=3`;
  }
  get membershipsUrl(): string {
    return `${this.baseUrl}/courses/7/memberships`;
  }
  get currentKey(): PlatformKey {
    return this.keys[this.keys.length - 1]!;
  }

  /** add a new signing key (published next to the old one) */
  async rotateKey(): Promise<PlatformKey> {
    const k = await makeRsaKey();
    this.keys.push(k);
    return k;
  }

  /** the next `n` score posts get `status` (with optional Retry-After) */
  failScores(n: number, status = 503, headers: Record<string, string> = {}): void {
    for (let i = 0; i < n; i++) this.failures.push({ status, headers });
  }

  /** revoke every access token issued so far */
  revokeTokens(): void {
    this.issuedTokens.clear();
  }

  /** the claims of a valid LtiResourceLinkRequest for `user` with `nonce` */
  claims(nonce: string, user: MockUser, targetLinkUri: string): JWTPayload {
    return {
      iss: this.issuer,
      aud: this.opts.clientId,
      sub: user.sub,
      nonce,
      name: user.name,
      email: user.email,
      given_name: user.name.split(' ')[0],
      'https://purl.imsglobal.org/spec/lti/claim/message_type': 'LtiResourceLinkRequest',
      'https://purl.imsglobal.org/spec/lti/claim/version': '1.3.0',
      'https://purl.imsglobal.org/spec/lti/claim/deployment_id': this.opts.deploymentId,
      'https://purl.imsglobal.org/spec/lti/claim/target_link_uri': targetLinkUri,
      'https://purl.imsglobal.org/spec/lti/claim/resource_link': { id: 'rl-msgbuf', title: 'msgbuf driver' },
      'https://purl.imsglobal.org/spec/lti/claim/roles': user.roles,
      'https://purl.imsglobal.org/spec/lti/claim/context': {
        id: 'ctx-os-2026',
        label: 'OS',
        title: 'Operating Systems 2026',
        type: ['http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering'],
      },
      'https://purl.imsglobal.org/spec/lti/claim/custom': { assignment: 'msgbuf' },
      'https://purl.imsglobal.org/spec/lti/claim/launch_presentation': { return_url: `${this.baseUrl}/return` },
      'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint': {
        scope: ['https://purl.imsglobal.org/spec/lti-ags/scope/lineitem', 'https://purl.imsglobal.org/spec/lti-ags/scope/score'],
        lineitems: `${this.baseUrl}/courses/7/lineitems`,
        lineitem: this.lineitemUrl,
      },
      'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice': {
        context_memberships_url: this.membershipsUrl,
        service_versions: ['2.0'],
      },
    };
  }

  /**
   * Signs an id_token. By default with the current key, 5 minutes of validity; `key` signs with
   * another key (forgeries), `kid` overrides the header kid, `exp`/`iat` in the claims win.
   */
  async sign(claims: JWTPayload, opts: { key?: PlatformKey; kid?: string; alg?: string } = {}): Promise<string> {
    const key = opts.key ?? this.currentKey;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    if (req.method === 'GET' && url.pathname === '/jwks') {
      this.jwksFetches++;
      return json(res, 200, { keys: this.keys.map((k) => k.publicJwk) });
    }
    if (req.method === 'GET' && url.pathname === '/auth') return this.authorize(url, res);
    if (req.method === 'POST' && url.pathname === '/token') return this.token(req, res);
    if (req.method === 'POST' && url.pathname === '/courses/7/lineitems/42/lineitem/scores') return this.score(req, url, res);
    if (req.method === 'GET' && url.pathname === '/courses/7/memberships') return this.memberships(req, url, res);
    json(res, 404, { error: 'not_found' });
  }

  /** OIDC authorization endpoint: checks the tool's auth request and answers with a form_post. */
  private async authorize(url: URL, res: ServerResponse): Promise<void> {
    const q = url.searchParams;
    this.authRequests.push(q);
    const expect: Record<string, string> = {
      scope: 'openid',
      response_type: 'id_token',
      response_mode: 'form_post',
      prompt: 'none',
      client_id: this.opts.clientId,
      tenant: 't1',
    };
    for (const [k, v] of Object.entries(expect)) if (q.get(k) !== v) return json(res, 400, { error: 'invalid_request', detail: `${k} must be ${v}` });
    for (const k of ['redirect_uri', 'login_hint', 'state', 'nonce', 'lti_message_hint'])
      if (!q.get(k)) return json(res, 400, { error: 'invalid_request', detail: `missing ${k}` });
    const user = this.users.get(q.get('login_hint')!);
    if (!user) return json(res, 400, { error: 'login_required' });
    const target = JSON.parse(Buffer.from(q.get('lti_message_hint')!, 'base64url').toString()) as { target: string };
    const idToken = await this.sign(this.claims(q.get('nonce')!, user, target.target));
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      `<form method="post" action="${escapeHtml(q.get('redirect_uri')!)}">` +
        `<input type="hidden" name="id_token" value="${escapeHtml(idToken)}">` +
        `<input type="hidden" name="state" value="${escapeHtml(q.get('state')!)}">` +
        `</form><script>document.forms[0].submit()</script>`,
    );
  }

  /** OAuth 2 client-credentials grant with a private_key_jwt client assertion (RFC 7523). */
  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const reject = (error: string, status = 400): void => {
      this.tokenRequests.push({ ok: false, error });
      json(res, status, { error });
    };
    if (req.headers['content-type'] !== 'application/x-www-form-urlencoded') return reject('invalid_request: content type');
    if (form.get('grant_type') !== 'client_credentials') return reject('unsupported_grant_type');
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return reject('invalid_client: assertion type');
    const scope = form.get('scope') ?? '';
    const granted = ['https://purl.imsglobal.org/spec/lti-ags/scope/score', 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly'];
    if (!scope.split(' ').some((x) => granted.includes(x))) return reject('invalid_scope');
    this.toolJwks ??= createRemoteJWKSet(new URL(this.opts.toolJwksUrl));
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(form.get('client_assertion') ?? '', this.toolJwks, {
        issuer: this.opts.clientId,
        subject: this.opts.clientId,
        audience: this.tokenUrl,
        requiredClaims: ['jti', 'exp', 'iat'],
      }));
    } catch (e) {
      return reject(`invalid_client: ${(e as Error).message}`, 401);
    }
    if (this.seenJti.has(payload.jti!)) return reject('invalid_client: jti replayed', 401);
    this.seenJti.add(payload.jti!);
    const token = randomBytes(16).toString('hex');
    this.issuedTokens.add(token);
    this.tokenScopes.set(token, scope);
    this.tokenRequests.push({ ok: true, assertion: payload, scope });
    json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: this.opts.tokenTtlSec ?? 3600, scope });
  }

  /** NRPS 2.0 membership container, paged with `Link: <…>; rel="next"` */
  private memberships(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!this.issuedTokens.has(token)) return json(res, 401, { error: 'invalid_token' });
    if (!(this.tokenScopes.get(token) ?? '').split(' ').includes('https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly')) return json(res, 403, { error: 'insufficient_scope' });
    const page = Number(url.searchParams.get('page') ?? '0');
    const slice = this.members.slice(page * this.membersPageSize, (page + 1) * this.membersPageSize);
    const headers: Record<string, string> = { 'content-type': 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json' };
    if ((page + 1) * this.membersPageSize < this.members.length) headers['link'] = `<${this.membershipsUrl}?page=${page + 1}>; rel="next"`;
    res.writeHead(200, headers);
    res.end(JSON.stringify({ id: `${this.membershipsUrl}?page=${page}`, context: { id: 'ctx-os-2026', label: 'OS', title: 'Operating Systems 2026' }, members: slice }));
  }

  private async score(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ') || !this.issuedTokens.has(auth.slice(7))) return json(res, 401, { error: 'invalid_token' });
    if (req.headers['content-type'] !== 'application/vnd.ims.lis.v1.score+json') return json(res, 415, { error: 'unsupported media type' });
    const failure = this.failures.shift();
    if (failure) return json(res, failure.status, { error: 'unavailable' }, failure.headers);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return json(res, 400, { error: 'bad json' });
    }
    this.scores.push({ path: url.pathname, query: url.search, contentType: req.headers['content-type'], authorization: auth, body: parsed });
    json(res, 200, { resultUrl: `${this.baseUrl}/results/${randomUUID()}` });
  }
}

/** The tool side of the tests: serves the tool's public JWKS at /.well-known/jwks.json on loopback. */
export async function serveToolJwks(jwks: () => unknown): Promise<{ baseUrl: string; jwksUrl: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') return json(res, 200, jwks());
    json(res, 404, {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    baseUrl,
    jwksUrl: `${baseUrl}/.well-known/jwks.json`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
