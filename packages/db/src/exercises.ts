// Exercise versions as the API and the worker both need them: the version an assignment grades
// against (pinned, or pinned now to the newest published one) and the decision of a version once
// its solution checks have all finished.
import { ExerciseSpec } from '@kgrader/schemas';
import type { Assignment, ExerciseVersion, Prisma } from './generated/client.js';
import type { Db } from './client.js';

type TxOrDb = Db | Prisma.TransactionClient;

export class NoPublishedVersionError extends Error {
  override name = 'NoPublishedVersionError';
}

/**
 * The exercise version an assignment grades against. An assignment without one (created before
 * versions existed, or written straight into the database) is pinned here, once, to the newest
 * published version of its exercise slug: from then on it never changes but by a version move.
 * Throws NoPublishedVersionError when the database has none (the shipped exercises are seeded at
 * API start).
 */
export async function pinnedVersion(db: TxOrDb, assignment: Pick<Assignment, 'id' | 'exerciseSlug' | 'exerciseVersionId'>): Promise<{ version: ExerciseVersion; spec: ExerciseSpec }> {
  if (assignment.exerciseVersionId) {
    const version = await db.exerciseVersion.findUniqueOrThrow({ where: { id: assignment.exerciseVersionId } });
    return { version, spec: ExerciseSpec.parse(version.spec) };
  }
  const latest = await db.exerciseVersion.findFirst({
    where: { status: 'published', exercise: { slug: assignment.exerciseSlug } },
    orderBy: { version: 'desc' },
  });
  if (!latest) throw new NoPublishedVersionError(`the exercise ${assignment.exerciseSlug} has no published version in the database`);
  // pin it once: a concurrent pin of the same row keeps the first one
  await db.assignment.updateMany({ where: { id: assignment.id, exerciseVersionId: null }, data: { exerciseVersionId: latest.id } });
  const row = await db.assignment.findUniqueOrThrow({ where: { id: assignment.id }, select: { exerciseVersionId: true } });
  const version = row.exerciseVersionId === latest.id ? latest : await db.exerciseVersion.findUniqueOrThrow({ where: { id: row.exerciseVersionId! } });
  return { version, spec: ExerciseSpec.parse(version.spec) };
}

/**
 * Decides a version being published once none of its checks is queued or running: `published`
 * when every solution graded as promised, `rejected` when one broke its promise, `error` when
 * kgrader could not grade one (and none was rejected). Row-locked: concurrent workers decide once.
 * Returns the new status, or null while checks are still going (or it was decided already).
 */
export async function decideVersion(db: Db, versionId: string, actorId: string | null = null): Promise<'published' | 'rejected' | 'error' | null> {
  return db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM "ExerciseVersion" WHERE id = ${versionId}::uuid FOR UPDATE`;
    const v = await tx.exerciseVersion.findUniqueOrThrow({ where: { id: versionId }, include: { checks: true, exercise: true } });
    if (v.status !== 'checking') return null;
    if (v.checks.some((c) => c.status === 'queued' || c.status === 'running')) return null;
    const status = v.checks.some((c) => c.status === 'failed') ? 'rejected' : v.checks.some((c) => c.status === 'error') ? 'error' : 'published';
    await tx.exerciseVersion.update({ where: { id: versionId }, data: { status, decidedAt: new Date() } });
    await tx.auditEvent.create({
      data: {
        actorId,
        action: `exercise.version_${status}`,
        courseId: v.exercise.courseId,
        targetType: 'exercise',
        targetId: v.exerciseId,
        data: { version: v.version, failed: v.checks.filter((c) => c.status !== 'passed').map((c) => c.name) },
      },
    });
    return status;
  });
}
