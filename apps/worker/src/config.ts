import { availableParallelism, homedir, hostname } from 'node:os';
import { deepFreeze, GradingRetryEnv, gradingRetryPolicy, ServiceBaseEnv, type GradingRetryPolicy } from '@kgrader/schemas';
import { z } from 'zod';

const bool = z.stringbool();

/** The worker's configuration, parsed once at boot from the environment and passed down. */
export const WorkerEnv = ServiceBaseEnv.extend({
  /** concurrent gradings (VMs) in this process; default one per core */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).optional(),
  /** a name for logs and GradingRun.workerId; default host:pid */
  WORKER_ID: z.string().optional(),
  /** bullmq job lock: a worker killed mid-run loses its job to another after about this long */
  JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  STALLED_INTERVAL_MS: z.coerce.number().int().min(500).optional(),
  /** how long SIGTERM waits for running gradings before aborting and releasing them */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).default(15_000),
  /** a queued submission without a live job this long is re-enqueued */
  RECONCILE_GRACE_SECONDS: z.coerce.number().int().min(0).default(30),
  /** the worker refreshes the heartbeat of each run it grades this often */
  HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
  /** a run in a grading stage whose heartbeat is older than this (its worker died) is graded again when it has no live job */
  HEARTBEAT_STALE_SECONDS: z.coerce.number().int().min(1).default(45),
  // engine settings (as the CLI's)
  KGRADER_CACHE_DIR: z.string().min(1).optional(),
  XDG_CACHE_HOME: z.string().min(1).optional(),
  KGRADER_ACCEL: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  KGRADER_VM_CPUS: z.coerce.number().int().min(1).max(64).optional(),
  KGRADER_VM_MEMORY_MIB: z.coerce.number().int().min(128).optional(),
  // LMS integration (issue 5): webhook deliveries and LTI AGS grade passback run in the worker
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  WEBHOOK_POLL_MS: z.coerce.number().int().min(0).default(1_000),
  /** delays between webhook attempts, ms, comma-separated (default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) */
  WEBHOOK_RETRY_SCHEDULE_MS: z.string().regex(/^\d+(,\d+)*$/).optional(),
  PASSBACK_POLL_MS: z.coerce.number().int().min(0).default(2_000),
  /** delays between passback rounds after a retryable failure, ms (default: 1 min, 5 min, 30 min, 2 h, 6 h) */
  PASSBACK_RETRY_SCHEDULE_MS: z.string().regex(/^\d+(,\d+)*$/).optional(),
  /** in-call AGS retries (429/5xx/network) before the round fails, and the first backoff */
  AGS_RETRY_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  AGS_RETRY_BASE_MS: z.coerce.number().int().min(0).default(1_000),
  AGS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** LTI Asset Processor (issue 15): notice inbox and platform call outbox polling */
  LTI_NOTICE_POLL_MS: z.coerce.number().int().min(0).default(1_000),
  /** delays between tries of an asset download or a call to a platform (asset report, handler registration), ms (default: 10 s, 1 min, 5 min, 30 min, 2 h, 6 h) */
  LTI_SERVICE_RETRY_SCHEDULE_MS: z.string().regex(/^\d+(,\d+)*$/).optional(),
  /** similarity checks (Dolos): how often the worker looks for queued checks and assignments past their due date (0: off) */
  SIMILARITY_POLL_MS: z.coerce.number().int().min(0).default(10_000),
  // health and metrics (issue 11)
  /** /healthz and /metrics (Prometheus) on this port; unset: no HTTP server */
  WORKER_HTTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  WORKER_HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  /** the doctor's checks and the environment pins are run at start and again this often */
  HEALTH_RECHECK_MS: z.coerce.number().int().min(1000).default(60_000),
  /** check: pin this worker's kernel keys (and LTI key) when the service has none, refuse to grade when they differ; repin: make this worker's the service's */
  ENVIRONMENT_PIN: z.enum(['check', 'repin']).default('check'),
}).extend(GradingRetryEnv.shape);
export type WorkerEnv = z.infer<typeof WorkerEnv>;

export interface WorkerConfig {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  concurrency: number;
  workerId: string;
  /** the grading retry policy (shared definition: GradingRetryEnv of @kgrader/schemas) */
  retry: GradingRetryPolicy;
  lockMs: number;
  stalledIntervalMs: number;
  shutdownGraceMs: number;
  reconcile: { intervalMs: number; queuedGraceSeconds: number };
  /** run heartbeats: refreshed every intervalMs while grading; stale after staleSeconds (the worker died) */
  heartbeat: { intervalMs: number; staleSeconds: number };
  /** LMS loops; absent: webhooks with defaults, no passback (no tool key) */
  lms?: Partial<WorkerLmsConfig>;
  /** the similarity loop's period (ms); absent or 0: this worker runs no similarity checks */
  similarityPollMs?: number;
  /**
   * health gate and metrics (issue 11): the grader's doctor checks and the environment pins at
   * start and every recheckMs; the worker takes grading jobs only while they pass. Absent: no
   * checks (the worker takes jobs at once), no HTTP server.
   */
  health?: { recheckMs: number; repin: boolean; http?: { host: string; port: number } };
}

export interface WorkerLmsConfig {
  toolKeysFile: string | undefined;
  allowInsecureUrls: boolean;
  /** AGS URLs may resolve to loopback/private addresses (default off: SSRF guard) */
  allowPrivateUrls: boolean;
  webhooks: { allowPrivate: boolean; timeoutMs: number; pollMs: number; schedule?: number[] | undefined };
  passback: { pollMs: number; schedule: number[]; agsAttempts: number; agsBaseDelayMs: number; timeoutMs: number };
  /** LTI Asset Processor: notice inbox and platform-call outbox (polling; retry schedule of downloads and calls) */
  assets: { pollMs: number; schedule: number[] };
}

export const DEFAULT_LTI_SERVICE_SCHEDULE_MS = [10_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000];

export const DEFAULT_PASSBACK_SCHEDULE_MS = [60_000, 300_000, 1_800_000, 7_200_000, 21_600_000];
const msList = (s: string | undefined) => (s ? s.split(',').map(Number) : undefined);

export function workerConfigFromEnv(env: WorkerEnv): WorkerConfig {
  return deepFreeze({
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX,
    concurrency: env.WORKER_CONCURRENCY ?? availableParallelism(),
    workerId: env.WORKER_ID ?? `${hostname()}:${process.pid}`,
    retry: gradingRetryPolicy(env),
    lockMs: env.JOB_LOCK_MS,
    stalledIntervalMs: env.STALLED_INTERVAL_MS ?? env.JOB_LOCK_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    reconcile: {
      intervalMs: env.RECONCILE_INTERVAL_MS,
      queuedGraceSeconds: env.RECONCILE_GRACE_SECONDS,
    },
    heartbeat: { intervalMs: env.HEARTBEAT_INTERVAL_MS, staleSeconds: env.HEARTBEAT_STALE_SECONDS },
    similarityPollMs: env.SIMILARITY_POLL_MS,
    health: {
      recheckMs: env.HEALTH_RECHECK_MS,
      repin: env.ENVIRONMENT_PIN === 'repin',
      ...(env.WORKER_HTTP_PORT !== undefined ? { http: { host: env.WORKER_HTTP_HOST, port: env.WORKER_HTTP_PORT } } : {}),
    },
    lms: {
      toolKeysFile: env.LTI_TOOL_KEYS,
      allowInsecureUrls: env.LTI_ALLOW_INSECURE_URLS,
      allowPrivateUrls: env.LTI_ALLOW_PRIVATE_URLS,
      webhooks: { allowPrivate: env.WEBHOOKS_ALLOW_PRIVATE, timeoutMs: env.WEBHOOK_TIMEOUT_MS, pollMs: env.WEBHOOK_POLL_MS, schedule: msList(env.WEBHOOK_RETRY_SCHEDULE_MS) },
      passback: {
        pollMs: env.PASSBACK_POLL_MS,
        schedule: msList(env.PASSBACK_RETRY_SCHEDULE_MS) ?? DEFAULT_PASSBACK_SCHEDULE_MS,
        agsAttempts: env.AGS_RETRY_ATTEMPTS,
        agsBaseDelayMs: env.AGS_RETRY_BASE_MS,
        timeoutMs: env.AGS_TIMEOUT_MS,
      },
      assets: { pollMs: env.LTI_NOTICE_POLL_MS, schedule: msList(env.LTI_SERVICE_RETRY_SCHEDULE_MS) ?? DEFAULT_LTI_SERVICE_SCHEDULE_MS },
    },
  });
}

export function cacheDirOf(env: WorkerEnv): string {
  return env.KGRADER_CACHE_DIR ?? `${env.XDG_CACHE_HOME ?? `${homedir()}/.cache`}/kgrader`;
}
