import { z } from 'zod';

// Configuration shared by the service's processes (API and worker), defined once. Each app
// parses its environment once at boot with these fields merged into its own schema.

/**
 * The one retry layer of gradings: the worker's bullmq retries. A submission (one generation of
 * it) gets at most GRADING_ATTEMPTS grading runs that end in an infrastructure error or whose
 * worker dies; after that it ends `error`, visibly, and is not tried again. Backoff between tries
 * doubles from GRADING_BACKOFF_MS.
 */
export const GradingRetryEnv = z.object({
  GRADING_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  GRADING_BACKOFF_MS: z.coerce.number().int().min(0).default(5_000),
});
export type GradingRetryEnv = z.infer<typeof GradingRetryEnv>;

export interface GradingRetryPolicy {
  /** grading runs per submission generation that may end in an infrastructure error (bullmq tries per job) */
  readonly attempts: number;
  /** first backoff delay, doubled on each retry */
  readonly backoffMs: number;
}

export function gradingRetryPolicy(env: GradingRetryEnv): GradingRetryPolicy {
  return Object.freeze({ attempts: env.GRADING_ATTEMPTS, backoffMs: env.GRADING_BACKOFF_MS });
}

export const DEFAULT_GRADING_RETRY: GradingRetryPolicy = gradingRetryPolicy(GradingRetryEnv.parse({}));
