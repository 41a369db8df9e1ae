// Standard Webhooks (https://www.standardwebhooks.com) signing and verification:
// webhook-id, webhook-timestamp (unix seconds), webhook-signature: space-separated `v1,<base64>`
// where the signature is HMAC-SHA256 over `${id}.${timestamp}.${body}` keyed by the decoded secret.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

export type WebhookVerificationCode =
  | 'missing_headers'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'no_matching_signature'
  | 'invalid_secret';

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  constructor(
    readonly code: WebhookVerificationCode,
    message: string,
  ) {
    super(message);
  }
}

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** The HMAC key of a secret (with or without the `whsec_` prefix). */
export function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new WebhookVerificationError('invalid_secret', 'the secret is not base64');
  const key = Buffer.from(b64, 'base64');
  if (key.length < 16) throw new WebhookVerificationError('invalid_secret', 'the secret is shorter than 16 bytes');
  return key;
}

const toSeconds = (t: number | Date): number => (t instanceof Date ? Math.floor(t.getTime() / 1000) : Math.floor(t));

/** `v1,<base64 HMAC-SHA256 of "${id}.${timestamp}.${body}">` */
export function sign(id: string, timestamp: number | Date, body: string, secret: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${toSeconds(timestamp)}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The three headers of a delivery. With several secrets (a rotation in progress) the signature
 * header carries one signature per secret, so the receiver accepts it with either one.
 */
export function signHeaders(id: string, timestamp: number | Date, body: string, secrets: readonly string[]): WebhookHeaders {
  if (secrets.length === 0) throw new WebhookVerificationError('invalid_secret', 'no secret to sign with');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(toSeconds(timestamp)),
    'webhook-signature': secrets.map((s) => sign(id, timestamp, body, s)).join(' '),
  };
}

export interface VerifyOptions {
  /** accepted clock difference in seconds, both ways (default 300, the spec's suggestion) */
  toleranceSec?: number;
  /** now, ms since epoch */
  now?: number;
}

const header = (headers: Record<string, string | string[] | undefined> | Headers, name: string): string | undefined => {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * Verifies a received webhook: accepted when any `v1` signature in the header matches any of the
 * `secrets` (receivers keep the old and the new secret during a rotation) and the timestamp is
 * within tolerance. Returns the message id and timestamp; throws WebhookVerificationError.
 */
export function verify(
  body: string,
  headers: Record<string, string | string[] | undefined> | Headers,
  secrets: readonly string[],
  opts: VerifyOptions = {},
): { id: string; timestamp: number } {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (!id || !ts || !sigs) throw new WebhookVerificationError('missing_headers', 'webhook-id, webhook-timestamp and webhook-signature are required');
  if (!/^\d{1,15}$/.test(ts)) throw new WebhookVerificationError('invalid_timestamp', 'webhook-timestamp is not unix seconds');
  const timestamp = Number(ts);
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  const tolerance = opts.toleranceSec ?? 300;
  if (timestamp < now - tolerance) throw new WebhookVerificationError('timestamp_too_old', 'the message timestamp is too old');
  if (timestamp > now + tolerance) throw new WebhookVerificationError('timestamp_too_new', 'the message timestamp is in the future');
  const candidates = sigs
    .split(' ')
    .map((s) => s.split(','))
    .filter((p): p is [string, string] => p.length === 2 && p[0] === 'v1' && p[1] !== '')
    .map((p) => Buffer.from(p[1], 'base64'));
  for (const secret of secrets) {
    const expected = Buffer.from(sign(id, timestamp, body, secret).slice(3), 'base64');
    for (const c of candidates) if (c.length === expected.length && timingSafeEqual(c, expected)) return { id, timestamp };
  }
  throw new WebhookVerificationError('no_matching_signature', 'no signature matches');
}
