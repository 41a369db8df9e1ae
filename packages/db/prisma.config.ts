// Prisma CLI config: the JavaScript schema engine (WebAssembly) with the pg driver adapter, so
// `prisma generate` and `prisma migrate diff` run offline without a downloaded native engine.
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';

const root = path.join(import.meta.dirname, '..', '..');

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join(root, 'prisma', 'schema.prisma'),
  migrations: { path: path.join(root, 'prisma', 'migrations') },
  // only used by commands that talk to a database; the CLI reads DATABASE_URL here, apps never do
  adapter: async () =>
    new PrismaPg({ connectionString: process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/kgrader' }),
});
