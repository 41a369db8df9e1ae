import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.js';

export type Db = PrismaClient;

export interface DbOptions {
  /** postgresql://user@host:port/db */
  databaseUrl: string;
  /** pool size of the pg driver (default 10) */
  poolMax?: number;
}

/**
 * The one way to get a Prisma client: the Rust-free client with the node-postgres driver adapter.
 * Callers own its lifetime (`await db.$disconnect()`).
 */
export function createDb(opts: DbOptions): Db {
  const adapter = new PrismaPg({ connectionString: opts.databaseUrl, max: opts.poolMax ?? 10 });
  return new PrismaClient({ adapter });
}

/** True for Prisma's unique-constraint violation (P2002). */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002';
}
