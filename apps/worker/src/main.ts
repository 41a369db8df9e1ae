import { pino } from 'pino';
import { WorkerEnv, workerConfigFromEnv } from './config.js';
import { engineConfigFromEnv, engineGrader } from './engine-grader.js';
import { runWorker } from './run.js';

const env = WorkerEnv.parse(process.env);
const config = workerConfigFromEnv(env);
const logger = pino({ level: env.LOG_LEVEL, base: { svc: 'worker', workerId: config.workerId } });
const running = await runWorker({ config, grader: engineGrader(engineConfigFromEnv(env)), logger, migrate: env.MIGRATE_ON_START });

const stop = (signal: string) => {
  logger.info({ signal }, 'shutting down: finishing or releasing the running gradings');
  running.shutdown().then(
    () => process.exit(0),
    (err) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.once('SIGTERM', () => stop('SIGTERM'));
process.once('SIGINT', () => stop('SIGINT'));
