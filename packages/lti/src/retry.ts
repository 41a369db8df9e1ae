/** Retry policy of the AGS client's HTTP calls. */
export interface RetryPolicy {
  /** total attempts, the first included (default 5) */
  maxAttempts: number;
  /** first backoff delay (default 1 s), doubled each time */
  baseDelayMs: number;
  /** cap of one backoff delay (default 60 s) */
  maxDelayMs: number;
  /** a Retry-After longer than this is not waited for in-process: the call fails retryable (default 5 min) */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 60_000, maxRetryAfterMs: 300_000 };

/** Pure: the delay before retry number `attempt` (1 = after the first failure), with jitter in [50%, 100%]. */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const raw = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.5 + 0.5 * random()));
}

/** Pure: a Retry-After header (delta-seconds or HTTP-date) in ms from `nowMs`; undefined when absent or invalid. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - nowMs);
}

/** Pure: whether an HTTP status is worth retrying (429 and 5xx). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}
