import type { Db, Role, User } from '@kgrader/db';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { forbidden, unauthorized } from '../errors.js';
import { hashToken } from './tokens.js';

export interface Principal {
  user: User;
  tokenId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Resolves `Authorization: Bearer <token>` to a user on every request of the scope it is registered in. */
export const authPlugin = fp<{ db: Db }>(async (app: FastifyInstance, { db }) => {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req) => {
    const header = req.headers.authorization;
    if (!header) return;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw unauthorized('Authorization must be "Bearer <token>"');
    const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(m[1]!) }, include: { user: true } });
    const now = new Date();
    if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= now)) throw unauthorized('the token is unknown, revoked or expired');
    req.principal = { user: row.user, tokenId: row.id };
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000) {
      db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } }).catch(() => {});
    }
  });
});

export function requireUser(req: FastifyRequest): User {
  if (!req.principal) throw unauthorized();
  return req.principal.user;
}

/** The caller's role in a course (admins count as instructors everywhere). */
export async function courseRole(db: Db, user: User, courseId: string): Promise<Role | null> {
  if (user.isAdmin) return 'instructor';
  const m = await db.membership.findUnique({ where: { userId_courseId: { userId: user.id, courseId } } });
  return m?.role ?? null;
}

export async function requireMember(db: Db, user: User, courseId: string): Promise<Role> {
  const role = await courseRole(db, user, courseId);
  if (!role) throw forbidden('you are not a member of this course');
  return role;
}

export async function requireInstructor(db: Db, user: User, courseId: string): Promise<void> {
  const role = await courseRole(db, user, courseId);
  if (role !== 'instructor') throw forbidden('only the course instructors may do this');
}
