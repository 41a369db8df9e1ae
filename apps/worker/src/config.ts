import { availableParallelism, homedir, hostname } from 'node:os';
import { z } from 'zod';

const bool = z.stringbool();

/** The worker's configuration, parsed once at boot from the environment and passed down. */
export const WorkerEnv = z.object({
  DATABASE_URL: z.string().default('postgresql://postgres@127.0.0.1:5432/kgrader'),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('bull'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** concurrent gradings (VMs) in this process; default one per core */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).optional(),
  /** a name for logs and GradingRun.workerId; default host:pid */
  WORKER_ID: z.string().optional(),
  MIGRATE_ON_START: bool.default(true),
  /** infrastructure-error retries (verdict `error`): total tries, first backoff (doubles) */
  GRADING_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(4),
  GRADING_BACKOFF_MS: z.coerce.number().int().min(0).default(5_000),
  /** bullmq job lock: a worker killed mid-run loses its job to another after about this long */
  JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  STALLED_INTERVAL_MS: z.coerce.number().int().min(500).optional(),
  /** how long SIGTERM waits for running gradings before aborting and releasing them */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).default(15_000),
  /** a queued submission without a live job this long is re-enqueued */
  RECONCILE_GRACE_SECONDS: z.coerce.number().int().min(0).default(30),
  /** a submission stuck in a grading stage without any job this long is re-enqueued */
  RECONCILE_ACTIVE_GRACE_SECONDS: z.coerce.number().int().min(0).default(900),
  // engine settings (as the CLI's)
  KGRADER_CACHE_DIR: z.string().min(1).optional(),
  XDG_CACHE_HOME: z.string().min(1).optional(),
  EXERCISES_DIR: z.string().optional(),
  KGRADER_ACCEL: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  KGRADER_VM_CPUS: z.coerce.number().int().min(1).max(64).optional(),
  KGRADER_VM_MEMORY_MIB: z.coerce.number().int().min(128).optional(),
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;

export interface WorkerConfig {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  concurrency: number;
  workerId: string;
  retry: { attempts: number; backoffMs: number };
  lockMs: number;
  stalledIntervalMs: number;
  shutdownGraceMs: number;
  reconcile: { intervalMs: number; queuedGraceSeconds: number; activeGraceSeconds: number };
}

export function workerConfigFromEnv(env: WorkerEnv): WorkerConfig {
  return {
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX,
    concurrency: env.WORKER_CONCURRENCY ?? availableParallelism(),
    workerId: env.WORKER_ID ?? `${hostname()}:${process.pid}`,
    retry: { attempts: env.GRADING_ATTEMPTS, backoffMs: env.GRADING_BACKOFF_MS },
    lockMs: env.JOB_LOCK_MS,
    stalledIntervalMs: env.STALLED_INTERVAL_MS ?? env.JOB_LOCK_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    reconcile: {
      intervalMs: env.RECONCILE_INTERVAL_MS,
      queuedGraceSeconds: env.RECONCILE_GRACE_SECONDS,
      activeGraceSeconds: env.RECONCILE_ACTIVE_GRACE_SECONDS,
    },
  };
}

export function cacheDirOf(env: WorkerEnv): string {
  return env.KGRADER_CACHE_DIR ?? `${env.XDG_CACHE_HOME ?? `${homedir()}/.cache`}/kgrader`;
}
