import { z } from 'zod';

// Configuration shared by the service's processes (API and worker), defined once. Each app
// parses its environment once at boot with these fields merged into its own schema.

const bool = z.stringbool();

/**
 * What every service process reads the same way: where PostgreSQL and Redis are, the queue's
 * key prefix, logging, migrations, where exercise files live, the LTI tool key and the admin
 * settings for LMS and webhook URLs (the API checks them when they are saved, the worker again
 * when it calls them).
 */
export const ServiceBaseEnv = z.object({
  DATABASE_URL: z.string().default('postgresql://postgres@127.0.0.1:5432/kgrader'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** bullmq key prefix: separate deployments (or test runs) sharing one Redis */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('bull'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** apply prisma/migrations at boot */
  MIGRATE_ON_START: bool.default(true),
  /** where exercises/<slug> are read from (seeding version 1, grading); the CLI's setting of the same name; default: the repository's */
  KGRADER_EXERCISES_DIR: z.string().min(1).optional(),
  /** the old name: refused with a message rather than silently ignored */
  EXERCISES_DIR: z.never({ error: 'EXERCISES_DIR is now KGRADER_EXERCISES_DIR (one name for the CLI, the API and the worker)' }).optional(),
  /** LTI tool key file (JSON array of private JWKs; `kgrader-admin lti-keygen --file F`); unset: LTI off, passbacks stay pending */
  LTI_TOOL_KEYS: z.string().min(1).optional(),
  /** accept http:// platform URLs (tests and local development only) */
  LTI_ALLOW_INSECURE_URLS: bool.default(false),
  /** admin setting: LTI platform URLs (JWKS, token, auth, AGS endpoints) may point at loopback/private/link-local addresses (tests, on-premise LMS) */
  LTI_ALLOW_PRIVATE_URLS: bool.default(false),
  /** admin setting: webhook URLs may point at loopback/private addresses (tests, on-premise receivers) */
  WEBHOOKS_ALLOW_PRIVATE: bool.default(false),
});
export type ServiceBaseEnv = z.infer<typeof ServiceBaseEnv>;

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
