// A student's own due date (their extension, else the assignment's) and the lateness of a
// submission under the assignment's late policy (issue 12, item 5).
import { LatePolicy, lateness, type Lateness } from '@kgrader/schemas';
import type { Assignment, Prisma } from './generated/client.js';
import type { Db } from './client.js';

type TxOrDb = Db | Prisma.TransactionClient;

export async function effectiveDueAt(db: TxOrDb, assignment: Pick<Assignment, 'id' | 'dueAt'>, userId: string): Promise<Date | null> {
  const ext = await db.extension.findUnique({ where: { assignmentId_userId: { assignmentId: assignment.id, userId } }, select: { dueAt: true } });
  return ext?.dueAt ?? assignment.dueAt;
}

export const latePolicyOf = (a: Pick<Assignment, 'latePolicy'>): LatePolicy => LatePolicy.parse(a.latePolicy ?? { kind: 'hard' });

/** Lateness of a submission made at `submittedAt` by `userId`. */
export async function latenessOf(db: TxOrDb, assignment: Pick<Assignment, 'id' | 'dueAt' | 'latePolicy'>, userId: string, submittedAt: Date): Promise<Lateness> {
  return lateness(latePolicyOf(assignment), await effectiveDueAt(db, assignment, userId), submittedAt);
}

/**
 * Sends the gradebook score again (LTI AGS) for the students whose late penalty may have changed
 * (an extension granted or withdrawn, a new due date or late policy): their latest graded
 * submission's passback goes back to `pending`. Returns how many were re-queued.
 */
export async function requeuePassbacks(db: TxOrDb, assignmentId: string, userId?: string): Promise<number> {
  const now = new Date().toISOString();
  return db.$executeRaw`
    UPDATE "LtiPassback" SET status = 'pending', attempts = 0, "nextAttemptAt" = ${now}::timestamp(3), "lockedUntil" = NULL
    WHERE status IN ('sent', 'failed', 'skipped') AND "submissionId" IN (
      SELECT DISTINCT ON ("userId") id FROM "Submission"
      WHERE "assignmentId" = ${assignmentId}::uuid AND status = 'done' AND (${userId ?? null}::uuid IS NULL OR "userId" = ${userId ?? null}::uuid)
      ORDER BY "userId", "createdAt" DESC, id DESC)`;
}
