// Similarity checks (issue 12, item 6), a durable job loop like the LMS loops: SimilarityRun rows
// are the jobs (queued by an instructor, or by this loop once an assignment's due date, and every
// extension, has passed), claimed with FOR UPDATE SKIP LOCKED and a lease (a crashed worker's run
// comes back), computed with Dolos over each student's latest submission, starter files excluded.
import { pinnedVersion, type Db, type Prisma } from '@kgrader/db';
import { similarPairs, type StudentCode } from '@kgrader/similarity';
import type { Logger } from 'pino';

export const DEFAULT_SIMILARITY_THRESHOLD = 0.6;
const LEASE_MS = 10 * 60_000;
const MAX_ATTEMPTS = 3;

/** Queues the after-the-due-date check of every assignment whose due date (and every extension) has passed. */
export async function queueDueSimilarityRuns(db: Db, now = new Date()): Promise<number> {
  const iso = now.toISOString();
  const due = await db.$queryRaw<{ id: string }[]>`
    SELECT a.id::text AS id FROM "Assignment" a
    WHERE a."dueAt" IS NOT NULL AND a."dueAt" < ${iso}::timestamp(3) AND a."similarityDueRunAt" IS NULL
      AND NOT EXISTS (SELECT 1 FROM "Extension" e WHERE e."assignmentId" = a.id AND e."dueAt" >= ${iso}::timestamp(3))
    LIMIT 100`;
  let n = 0;
  for (const { id } of due) {
    const queued = await db.$transaction(async (tx) => {
      const claimed = await tx.assignment.updateMany({ where: { id, similarityDueRunAt: null }, data: { similarityDueRunAt: now } });
      if (claimed.count === 0) return false;
      await tx.similarityRun.create({ data: { assignmentId: id, trigger: 'due', threshold: DEFAULT_SIMILARITY_THRESHOLD } });
      return true;
    });
    if (queued) n++;
  }
  return n;
}

async function claim(db: Db, now: Date): Promise<string | null> {
  const iso = now.toISOString();
  const until = new Date(now.getTime() + LEASE_MS).toISOString();
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "SimilarityRun" SET status = 'running', "lockedUntil" = ${until}::timestamp(3), attempts = attempts + 1
    WHERE id = (
      SELECT id FROM "SimilarityRun"
      WHERE status = 'queued' OR (status = 'running' AND "lockedUntil" < ${iso}::timestamp(3))
      ORDER BY "createdAt" ASC LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id::text AS id`;
  return rows[0]?.id ?? null;
}

/** Runs one check: the latest submission of each student (not cancelled), starter files ignored. */
export async function runSimilarity(db: Db, runId: string, logger?: Logger): Promise<void> {
  const run = await db.similarityRun.findUniqueOrThrow({ where: { id: runId }, include: { assignment: true } });
  if (run.attempts > MAX_ATTEMPTS) {
    await db.similarityRun.update({ where: { id: runId }, data: { status: 'error', error: `gave up after ${MAX_ATTEMPTS} attempts`, finishedAt: new Date(), lockedUntil: null } });
    return;
  }
  try {
    const latest = await db.$queryRaw<{ id: string }[]>`
      SELECT DISTINCT ON (s."userId") s.id::text AS id FROM "Submission" s
      JOIN "Membership" m ON m."userId" = s."userId" AND m."courseId" = ${run.assignment.courseId}::uuid AND m.role = 'student'
      WHERE s."assignmentId" = ${run.assignmentId}::uuid AND s.status <> 'cancelled'
      ORDER BY s."userId", s."createdAt" DESC, s.id DESC`;
    const subs = await db.submission.findMany({ where: { id: { in: latest.map((r) => r.id) } }, include: { files: { include: { blob: true } } } });
    const students: StudentCode[] = subs.map((s) => ({
      key: s.id,
      files: s.files.map((f) => ({ name: f.name, content: Buffer.from(f.blob.content).toString('utf8') })),
    }));
    const { version } = await pinnedVersion(db, run.assignment).catch(() => ({ version: null }));
    const starterFiles = (version?.starterFiles as { name: string; content: string }[] | undefined) ?? [];
    const pairs = await similarPairs(students, { threshold: run.threshold, starterFiles });
    await db.$transaction([
      db.similarityPair.deleteMany({ where: { runId } }),
      db.similarityPair.createMany({
        data: pairs.map((p) => ({
          runId,
          leftSubmissionId: p.left,
          rightSubmissionId: p.right,
          similarity: p.similarity,
          longest: p.longest,
          overlap: p.overlap,
          fragments: p.fragments as unknown as Prisma.InputJsonValue,
        })),
      }),
      db.similarityRun.update({ where: { id: runId }, data: { status: 'done', students: students.length, finishedAt: new Date(), lockedUntil: null, error: null } }),
    ]);
    logger?.info({ runId, assignmentId: run.assignmentId, students: students.length, pairs: pairs.length }, 'similarity check done');
  } catch (err) {
    const last = run.attempts >= MAX_ATTEMPTS;
    logger?.error({ err, runId }, 'similarity check failed');
    await db.similarityRun.update({
      where: { id: runId },
      data: last ? { status: 'error', error: String((err as Error).message ?? err).slice(0, 1000), finishedAt: new Date(), lockedUntil: null } : { status: 'queued', lockedUntil: null },
    });
  }
}

/** The loop: every pollMs, queue due checks and run the queued ones (one at a time per worker). */
export function startSimilarityLoop(opts: { db: Db; logger: Logger; pollMs: number }): { stop(): Promise<void>; runOnce(): Promise<number> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const runOnce = async () => {
    await queueDueSimilarityRuns(opts.db);
    let n = 0;
    for (let id = await claim(opts.db, new Date()); id && !stopped; id = await claim(opts.db, new Date())) {
      await runSimilarity(opts.db, id, opts.logger);
      n++;
    }
    return n;
  };
  const loop = () => {
    if (stopped) return;
    running = runOnce()
      .catch((err) => opts.logger.error({ err }, 'similarity loop failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.pollMs);
      });
  };
  if (opts.pollMs > 0) loop();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
