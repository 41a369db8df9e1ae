import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '@kgrader/db';

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
  expiresAt: Date | null;
}

/** Creates a token for a user and records who issued it (audit event in the same transaction). */
export async function issueToken(
  db: Db,
  opts: { userId: string; name: string; issuedById: string | null; expiresInDays?: number | undefined; courseId?: string | null },
): Promise<IssuedToken> {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const prefix = token.slice(0, 10);
  const expiresAt = opts.expiresInDays ? new Date(Date.now() + opts.expiresInDays * 86_400_000) : null;
  const row = await db.$transaction(async (tx) => {
    const row = await tx.apiToken.create({
      data: { userId: opts.userId, name: opts.name, tokenHash: hashToken(token), prefix, issuedById: opts.issuedById, expiresAt },
    });
    await tx.auditEvent.create({
      data: {
        actorId: opts.issuedById,
        action: 'token.issue',
        courseId: opts.courseId ?? null,
        targetType: 'user',
        targetId: opts.userId,
        data: { tokenId: row.id, name: opts.name, prefix },
      },
    });
    return row;
  });
  return { id: row.id, userId: row.userId, token, prefix, expiresAt };
}
