import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AgsScore } from '@kgrader/schemas';
import { AGS_SCOPE, CLIENT_ASSERTION_TYPE, SCORE_CONTENT_TYPE } from './claims.js';
import { LtiError, type LtiErrorCode } from './errors.js';
import type { ToolKey } from './keys.js';
import { backoffDelay, DEFAULT_RETRY, isRetryableStatus, parseRetryAfter, type RetryPolicy } from './retry.js';

/** What the AGS client needs to know about a platform. */
export interface AgsPlatform {
  clientId: string;
  tokenEndpoint: string;
  /** `aud` of the client assertion when not the token endpoint */
  tokenAudience?: string | undefined;
}

export interface AgsClientConfig {
  /** our signing key (its kid is in the JWKS the platform knows) */
  key: ToolKey;
  fetch?: typeof fetch;
  /** ms since epoch */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  retry?: Partial<RetryPolicy>;
  /** per-request timeout (default 10 s) */
  timeoutMs?: number;
  /** lifetime of a client assertion (default 300 s) */
  assertionTtlSec?: number;
  /** accept http:// token and line-item URLs (tests on loopback only) */
  allowInsecureUrls?: boolean;
}

/** A failed AGS call. `retryable` tells the passback job whether to try again later. */
export class AgsError extends LtiError {
  constructor(
    code: LtiErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly attempts: number,
    readonly httpStatus?: number,
    /** the platform asked to wait this long (Retry-After) */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, 502, options);
  }
}

export interface PublishResult {
  /** HTTP status of the accepting response (200, 201 or 204) */
  status: number;
  attempts: number;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Pure: `<lineitem>/scores`, keeping the line item URL's query string. */
export function scoresUrl(lineitem: string): string {
  const u = new URL(lineitem);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/scores`;
  return u.toString();
}

/** LTI Advantage Assignment and Grade Services client: client-credentials tokens and score publishing. */
export class AgsClient {
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly retry: RetryPolicy;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  /** token requests actually sent (observability, tests) */
  tokenRequests = 0;

  constructor(private readonly config: AgsClientConfig) {
    this.fetch = config.fetch ?? globalThis.fetch;
    this.now = config.now ?? Date.now;
    this.sleep = config.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = config.random ?? Math.random;
    this.retry = { ...DEFAULT_RETRY, ...config.retry };
  }

  private checkUrl(url: string): void {
    const p = new URL(url).protocol;
    if (p !== 'https:' && !(this.config.allowInsecureUrls && p === 'http:')) throw new AgsError('insecure_url', `AGS URL must be https: ${url}`, false, 0);
  }

  /** The signed JWT the tool authenticates with (RFC 7523 private_key_jwt). */
  async clientAssertion(platform: AgsPlatform): Promise<string> {
    const nowSec = Math.floor(this.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: this.config.key.alg, kid: this.config.key.kid, typ: 'JWT' })
      .setIssuer(platform.clientId)
      .setSubject(platform.clientId)
      .setAudience(platform.tokenAudience ?? platform.tokenEndpoint)
      .setIssuedAt(nowSec)
      .setExpirationTime(nowSec + (this.config.assertionTtlSec ?? 300))
      .setJti(randomUUID())
      .sign(this.config.key.privateKey);
  }

  /** Runs one HTTP call with retries on network errors, 429 (honouring Retry-After) and 5xx. */
  private async send(what: string, code: LtiErrorCode, call: () => Promise<Response>): Promise<{ res: Response; attempts: number }> {
    for (let attempt = 1; ; attempt++) {
      let res: Response | undefined;
      let error: unknown;
      try {
        res = await call();
      } catch (e) {
        // an address policy refusal (SSRF guard) does not heal with retries
        if (e instanceof Error && e.name === 'SsrfError') throw new AgsError(code, `${what} refused: ${e.message}`, false, attempt, undefined, undefined, { cause: e });
        error = e;
      }
      if (res && !isRetryableStatus(res.status)) return { res, attempts: attempt };
      let delay = backoffDelay(attempt, this.retry, this.random);
      let retryAfter: number | undefined;
      if (res) {
        retryAfter = parseRetryAfter(res.headers.get('retry-after'), this.now());
        if (res.status === 429 && retryAfter !== undefined) delay = retryAfter;
        await res.body?.cancel().catch(() => undefined);
      }
      const why = res ? `HTTP ${res.status}` : `network error: ${(error as Error)?.message ?? String(error)}`;
      if (attempt >= this.retry.maxAttempts || delay > this.retry.maxRetryAfterMs)
        throw new AgsError(code, `${what} failed after ${attempt} attempt(s): ${why}`, true, attempt, res?.status, retryAfter, { cause: error });
      await this.sleep(delay);
    }
  }

  private tokenKey(platform: AgsPlatform, scopes: readonly string[]): string {
    return `${platform.tokenEndpoint}\n${platform.clientId}\n${[...scopes].sort().join(' ')}`;
  }

  /** Forgets a cached token (e.g. after the platform answered 401 with it). */
  invalidateToken(platform: AgsPlatform, scopes: readonly string[]): void {
    this.tokens.delete(this.tokenKey(platform, scopes));
  }

  /** An access token for `scopes`, from the cache while it has more than a minute left. */
  async accessToken(platform: AgsPlatform, scopes: readonly string[] = [AGS_SCOPE.score]): Promise<string> {
    const key = this.tokenKey(platform, scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return cached.token;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.requestToken(platform, scopes).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const fresh = await pending;
    this.tokens.set(key, fresh);
    return fresh.token;
  }

  private async requestToken(platform: AgsPlatform, scopes: readonly string[]): Promise<CachedToken> {
    this.checkUrl(platform.tokenEndpoint);
    const { res } = await this.send('token request', 'token_request_failed', async () => {
      this.tokenRequests++;
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await this.clientAssertion(platform),
        scope: scopes.join(' '),
      });
      return this.fetch(platform.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000),
      });
    });
    const text = await res.text();
    if (!res.ok) throw new AgsError('token_request_failed', `token endpoint answered ${res.status}: ${text.slice(0, 300)}`, false, 1, res.status);
    let json: { access_token?: unknown; expires_in?: unknown };
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      throw new AgsError('token_request_failed', 'token endpoint answered non-JSON', false, 1, res.status);
    }
    if (typeof json.access_token !== 'string' || json.access_token === '')
      throw new AgsError('token_request_failed', 'token endpoint answered without access_token', false, 1, res.status);
    const ttlSec = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 3600;
    const margin = Math.min(60, ttlSec / 10);
    return { token: json.access_token, expiresAt: this.now() + (ttlSec - margin) * 1000 };
  }

  /**
   * One call to a platform service (PNS notice-handler registration, Asset Report Service...)
   * with an access token for `scopes`. Retries 429/5xx/network errors like `publishScore` (throws a
   * retryable AgsError when they last); a 401 refreshes the token once; answers any other status
   * (the caller decides what a 4xx means for it).
   */
  async serviceRequest(
    platform: AgsPlatform,
    scopes: readonly string[],
    req: { method: string; url: string; json?: unknown; contentType?: string; accept?: string },
  ): Promise<{ status: number; body: string; attempts: number }> {
    this.checkUrl(req.url);
    let attempts = 0;
    for (let refreshed = false; ; refreshed = true) {
      const token = await this.accessToken(platform, scopes);
      const { res, attempts: n } = await this.send(`${req.method} ${req.url}`, 'service_call_failed', () =>
        this.fetch(req.url, {
          method: req.method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: req.accept ?? 'application/json',
            ...(req.json !== undefined ? { 'content-type': req.contentType ?? 'application/json' } : {}),
          },
          ...(req.json !== undefined ? { body: JSON.stringify(req.json) } : {}),
          signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000),
        }),
      );
      attempts += n;
      const body = await res.text().catch(() => '');
      if (res.status === 401 && !refreshed) {
        this.invalidateToken(platform, scopes);
        continue;
      }
      return { status: res.status, body: body.slice(0, 2000), attempts };
    }
  }

  /**
   * Downloads an asset (LTI Asset Service) with an access token for `scopes`, reading at most
   * `maxBytes` (more: a non-retryable `asset_too_large`). Redirects are followed up to
   * `maxRedirects` times, each hop through the same fetch (the service passes the SSRF-guarded
   * one, so every hop is checked), and the bearer token goes to the platform's own origin only.
   */
  async downloadAsset(
    platform: AgsPlatform,
    scopes: readonly string[],
    url: string,
    opts: { maxBytes: number; maxRedirects?: number },
  ): Promise<{ bytes: Buffer; contentType: string | undefined; attempts: number }> {
    this.checkUrl(url);
    const origin = new URL(url).origin;
    let attempts = 0;
    for (let refreshed = false; ; refreshed = true) {
      const token = await this.accessToken(platform, scopes);
      let target = url;
      let res: Response | undefined;
      for (let hop = 0; ; hop++) {
        const sameOrigin = new URL(target).origin === origin;
        const hopUrl = target;
        const r = await this.send(`asset download ${hopUrl}`, 'asset_unavailable', () =>
          this.fetch(hopUrl, {
            method: 'GET',
            redirect: 'manual',
            headers: { accept: '*/*', ...(sameOrigin ? { authorization: `Bearer ${token}` } : {}) },
            signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000),
          }),
        );
        attempts += r.attempts;
        res = r.res;
        if (res.status < 300 || res.status >= 400) break;
        const location = res.headers.get('location');
        await res.body?.cancel().catch(() => undefined);
        if (!location) throw new AgsError('asset_unavailable', `the asset URL answered ${res.status} without a Location`, false, attempts, res.status);
        if (hop >= (opts.maxRedirects ?? 3)) throw new AgsError('asset_unavailable', `the asset URL redirected more than ${opts.maxRedirects ?? 3} times`, false, attempts, res.status);
        target = new URL(location, hopUrl).toString();
        this.checkUrl(target);
      }
      if (res.status === 401 && !refreshed) {
        await res.body?.cancel().catch(() => undefined);
        this.invalidateToken(platform, scopes);
        continue;
      }
      if (!res.ok) {
        const text = await res.text().catch(() => '');
        throw new AgsError('asset_unavailable', `the platform refused the asset download: HTTP ${res.status} ${text.slice(0, 300)}`, false, attempts, res.status);
      }
      const declared = Number(res.headers.get('content-length') ?? NaN);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw new AgsError('asset_too_large', `the asset is ${declared} bytes (at most ${opts.maxBytes})`, false, attempts, res.status);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      if (res.body) {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          size += value.byteLength;
          if (size > opts.maxBytes) {
            await reader.cancel().catch(() => undefined);
            throw new AgsError('asset_too_large', `the asset is larger than ${opts.maxBytes} bytes`, false, attempts, res.status);
          }
          chunks.push(Buffer.from(value));
        }
      }
      return { bytes: Buffer.concat(chunks), contentType: res.headers.get('content-type') ?? undefined, attempts };
    }
  }

  /**
   * Publishes a score to a line item (`POST <lineitem>/scores`). Retries 429/5xx/network errors
   * with exponential backoff; a 401 refreshes the token once; other 4xx fail at once (not retryable).
   */
  async publishScore(platform: AgsPlatform, lineitem: string, score: AgsScore): Promise<PublishResult> {
    this.checkUrl(lineitem);
    const url = scoresUrl(lineitem);
    const scopes = [AGS_SCOPE.score];
    let attempts = 0;
    for (let refreshed = false; ; refreshed = true) {
      const token = await this.accessToken(platform, scopes);
      const { res, attempts: n } = await this.send('score publish', 'score_unavailable', () =>
        this.fetch(url, {
          method: 'POST',
          headers: { 'content-type': SCORE_CONTENT_TYPE, authorization: `Bearer ${token}`, accept: 'application/json' },
          body: JSON.stringify(score),
          signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000),
        }),
      );
      attempts += n;
      if (res.ok) {
        await res.body?.cancel().catch(() => undefined);
        return { status: res.status, attempts };
      }
      const text = await res.text().catch(() => '');
      if (res.status === 401 && !refreshed) {
        this.invalidateToken(platform, scopes);
        continue;
      }
      throw new AgsError('score_rejected', `the platform refused the score: HTTP ${res.status} ${text.slice(0, 300)}`, false, attempts, res.status);
    }
  }
}
