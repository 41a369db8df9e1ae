#!/usr/bin/env node
// Usage: DATABASE_URL=postgresql://... kgrader-migrate [--migrations DIR]
// Creates the database when missing, then applies prisma/migrations.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ensureDatabase, migrate } from './migrate.js';

const env = z.object({ DATABASE_URL: z.string().url() }).parse(process.env);
const { values } = parseArgs({ options: { migrations: { type: 'string' } } });
if (await ensureDatabase(env.DATABASE_URL)) console.log('created database');
const report = await migrate({
  databaseUrl: env.DATABASE_URL,
  ...(values.migrations ? { migrationsDir: values.migrations } : {}),
  log: (m) => console.log(m),
});
console.log(`${report.applied.length} applied, ${report.alreadyApplied.length} already applied`);
