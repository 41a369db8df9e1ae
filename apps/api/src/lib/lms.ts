// Shared pieces of the LMS routes: resolved config, the tool keys (loaded once), LtiError → problem.
import { LtiError, readToolKeyFile, ToolKeyFileError, type ToolKey } from '@kgrader/lti';
import { assertDeliverableUrl, SsrfError } from '@kgrader/webhooks';
import type { ApiConfig, LmsConfig } from '../config.js';
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

