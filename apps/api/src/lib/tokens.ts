import { createHash, randomBytes } from 'node:crypto';
import type { Db, TokenScope } from '@kgrader/db';

export const TOKEN_PREFIX = 'kgr_';

/** sha256 is enough for 256-bit random tokens: nothing to brute-force, and lookups stay O(1). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface IssuedToken {
  id: string;
  userId: string;
  token: string;
  prefix: string;
  scope: TokenScope;
  courseId: string | null;
  expiresAt: Date | null;
}

/** A token that cannot be issued as asked (a programming or operator error: the routes check first). */
export class TokenScopeError extends Error {
  override name = 'TokenScopeError';
}

/**
 * Creates a token for a user with the scope it is for, and records who issued it (audit event in
 * the same transaction). `admin` scope only for admins and never limited to a course.
 */
export async function issueToken(
  db: Db,
  opts: {
    userId: string;
    name: string;
    scope: TokenScope;
    /** limit the token to this course */
    courseId?: string | null | undefined;
    issuedById: string | null;
    expiresInDays?: number | undefined;
  },
): Promise<IssuedToken> {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const prefix = token.slice(0, 10);
  const expiresAt = opts.expiresInDays ? new Date(Date.now() + opts.expiresInDays * 86_400_000) : null;
  const courseId = opts.courseId ?? null;
  const row = await db.$transaction(async (tx) => {
    const user = await tx.user.findUniqueOrThrow({ where: { id: opts.userId }, select: { isAdmin: true } });
    if (opts.scope === 'admin' && !user.isAdmin) throw new TokenScopeError('only admins may hold admin-scoped tokens');
    if (opts.scope === 'admin' && courseId) throw new TokenScopeError('an admin-scoped token cannot be limited to a course');
    const row = await tx.apiToken.create({
      data: { userId: opts.userId, name: opts.name, tokenHash: hashToken(token), prefix, scope: opts.scope, courseId, issuedById: opts.issuedById, expiresAt },
    });
    await tx.auditEvent.create({
      data: {
        actorId: opts.issuedById,
        action: 'token.issue',
        courseId,
        targetType: 'user',
        targetId: opts.userId,
        data: { tokenId: row.id, name: opts.name, prefix, scope: opts.scope },
      },
    });
    return row;
  });
  return { id: row.id, userId: row.userId, token, prefix, scope: row.scope, courseId: row.courseId, expiresAt };
}
