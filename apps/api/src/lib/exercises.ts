// Exercises in the database (issue 12): seeding the shipped ones as version 1, content hashes,
// the wire shapes, and publishing a draft (a `checking` version whose solutions the workers grade
// in the low-priority lane; the last check decides it).
import { createHash } from 'node:crypto';
import { enqueueSolutionChecks, isUniqueViolation, type Db, type Exercise, type ExerciseVersion, type Prisma, type SolutionCheck } from '@kgrader/db';
import { listExercises, loadShippedExercise } from '@kgrader/exercises';
import { ExerciseDraft, ExerciseSpec, type ExerciseOut, type ExerciseSummary, type ExerciseVersionOut, type ExerciseVersionSummary, type SolutionDraft } from '@kgrader/schemas';
import type { ApiDeps } from '../deps.js';
import { conflict, HttpError } from '../errors.js';

/** JSON with sorted keys: equal content, equal text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function contentHash(d: ExerciseDraft): string {
  return createHash('sha256').update(canonical({ spec: d.spec, handout: d.handout, starterFiles: d.starterFiles, solutions: d.solutions })).digest('hex');
}

const json = (v: unknown) => v as Prisma.InputJsonValue;

/**
 * Seeds every shipped exercise (`exercises/<slug>`) as version 1 (published: the repository's
 * end-to-end tests grade its solutions), once; pins assignments that have no version yet to the
 * version 1 of their slug. Idempotent and safe to run from several processes at once. A shipped
 * exercise whose files changed since it was seeded is reported, not re-seeded: publish it as a
 * new version (its solutions are graded first).
 */
export async function seedShippedExercises(db: Db, opts: { exercisesDir: string; log?: (msg: string, data?: object) => void }): Promise<{ seeded: string[]; changed: string[] }> {
  const log = opts.log ?? (() => {});
  const seeded: string[] = [];
  const changed: string[] = [];
  for (const spec of await listExercises(opts.exercisesDir)) {
    const draft = await loadShippedExercise(spec.slug, opts.exercisesDir);
    const hash = contentHash(draft);
    try {
      await db.$transaction(async (tx) => {
        const ex = await tx.exercise.upsert({ where: { slug: spec.slug }, create: { slug: spec.slug, courseId: null, draft: json(draft) }, update: {} });
        const any = await tx.exerciseVersion.findFirst({ where: { exerciseId: ex.id }, orderBy: { version: 'desc' } });
        if (!any) {
          await tx.exerciseVersion.create({
            data: {
              exerciseId: ex.id,
              version: 1,
              status: 'published',
              origin: 'seed',
              spec: json(draft.spec),
              handout: draft.handout,
              starterFiles: json(draft.starterFiles),
              solutions: json(draft.solutions),
              contentHash: hash,
              decidedAt: new Date(),
            },
          });
          seeded.push(spec.slug);
        } else {
          const seed = await tx.exerciseVersion.findFirst({ where: { exerciseId: ex.id, origin: 'seed' }, orderBy: { version: 'desc' } });
          if (seed && seed.contentHash !== hash && ex.courseId === null) changed.push(spec.slug);
        }
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err; // another process seeded it at the same moment
    }
  }
  await db.$executeRaw`
    UPDATE "Assignment" a SET "exerciseVersionId" = v.id
    FROM "Exercise" e JOIN "ExerciseVersion" v ON v."exerciseId" = e.id AND v.version = 1
    WHERE a."exerciseVersionId" IS NULL AND a."exerciseSlug" = e.slug AND v.status = 'published'`;
  if (seeded.length) log('seeded shipped exercises as version 1', { seeded });
  if (changed.length) log('shipped exercises changed since they were seeded: publish them as a new version', { changed });
  return { seeded, changed };
}

export function versionSummary(v: ExerciseVersion): ExerciseVersionSummary {
  return {
    version: v.version,
    status: v.status,
    contentHash: v.contentHash,
    origin: v.origin === 'seed' ? 'seed' : 'publish',
    createdAt: v.createdAt.toISOString(),
    decidedAt: v.decidedAt?.toISOString() ?? null,
  };
}

export function exerciseSummary(e: Exercise & { versions: ExerciseVersion[] }): ExerciseSummary {
  const draft = ExerciseDraft.parse(e.draft);
  const versions = [...e.versions].sort((a, b) => a.version - b.version);
  const published = versions.filter((v) => v.status === 'published').at(-1);
  const spec = published ? ExerciseSpec.parse(published.spec) : draft.spec;
  return {
    id: e.id,
    slug: e.slug,
    title: spec.title,
    summary: spec.summary,
    courseId: e.courseId,
    latestPublished: published?.version ?? null,
    maxScore: published ? spec.tests.reduce((s, t) => s + t.points, 0) : null,
    versions: versions.map(versionSummary),
  };
}

export function exerciseOut(e: Exercise & { versions: ExerciseVersion[] }): ExerciseOut {
  return { ...exerciseSummary(e), draft: ExerciseDraft.parse(e.draft), updatedAt: e.updatedAt.toISOString() };
}

export function versionOut(e: Exercise, v: ExerciseVersion & { checks: SolutionCheck[] }): ExerciseVersionOut {
  return {
    ...versionSummary(v),
    exerciseId: e.id,
    slug: e.slug,
    spec: ExerciseSpec.parse(v.spec),
    handout: v.handout,
    starterFiles: v.starterFiles as ExerciseVersionOut['starterFiles'],
    solutions: v.solutions as SolutionDraft[],
    checks: [...v.checks]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((c) => ({
        name: c.name,
        status: c.status,
        attempts: c.attempts,
        problems: c.problems,
        verdict: c.verdict,
        summary: c.summary,
        finishedAt: c.finishedAt?.toISOString() ?? null,
      })),
  };
}

/**
 * Publishes an exercise's draft as its next version: refused (422) without a reference solution,
 * (409) when the draft equals the newest version that is published or still being checked.
 * Commits the version (`checking`) and one check per solution, then enqueues the checks in the
 * low-priority lane (best effort: the reconciler enqueues what Redis did not take).
 */
export async function publishDraft(deps: ApiDeps, exercise: Exercise, actorId: string): Promise<ExerciseVersion & { checks: SolutionCheck[] }> {
  const draft = ExerciseDraft.parse(exercise.draft);
  if (!draft.solutions.some((s) => s.expectation.verdict === 'pass')) {
    throw new HttpError(422, 'a version needs a reference solution (one expected to pass) before it can be published', { type: '/problems/exercise-no-reference' });
  }
  const hash = contentHash(draft);
  const v = await deps.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM "Exercise" WHERE id = ${exercise.id}::uuid FOR UPDATE`;
    const last = await tx.exerciseVersion.findFirst({ where: { exerciseId: exercise.id }, orderBy: { version: 'desc' } });
    const same = await tx.exerciseVersion.findFirst({ where: { exerciseId: exercise.id, contentHash: hash, status: { in: ['published', 'checking'] } }, orderBy: { version: 'desc' } });
    if (same) throw conflict(`the draft is the same as version ${same.version} (${same.status})`, '/problems/exercise-version-unchanged');
    const v = await tx.exerciseVersion.create({
      data: {
        exerciseId: exercise.id,
        version: (last?.version ?? 0) + 1,
        status: 'checking',
        origin: 'publish',
        spec: json(draft.spec),
        handout: draft.handout,
        starterFiles: json(draft.starterFiles),
        solutions: json(draft.solutions),
        contentHash: hash,
        createdById: actorId,
        checks: { create: draft.solutions.map((s) => ({ name: s.name, problems: [] })) },
      },
      include: { checks: true },
    });
    await tx.auditEvent.create({
      data: { actorId, action: 'exercise.publish', courseId: exercise.courseId, targetType: 'exercise', targetId: exercise.id, data: { version: v.version, contentHash: hash } },
    });
    return v;
  });
  await enqueueSolutionChecks(deps.queue, v.checks.map((c) => c.id), deps.config.retry).catch(() => 0);
  return v;
}
