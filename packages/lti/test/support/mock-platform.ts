// A real LTI 1.3 platform for the tests, on 127.0.0.1: its own key pair, a JWKS endpoint, an OIDC
// auth endpoint answering with an auto-submitting form_post, a token endpoint that verifies the
// tool's client assertion against the tool's JWKS URL, and a line item whose scores endpoint
// records what it receives and can answer errors N times. For the Platform Notification Service
// and the Asset Processor: a PNS endpoint recording notice-handler registrations, deep linking
// requests (attach the tool as an asset processor) and a return URL verifying the tool's signed
// response, notices it signs and sends, an Asset Service serving files (optionally through a
// redirect) and an Asset Report Service recording reports (Canvas's rules: 409 for a report older
// than the newest of its asset and type); each can answer errors N times.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
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
  /** launches carry the platformnotificationservice claim (default false) */
  pns?: boolean;
}

export const SCOPES = {
  score: 'https://purl.imsglobal.org/spec/lti-ags/scope/score',
  lineitem: 'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
  noticeHandlers: 'https://purl.imsglobal.org/spec/lti/scope/noticehandlers',
  assetReadonly: 'https://purl.imsglobal.org/spec/lti/scope/asset.readonly',
  report: 'https://purl.imsglobal.org/spec/lti/scope/report',
} as const;

export interface MockAsset {
  id: string;
  filename?: string;
  title?: string;
  content: Buffer;
  contentType?: string;
  /** served through a 302 to /files/<id> (no token needed there) */
  redirect?: boolean;
}

export interface RecordedReport {
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
  /** what the platform answered */
  status: number;
}

export interface RecordedHandler {
  deploymentId: string;
  body: Record<string, unknown>;
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

const PNS_CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/platformnotificationservice';

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export class MockPlatform {
  readonly keys: PlatformKey[] = [];
  readonly users = new Map<string, MockUser>();
  readonly authRequests: URLSearchParams[] = [];
  readonly tokenRequests: TokenRequestRecord[] = [];
  readonly scores: RecordedScore[] = [];
  /** access tokens issued, with their scopes */
  readonly issuedTokens = new Map<string, string[]>();
  readonly handlers: RecordedHandler[] = [];
  readonly reports: RecordedReport[] = [];
  readonly assets = new Map<string, MockAsset>();
  readonly assetDownloads: { id: string; authorization: string | undefined; path: string }[] = [];
  readonly deepLinkResponses: { token: string; claims: JWTPayload }[] = [];
  readonly deepLinkErrors: string[] = [];
  /** the context's members as NRPS 2.0 serves them (GET /courses/7/memberships, bearer token with the NRPS scope) */
  readonly members: { user_id: string; name?: string; email?: string; roles: string[]; status?: string }[] = [];
  /** members per page of the membership container (a `Link: rel="next"` leads on) */
  membersPageSize = 100;
  jwksFetches = 0;
  private failures: Array<{ status: number; headers: Record<string, string> }> = [];
  private readonly planned = new Map<'pns' | 'assets' | 'reports', number[]>();
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
      ...(this.opts.pns ? { [PNS_CLAIM]: this.pnsClaim() } : {}),
      'https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice': {
        context_memberships_url: this.membershipsUrl,
        service_versions: ['2.0'],
      },
    };
  }

  /** the PNS endpoint of the deployment */
  get pnsUrl(): string {
    return `${this.baseUrl}/pns/${encodeURIComponent(this.opts.deploymentId)}`;
  }
  /** where the tool posts its deep linking response */
  get deepLinkReturnUrl(): string {
    return `${this.baseUrl}/deep-link-return`;
  }
  /** the Asset Report Service of an activity */
  reportUrl(activityId: string): string {
    return `${this.baseUrl}/reports/${encodeURIComponent(activityId)}`;
  }
  assetUrl(id: string): string {
    return `${this.baseUrl}/assets/${encodeURIComponent(id)}`;
  }

  pnsClaim(): Record<string, unknown> {
    return {
      service_versions: ['1.0'],
      platform_notification_service_url: this.pnsUrl,
      scope: [SCOPES.noticeHandlers],
      notice_types_supported: ['LtiHelloWorldNotice', 'LtiAssetProcessorSubmissionNotice', 'LtiContextCopyNotice'],
    };
  }

  /** an LtiDeepLinkingRequest asking for an asset processor (Canvas: "Add Document Processing App") */
  deepLinkingClaims(nonce: string, user: MockUser, targetLinkUri: string, dl: { activityId?: string; activityTitle?: string } = {}): JWTPayload {
    const base = this.claims(nonce, user, targetLinkUri) as Record<string, unknown>;
    delete base['https://purl.imsglobal.org/spec/lti/claim/resource_link'];
    delete base['https://purl.imsglobal.org/spec/lti/claim/custom'];
    return {
      ...base,
      'https://purl.imsglobal.org/spec/lti/claim/message_type': 'LtiDeepLinkingRequest',
      'https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings': {
        deep_link_return_url: this.deepLinkReturnUrl,
        accept_types: ['ltiAssetProcessor'],
        accept_presentation_document_targets: ['iframe', 'window'],
        accept_multiple: true,
        auto_create: true,
        data: 'opaque-dl-data-42',
      },
      'https://purl.imsglobal.org/spec/lti/claim/activity': { id: dl.activityId ?? 'activity-1', title: dl.activityTitle ?? 'Driver lab 1' },
      [PNS_CLAIM]: this.pnsClaim(),
    };
  }

  /** the claims of a notice of `type` (a fresh jti and nonce each time) */
  noticeClaims(type: string, extra: Record<string, unknown> = {}, opts: { noticeId?: string } = {}): JWTPayload {
    return {
      iss: this.issuer,
      aud: this.opts.clientId,
      azp: this.opts.clientId,
      jti: randomUUID(),
      nonce: randomUUID(),
      'https://purl.imsglobal.org/spec/lti/claim/version': '1.3.0',
      'https://purl.imsglobal.org/spec/lti/claim/deployment_id': this.opts.deploymentId,
      'https://purl.imsglobal.org/spec/lti/claim/notice': { id: opts.noticeId ?? randomUUID(), timestamp: new Date().toISOString(), type },
      'https://purl.imsglobal.org/spec/lti/claim/context': { id: 'ctx-os-2026', label: 'OS', title: 'Operating Systems 2026' },
      ...extra,
    };
  }

  /**
   * An LtiAssetProcessorSubmissionNotice (Canvas's shape) for `userId` submitting the registered
   * assets `assetIds` to `activityId`; `custom` are the processor's custom parameters.
   */
  submissionNotice(p: { userId: string; assetIds: string[]; activityId: string; submissionId?: string; custom?: Record<string, string>; noticeId?: string }): JWTPayload {
    return this.noticeClaims(
      'LtiAssetProcessorSubmissionNotice',
      {
        'https://purl.imsglobal.org/spec/lti/claim/for_user': { user_id: p.userId },
        'https://purl.imsglobal.org/spec/lti/claim/activity': { id: p.activityId },
        'https://purl.imsglobal.org/spec/lti/claim/submission': { id: p.submissionId ?? `${p.activityId}:${p.userId}:${randomUUID()}` },
        'https://purl.imsglobal.org/spec/lti/claim/custom': p.custom ?? {},
        'https://purl.imsglobal.org/spec/lti/claim/assetreport': { scope: [SCOPES.report], report_url: this.reportUrl(p.activityId) },
        'https://purl.imsglobal.org/spec/lti/claim/assetservice': {
          scope: [SCOPES.assetReadonly],
          assets: p.assetIds.map((id) => {
            const a = this.assets.get(id);
            if (!a) throw new Error(`no asset ${id}`);
            return {
              asset_id: id,
              url: this.assetUrl(id),
              sha256_checksum: createHash('sha256').update(a.content).digest('base64'),
              timestamp: new Date().toISOString(),
              size: a.content.length,
              content_type: a.contentType ?? 'text/x-csrc',
              ...(a.title ? { title: a.title } : {}),
              ...(a.filename ? { filename: a.filename } : {}),
            };
          }),
        },
        'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint': {
          scope: [SCOPES.lineitem, SCOPES.score],
          lineitems: `${this.baseUrl}/courses/7/lineitems`,
          lineitem: this.lineitemUrl,
        },
      },
      { noticeId: p.noticeId },
    );
  }

  /** Registers an asset the Asset Service serves. */
  addAsset(a: MockAsset): MockAsset {
    this.assets.set(a.id, a);
    return a;
  }

  /** POSTs `{ notices: [{ jwt }...] }` to a notice handler, as the platform does. */
  async sendNotices(handlerUrl: string, jwts: string[]): Promise<{ status: number; body: any; contentType: string }> {
    const res = await fetch(handlerUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ notices: jwts.map((jwt) => ({ jwt })) }) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, contentType: res.headers.get('content-type') ?? '' };
  }

  /** the next `statuses.length` calls to the PNS, the Asset Service or the Asset Report Service answer these */
  plan(what: 'pns' | 'assets' | 'reports', statuses: number[]): void {
    this.planned.set(what, [...(this.planned.get(what) ?? []), ...statuses]);
  }

  private planned1(what: 'pns' | 'assets' | 'reports'): number | undefined {
    return this.planned.get(what)?.shift();
  }

  /** the bearer token's scopes, or null when it is not one of ours */
  private tokenScopes(req: IncomingMessage): string[] | null {
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ')) return null;
    return this.issuedTokens.get(auth.slice(7)) ?? null;
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
    if (url.pathname.startsWith('/pns/')) return this.pns(req, url, res);
    if (req.method === 'POST' && url.pathname === '/deep-link-return') return this.deepLinkReturn(req, res);
    if (req.method === 'GET' && url.pathname.startsWith('/assets/')) return this.asset(req, url, res, true);
    if (req.method === 'GET' && url.pathname.startsWith('/files/')) return this.asset(req, url, res, false);
    if (req.method === 'POST' && url.pathname.startsWith('/reports/')) return this.report(req, url, res);
    if (req.method === 'GET' && url.pathname === '/courses/7/memberships') return this.memberships(req, url, res);
    json(res, 404, { error: 'not_found' });
  }

  /** PNS: PUT registers a handler for a notice type, GET lists them (token with the noticehandlers scope). */
  private async pns(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const scopes = this.tokenScopes(req);
    if (!scopes) return json(res, 401, { error: 'invalid_token' });
    if (!scopes.includes(SCOPES.noticeHandlers)) return json(res, 403, { error: 'insufficient_scope' });
    const deploymentId = decodeURIComponent(url.pathname.slice('/pns/'.length));
    if (req.method === 'GET') return json(res, 200, { client_id: this.opts.clientId, deployment_id: deploymentId, notice_handlers: this.handlers.filter((h) => h.deploymentId === deploymentId).map((h) => h.body) });
    if (req.method !== 'PUT') return json(res, 405, { error: 'method' });
    const planned = this.planned1('pns');
    if (planned) return json(res, planned, { error: 'planned failure' });
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return json(res, 400, { error: 'bad json' });
    }
    if (typeof parsed['notice_type'] !== 'string' || typeof parsed['handler'] !== 'string') return json(res, 400, { error: 'notice_type and handler are required' });
    this.handlers.push({ deploymentId, body: parsed });
    json(res, 200, parsed);
  }

  /** The deep linking return URL: verifies the tool's LtiDeepLinkingResponse against the tool JWKS. */
  private async deepLinkReturn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const token = form.get('JWT') ?? '';
    this.toolJwks ??= createRemoteJWKSet(new URL(this.opts.toolJwksUrl));
    try {
      const { payload } = await jwtVerify(token, this.toolJwks, { issuer: this.opts.clientId, audience: this.issuer, requiredClaims: ['iat', 'exp', 'nonce'] });
      if (payload['https://purl.imsglobal.org/spec/lti/claim/message_type'] !== 'LtiDeepLinkingResponse') throw new Error('not an LtiDeepLinkingResponse');
      if (payload['https://purl.imsglobal.org/spec/lti/claim/deployment_id'] !== this.opts.deploymentId) throw new Error('wrong deployment_id');
      this.deepLinkResponses.push({ token, claims: payload });
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<p>attached</p>');
    } catch (e) {
      this.deepLinkErrors.push((e as Error).message);
      json(res, 400, { error: (e as Error).message });
    }
  }

  /** The Asset Service (token with an asset.readonly scope), and the redirect target /files/<id>. */
  private async asset(req: IncomingMessage, url: URL, res: ServerResponse, service: boolean): Promise<void> {
    const id = decodeURIComponent(url.pathname.slice(service ? '/assets/'.length : '/files/'.length));
    this.assetDownloads.push({ id, authorization: req.headers.authorization, path: url.pathname });
    const a = this.assets.get(id);
    if (service) {
      const scopes = this.tokenScopes(req);
      if (!scopes) return json(res, 401, { error: 'invalid_token' });
      if (!scopes.some((s) => s.endsWith('/scope/asset.readonly'))) return json(res, 403, { error: 'insufficient_scope' });
      const planned = this.planned1('assets');
      if (planned) return json(res, planned, { error: 'planned failure' });
      if (!a) return json(res, 404, { error: 'no such asset' });
      if (a.redirect) {
        res.writeHead(302, { location: `/files/${encodeURIComponent(id)}?sig=abc` });
        return void res.end();
      }
    } else if (!a) return json(res, 404, { error: 'no such file' });
    res.writeHead(200, { 'content-type': a!.contentType ?? 'application/octet-stream', 'content-length': String(a!.content.length) });
    res.end(a!.content);
  }

  /** The Asset Report Service (token with a report scope); a report older than the newest of its asset and type is a 409. */
  private async report(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    const scopes = this.tokenScopes(req);
    if (!scopes) return json(res, 401, { error: 'invalid_token' });
    if (!scopes.some((s) => s.endsWith('/scope/report'))) return json(res, 403, { error: 'insufficient_scope' });
    const planned = this.planned1('reports');
    if (planned) return json(res, planned, { error: 'planned failure' });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return json(res, 400, { error: 'bad json' });
    }
    for (const k of ['assetId', 'type', 'timestamp', 'processingProgress', 'priority'])
      if (body[k] === undefined) return json(res, 400, { error: `${k} is required` });
    const newer = this.reports.some(
      (r) => r.status === 201 && r.body['assetId'] === body['assetId'] && r.body['type'] === body['type'] && Date.parse(r.body['timestamp'] as string) > Date.parse(body['timestamp'] as string),
    );
    const status = newer ? 409 : 201;
    this.reports.push({ path: url.pathname, authorization: req.headers.authorization, body, status });
    json(res, status, newer ? { error: 'An existing report has a newer timestamp' } : body);
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
    const hint = JSON.parse(Buffer.from(q.get('lti_message_hint')!, 'base64url').toString()) as { target: string; deepLinking?: { activityId?: string; activityTitle?: string } };
    const idToken = await this.sign(
      hint.deepLinking ? this.deepLinkingClaims(q.get('nonce')!, user, hint.target, hint.deepLinking) : this.claims(q.get('nonce')!, user, hint.target),
    );
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
    const known = new Set<string>([...Object.values(SCOPES), 'https://purl.imsglobal.org/spec/lti-ap/scope/asset.readonly', 'https://purl.imsglobal.org/spec/lti-ap/scope/report', 'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly']);
    const asked = scope.split(' ').filter(Boolean);
    if (asked.length === 0 || !asked.every((s) => known.has(s))) return reject('invalid_scope');
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
    this.issuedTokens.set(token, asked);
    this.tokenRequests.push({ ok: true, assertion: payload, scope });
    json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: this.opts.tokenTtlSec ?? 3600, scope });
  }

  /** NRPS 2.0 membership container, paged with `Link: <…>; rel="next"` */
  private memberships(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!this.issuedTokens.has(token)) return json(res, 401, { error: 'invalid_token' });
    if (!(this.issuedTokens.get(token) ?? []).includes('https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly')) return json(res, 403, { error: 'insufficient_scope' });
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
