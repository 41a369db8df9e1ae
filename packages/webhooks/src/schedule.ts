/**
 * Delays between attempts after each failure: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (the Standard
 * Webhooks example schedule): 8 attempts over about 27.6 hours.
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

/** Pure: the delay after `attemptsMade` failed attempts, or null when the schedule is exhausted. */
export function nextRetryDelay(attemptsMade: number, schedule: readonly number[] = DEFAULT_RETRY_SCHEDULE_MS): number | null {
  if (attemptsMade < 1) return 0;
  return schedule[attemptsMade - 1] ?? null;
}

/** What an attempt leads to: done, try again later, give up, or give up and disable the endpoint. */
export type DeliveryOutcome = 'success' | 'retry' | 'failed' | 'disable';

/**
 * Pure: 2xx is success; 410 Gone disables the endpoint; a delivery the SSRF guard refused (the URL
 * resolves to an address webhooks may not reach) fails at once, as retrying cannot change a
 * policy decision; anything else (other statuses, timeouts, network and DNS errors) is retried
 * until the schedule is exhausted.
 */
export function classifyOutcome(
  result: { status?: number | undefined; error?: { kind: string } | undefined },
  attemptsMade: number,
  schedule: readonly number[] = DEFAULT_RETRY_SCHEDULE_MS,
): { outcome: DeliveryOutcome; retryInMs?: number } {
  const s = result.status;
  if (s !== undefined && s >= 200 && s < 300) return { outcome: 'success' };
  if (s === 410) return { outcome: 'disable' };
  if (s === undefined && result.error?.kind === 'blocked') return { outcome: 'failed' };
  const delay = nextRetryDelay(attemptsMade, schedule);
  return delay === null ? { outcome: 'failed' } : { outcome: 'retry', retryInMs: delay };
}
