import { shippedExercisesDir } from '@kgrader/exercises';
import { deepFreeze, GradingRetryEnv, gradingRetryPolicy, ServiceBaseEnv, type GradingRetryPolicy } from '@kgrader/schemas';
import { z } from 'zod';

const bool = z.stringbool();

/** One OpenID Connect provider users may sign in with (OIDC_PROVIDERS is a JSON array of these). */
export const OidcProviderConfig = z.object({
  /** used in URLs: /auth/login/<id> */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/),
  /** shown on the sign-in button */
  name: z.string().min(1).max(80),
  /** the issuer (discovery at <issuer>/.well-known/openid-configuration); only listed issuers may sign in */
  issuer: z.url(),
  clientId: z.string().min(1),
  /** absent: a public client (PKCE only) */
  clientSecret: z.string().min(1).optional(),
  /**
   * who gets an account at first sign-in: people whose provider-verified e-mail is in one of these
   * domains (null: nobody new; only users already linked, or enrolled by e-mail in such a domain)
   */
  provision: z
    .object({
      emailDomains: z.array(z.string().regex(/^[a-z0-9.-]+$/)).min(1),
      /** a new account's rights: a plain user (courses come from enrolment) or a course creator */
      role: z.enum(['user', 'course_creator']).default('user'),
    })
    .nullable()
    .default(null),
});
export type OidcProviderConfig = z.infer<typeof OidcProviderConfig>;
const OidcProviders = z.array(OidcProviderConfig).refine((ps) => new Set(ps.map((p) => p.id)).size === ps.length, 'provider ids must be unique');

/** The API's configuration, parsed once at boot from the environment and passed down. */
export const ApiEnv = ServiceBaseEnv.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  /** the URL clients use to reach the API (links in responses, demo output) */
  PUBLIC_URL: z.url().optional(),
  /** a submission without Idempotency-Key whose files equal the student's latest one made this recently is a retry of it */
  SUBMIT_DUPLICATE_WINDOW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  /** after a submission is committed, how long the answer waits for Redis (enqueue, publish) before relying on the reconciler */
  REDIS_DEADLINE_MS: z.coerce.number().int().min(10).max(5_000).default(300),
  /** seconds an SSE stream stays open at most (the client reconnects with Last-Event-ID) */
  SSE_MAX_SECONDS: z.coerce.number().int().min(1).default(1800),
  /** hours an LTI launch's session token lives */
  LTI_SESSION_HOURS: z.coerce.number().positive().max(168).default(8),
  /** OpenID Connect providers for the dashboard's sign-in: a JSON array (see OidcProviderConfig); unset: none */
  OIDC_PROVIDERS: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return [];
      try {
        return OidcProviders.parse(JSON.parse(s));
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `OIDC_PROVIDERS: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  /** http:// issuers (tests, local development only) */
  OIDC_ALLOW_INSECURE: bool.default(false),
  /** hours a dashboard session lasts */
  SESSION_HOURS: z.coerce.number().positive().max(24 * 30).default(12),
  /** the built dashboard (default: apps/dashboard/dist/web) */
  DASHBOARD_DIR: z.string().min(1).optional(),
}).extend(GradingRetryEnv.shape);
export type ApiEnv = z.infer<typeof ApiEnv>;

export interface ApiConfig {
  publicUrl: string;
  /** where exercises/<slug> are read from (KGRADER_EXERCISES_DIR, else the repository's own) */
  exercisesDir: string;
  /** the grading retry policy (shared definition: GradingRetryEnv), set on every job enqueued */
  retry: GradingRetryPolicy;
  /** see SUBMIT_DUPLICATE_WINDOW_SECONDS */
  duplicateWindowSeconds: number;
  /** see REDIS_DEADLINE_MS */
  redisDeadlineMs: number;
  sseMaxSeconds: number;
  logLevel: ApiEnv['LOG_LEVEL'];
  /** the built dashboard's folder; absent: apps/dashboard/dist/web */
  dashboardDir?: string;
  /** LMS integration (LTI 1.3, webhooks); absent: LTI off, webhooks to public addresses only */
  lms?: Partial<LmsConfig>;
  /** dashboard sign-in (OpenID Connect) and sessions; absent: no provider, 12 h sessions */
  auth?: AuthConfig;
}

export interface AuthConfig {
  providers: readonly OidcProviderConfig[];
  /** accept http:// issuers (tests) */
  allowInsecure: boolean;
  sessionHours: number;
}

export interface LmsConfig {
  /** the tool key file; unset: the LTI endpoints answer 503 */
  toolKeysFile: string | undefined;
  sessionHours: number;
  ltiAllowInsecureUrls: boolean;
  /** LTI platform URLs may resolve to loopback/private/link-local addresses (default off: SSRF guard) */
  ltiAllowPrivateUrls: boolean;
  webhooksAllowPrivate: boolean;
  /** how long a rotated-out webhook secret still signs deliveries (default 24 h) */
  previousSecretHours: number;
}

export function apiConfigFromEnv(env: ApiEnv): ApiConfig {
  return deepFreeze({
    publicUrl: (env.PUBLIC_URL ?? `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`).replace(/\/$/, ''),
    exercisesDir: env.KGRADER_EXERCISES_DIR ?? shippedExercisesDir,
    retry: gradingRetryPolicy(env),
    duplicateWindowSeconds: env.SUBMIT_DUPLICATE_WINDOW_SECONDS,
    redisDeadlineMs: env.REDIS_DEADLINE_MS,
    sseMaxSeconds: env.SSE_MAX_SECONDS,
    logLevel: env.LOG_LEVEL,
    ...(env.DASHBOARD_DIR ? { dashboardDir: env.DASHBOARD_DIR } : {}),
    auth: { providers: env.OIDC_PROVIDERS, allowInsecure: env.OIDC_ALLOW_INSECURE, sessionHours: env.SESSION_HOURS },
    lms: {
      toolKeysFile: env.LTI_TOOL_KEYS,
      sessionHours: env.LTI_SESSION_HOURS,
      ltiAllowInsecureUrls: env.LTI_ALLOW_INSECURE_URLS,
      ltiAllowPrivateUrls: env.LTI_ALLOW_PRIVATE_URLS,
      webhooksAllowPrivate: env.WEBHOOKS_ALLOW_PRIVATE,
      previousSecretHours: 24,
    },
  });
}
