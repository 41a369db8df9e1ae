import type { Db, GradingJobData } from '@kgrader/db';
import type { ExerciseSpec } from '@kgrader/schemas';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ApiConfig } from './config.js';
import type { EventHub } from './lib/event-hub.js';

/** What the API needs to know about exercises; production wires it to @kgrader/engine. */
export interface ExerciseCatalog {
  /** the exercise, or null when the slug is unknown */
  get(slug: string): Promise<ExerciseSpec | null>;
  /** null when the file list is acceptable for the exercise, else why not (shown to the student) */
  validateFiles(files: { name: string; bytes: number }[], exercise: ExerciseSpec): string | null;
}

export interface ApiDeps {
  db: Db;
  /** command connection (publish, queue metadata) */
  redis: Redis;
  queue: Queue<GradingJobData>;
  events: EventHub;
  catalog: ExerciseCatalog;
  config: ApiConfig;
}
