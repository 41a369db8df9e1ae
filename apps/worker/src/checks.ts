// Solution checks of an exercise version being published (issue 12): grade one solution of the
// version with the real engine against the version's own spec (and, for a hostile solution, again
// with the policy widened), judge it with the one expectation check of @kgrader/expectations, and
// decide the version once its last check is in. Jobs come through the grading queue's low-priority
// lane, so publishing never delays a student's grading.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pid } from 'node:process';
import { decideVersion, SolutionCheckJobData, type Db, type Prisma } from '@kgrader/db';
import { expectationProblems, variantProblems, variantSpec } from '@kgrader/expectations';
import { ExerciseSpec, SolutionDraft, type GradeResult } from '@kgrader/schemas';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.js';
import type { Grader } from './grader.js';
import { InfrastructureError, ShutdownAbort } from './processor.js';

export type CheckOutcome = 'passed' | 'failed' | 'error' | 'stale' | 'missing';

const brief = (r: GradeResult) => ({
  verdict: r.verdict,
  score: r.score,
  maxScore: r.maxScore,
  summary: r.summary,
  tests: r.tests.map((t) => ({ name: t.name, status: t.status })),
  findings: r.findings.map((f) => ({ kind: f.kind, title: f.title, ...(f.test ? { test: f.test } : {}) })),
});

export function createCheckProcessor(deps: { db: Db; grader: Grader; config: WorkerConfig; logger: Logger }, signals: { register(jobId: string, c: AbortController): () => void }) {
  const { db, grader, config, logger } = deps;
  return async function processCheck(job: Job<SolutionCheckJobData>): Promise<CheckOutcome> {
    const { checkId } = SolutionCheckJobData.parse(job.data);
    const log = logger.child({ jobId: job.id, checkId });
    const claimed = await db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM "SolutionCheck" WHERE id = ${checkId}::uuid FOR UPDATE`;
      const c = await tx.solutionCheck.findUnique({ where: { id: checkId }, include: { version: true } });
      if (!c) return null;
      if (c.status !== 'queued' && c.status !== 'running') return { stale: true as const };
      const row = await tx.solutionCheck.update({
        where: { id: checkId },
        data: { status: 'running', attempts: { increment: 1 }, workerId: config.workerId, heartbeatAt: new Date() },
      });
      return { stale: false as const, check: row, version: c.version };
    });
    if (!claimed) return 'missing';
    if (claimed.stale) return 'stale';
    const { check, version } = claimed;
    const spec = ExerciseSpec.parse(version.spec);
    const solution = (version.solutions as unknown[]).map((s) => SolutionDraft.parse(s)).find((s) => s.name === check.name);

    const controller = new AbortController();
    const unregister = signals.register(String(job.id), controller);
    const heartbeat = setInterval(() => {
      db.solutionCheck.updateMany({ where: { id: checkId, status: 'running' }, data: { heartbeatAt: new Date() } }).catch(() => {});
    }, config.heartbeat.intervalMs);
    heartbeat.unref();
    const grade = async (exercise: ExerciseSpec): Promise<GradeResult> => {
      const dir = await mkdtemp(join(tmpdir(), `kgrader-sub-${pid}-`));
      try {
        for (const f of solution!.files) await writeFile(join(dir, f.name), f.content);
        return await grader.grade({ exercise, sourceDir: dir, onProgress: () => {}, signal: controller.signal });
      } finally {
        await rm(dir, { recursive: true, force: true }).catch(() => {});
      }
    };
    let problems: string[] = [];
    let results: GradeResult[] = [];
    let infra: string | null = null;
    try {
      if (!solution) throw new InfrastructureError(`solution ${check.name} is not in version ${version.version}`);
      const first = await grade(spec);
      results = [first];
      if (first.verdict === 'error') infra = first.infrastructureError ?? first.summary;
      else {
        const sources = solution.files.map((f) => f.name);
        problems = expectationProblems(first, solution.expectation, sources);
        for (const variant of solution.expectation.variants) {
          if (infra !== null) break;
          const again = await grade(variantSpec(spec, variant));
          results.push(again);
          if (again.verdict === 'error') infra = again.infrastructureError ?? again.summary;
          else problems.push(...variantProblems(again, variant));
        }
      }
    } catch (err) {
      if (controller.signal.aborted && controller.signal.reason instanceof ShutdownAbort) {
        await db.solutionCheck.updateMany({ where: { id: checkId, status: 'running' }, data: { status: 'queued', attempts: { decrement: 1 } } });
        throw err; // handed back; the reconciler or bullmq runs it again
      }
      infra = (err as Error).message ?? String(err);
    } finally {
      clearInterval(heartbeat);
      unregister();
    }

    if (infra !== null) {
      const last = check.attempts >= config.retry.attempts;
      log.warn({ why: infra, attempt: check.attempts, last }, 'solution check: infrastructure error');
      await db.solutionCheck.update({
        where: { id: checkId },
        data: last
          ? { status: 'error', problems: [`kgrader could not grade this solution (${check.attempts} attempts): ${infra}`], finishedAt: new Date(), result: results.map(brief) as unknown as Prisma.InputJsonValue }
          : { status: 'queued' },
      });
      if (!last) throw new InfrastructureError(infra); // bullmq retries with backoff
      await decideVersion(db, version.id);
      return 'error';
    }
    const passed = problems.length === 0;
    const first = results[0]!;
    await db.solutionCheck.update({
      where: { id: checkId },
      data: {
        status: passed ? 'passed' : 'failed',
        problems,
        verdict: first.verdict,
        summary: first.summary,
        result: results.map(brief) as unknown as Prisma.InputJsonValue,
        finishedAt: new Date(),
      },
    });
    const decided = await decideVersion(db, version.id);
    log.info({ solution: check.name, passed, problems, decided }, 'solution checked');
    return passed ? 'passed' : 'failed';
  };
}
