import { createDb, createFailFastRedis, createGradingQueue, ensureDatabase, migrate } from '@kgrader/db';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { folderCatalog } from './catalog.js';
import { ApiEnv, apiConfigFromEnv } from './config.js';
import { EventHub } from './lib/event-hub.js';
import { seedShippedExercises } from './lib/exercises.js';

const env = ApiEnv.parse(process.env);
const config = apiConfigFromEnv(env);
const logger = pino({ level: env.LOG_LEVEL, base: { svc: 'api' } });

if (env.MIGRATE_ON_START) {
  await ensureDatabase(env.DATABASE_URL);
  const report = await migrate({ databaseUrl: env.DATABASE_URL, log: (m) => logger.info(m) });
  logger.info({ applied: report.applied.length, alreadyApplied: report.alreadyApplied.length }, 'migrations checked');
}

const db = createDb({ databaseUrl: env.DATABASE_URL });
// the shipped exercises as version 1 in the database (idempotent): workers read specs from there only
await seedShippedExercises(db, { exercisesDir: config.exercisesDir, log: (msg, data) => logger.info(data ?? {}, msg) });
// fail-fast connections: while Redis is away a request gets its answer at once (a submission is
// committed and answered 202; the reconciler enqueues it later), never a hang
const redis = createFailFastRedis(env.REDIS_URL);
const sub = createFailFastRedis(env.REDIS_URL);
for (const [name, c] of [['redis', redis], ['redis-subscriber', sub]] as const) {
  c.on('error', (err) => logger.warn({ err: err.message, connection: name }, 'Redis connection error'));
}
const queue = createGradingQueue(redis, env.QUEUE_PREFIX);
queue.on('error', (err) => logger.warn({ err: err.message }, 'queue error'));
const events = new EventHub(sub);
const app = await buildApp({
  deps: { db, redis, queue, events, catalog: folderCatalog(config.exercisesDir), config },
  logger,
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  try {
    await events.close(); // ends the SSE streams' subscriptions; app.close() waits for open requests
    await app.close();
    await queue.close();
    redis.disconnect();
    await db.$disconnect();
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
  }
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await app.listen({ port: env.PORT, host: env.HOST });
logger.info({ url: config.publicUrl, docs: `${config.publicUrl}/docs` }, 'kgrader API listening');
