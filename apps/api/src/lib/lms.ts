// Shared pieces of the LMS routes: resolved config, the tool keys (loaded once), LtiError → problem.
import { PrismaLoginStateStore, PrismaNonceStore, PrismaRegistrationStore, queueServiceCall, type Tx } from '@kgrader/db';
import { LtiError, LtiTool, NOTICE_TYPE, PNS_SCOPE, readToolKeyFile, ToolKeyFileError, type PnsClaim, type ToolKey } from '@kgrader/lti';
import { assertDeliverableUrl, guardedFetch, SsrfError } from '@kgrader/webhooks';
import type { ApiConfig, LmsConfig } from '../config.js';
import type { ApiDeps } from '../deps.js';
import { HttpError } from '../errors.js';

export function lmsConfig(config: ApiConfig): LmsConfig {
  const l = config.lms ?? {};
  return {
    toolKeysFile: l.toolKeysFile,
    sessionHours: l.sessionHours ?? 8,
    ltiAllowInsecureUrls: l.ltiAllowInsecureUrls ?? false,
    ltiAllowPrivateUrls: l.ltiAllowPrivateUrls ?? false,
    webhooksAllowPrivate: l.webhooksAllowPrivate ?? false,
    previousSecretHours: l.previousSecretHours ?? 24,
  };
}

/** The tool keys of this process, read from the key file once (current key first). */
export class ToolKeys {
  private loaded: Promise<ToolKey[]> | undefined;
  constructor(private readonly file: string | undefined) {}

  get configured(): boolean {
    return this.file !== undefined;
  }

  /** the keys; 503 problem when LTI is not configured or the file is unusable */
  async get(): Promise<ToolKey[]> {
    if (!this.file) throw new HttpError(503, 'LTI is not configured on this server: set LTI_TOOL_KEYS (see `kgrader-admin lti-keygen`)', { type: '/problems/lti/not-configured' });
    this.loaded ??= readToolKeyFile(this.file);
    try {
      return await this.loaded;
    } catch (e) {
      this.loaded = undefined;
      if (e instanceof ToolKeyFileError) throw new HttpError(503, e.message, { type: '/problems/lti/not-configured' });
      throw e;
    }
  }
}

/** An LtiError as the problem+json the client sees: its status and `type: /problems/lti/<code>`. */
export function ltiProblem(e: unknown): unknown {
  if (e instanceof LtiError) return new HttpError(e.status, e.message, { type: `/problems/lti/${e.code}`, title: 'LTI launch refused' });
  return e;
}

/**
 * A URL the LMS integration may store for a platform: https (http only when insecure URLs are
 * allowed), without credentials, and resolving to public addresses only (the webhooks' SSRF guard)
 * unless private ones are allowed by the admin setting LTI_ALLOW_PRIVATE_URLS.
 */
export async function checkPlatformUrl(url: string, what: string, cfg: Pick<LmsConfig, 'ltiAllowInsecureUrls' | 'ltiAllowPrivateUrls'>): Promise<void> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && !(cfg.ltiAllowInsecureUrls && u.protocol === 'http:')) throw new HttpError(422, `${what} must be an https URL`, { type: '/problems/lti/insecure-url' });
  if (u.username || u.password) throw new HttpError(422, `${what} may not carry credentials`, { type: '/problems/lti/url-rejected' });
  try {
    await assertDeliverableUrl(u, { allowPrivate: cfg.ltiAllowPrivateUrls });
  } catch (e) {
    if (e instanceof SsrfError) throw new HttpError(422, `${what}: ${e.message}`, { type: '/problems/lti/url-rejected' });
    throw e;
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}


/**
 * The LTI tool of this process, built once the public URL is final (tests set it after listen)
 * and rebuilt if it changes; 503 while LTI is off. The platform JWKS is SSRF-checked on every fetch.
 */
export function ltiToolGetter(deps: ApiDeps, keys: ToolKeys): () => Promise<LtiTool> {
  const { db } = deps;
  const cfg = lmsConfig(deps.config);
  const registrations = new PrismaRegistrationStore(db);
  const states = new PrismaLoginStateStore(db);
  const nonces = new PrismaNonceStore(db);
  let tool: { url: string; tool: LtiTool } | undefined;
  return async () => {
    await keys.get(); // 503 when LTI is off
    const url = deps.config.publicUrl;
    if (tool?.url !== url) {
      tool = {
        url,
        tool: new LtiTool({
          launchUrl: `${url}/lti/launch`,
          registrations,
          states,
          nonces,
          allowInsecureUrls: cfg.ltiAllowInsecureUrls,
          jwks: { cooldownMs: 5_000, fetch: guardedFetch({ allowPrivate: cfg.ltiAllowPrivateUrls }) },
        }),
      };
    }
    return tool.tool;
  };
}

/** The notice types kgrader registers a handler for, when the platform offers them. */
export const HANDLED_NOTICE_TYPES = [NOTICE_TYPE.assetProcessorSubmission, NOTICE_TYPE.helloWorld] as const;

/**
 * Registers kgrader's notice handler with the platform's Platform Notification Service, from the
 * PNS claim of a launch that grants the `noticehandlers` scope: one PUT per notice type through
 * the platform-call outbox (the worker sends and retries it). Nothing is queued when the same
 * registration is already pending or done.
 */
export async function queueNoticeHandlers(tx: Tx, p: { platformId: string; deploymentId: string; pns: PnsClaim | undefined; handlerUrl: string }): Promise<number> {
  const pns = p.pns;
  if (!pns || !pns.scopes.includes(PNS_SCOPE.noticeHandlers)) return 0;
  let n = 0;
  for (const type of HANDLED_NOTICE_TYPES) {
    if (pns.noticeTypes.length > 0 && !pns.noticeTypes.includes(type)) continue;
    const subject = `handler:${p.platformId}:${p.deploymentId}:${type}`;
    const body = { notice_type: type, handler: p.handlerUrl };
    const last = await tx.ltiServiceCall.findFirst({ where: { subject, status: { in: ['pending', 'sending', 'sent'] } }, orderBy: { createdAt: 'desc' } });
    if (last && last.url === pns.url && (last.body as { handler?: unknown }).handler === p.handlerUrl) continue;
    await queueServiceCall(tx, { platformId: p.platformId, kind: 'register_handler', method: 'PUT', url: pns.url, scope: PNS_SCOPE.noticeHandlers, body, subject });
    n++;
  }
  return n;
}
