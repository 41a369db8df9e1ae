#!/usr/bin/env node
// Measures the grading service on loopback, bounded in time and count:
//  1. the submission accept rate of the API and its latency (autocannon: POST multipart uploads
//     for --duration seconds over --connections connections; each accepted request is a real
//     committed submission + enqueued job);
//  2. the time a burst of --burst submissions (msgbuf's --solution, the reference by default)
//     takes to drain with --workers concurrent gradings (default: the worker's, one per core; the
//     host's VM slots bound the VMs, so the rest build their module meanwhile). By default with
//     the real engine (sandboxed build, the sanitizer kernel under QEMU: ~6-12 s per grading
//     under TCG), so the default burst is small (4). A buggy --solution (buggy-race-realloc)
//     shows whether a loaded host still catches it: the verdicts are counted.
//     `--grader fake` swaps in bench/support/fake-grader.mjs (no build, no VM; default burst 50):
//     that drain measures only the service's queue overhead, NOT grading, and the report says so.
// Uses its own database (kgrader_bench) and Redis key prefix; prints a JSON report on stdout.
//   node bench/api-accept.mjs [--duration 10] [--connections 10] [--burst 4] [--workers 2]
//                             [--grader engine|fake] [--fake-ms 200] [--solution reference]
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { pino } from 'pino';
import { shippedExercisesDir } from '@kgrader/exercises';
import { buildApp, folderCatalog, EventHub, issueToken, seedShippedExercises } from '@kgrader/api';
import { createDb, createGradingQueue, createRedis, migrate } from '@kgrader/db';
import { loadExercise, locateKernel } from '@kgrader/engine';
import { cacheDirOf, engineConfigFromEnv, engineGrader, runWorker, WorkerEnv } from '@kgrader/worker';
import { fakeGrader } from './support/fake-grader.mjs';

const { values: o } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    burst: { type: 'string' },
    workers: { type: 'string', default: String(availableParallelism()) },
    grader: { type: 'string', default: 'engine' },
    'fake-ms': { type: 'string', default: '200' },
    /** the msgbuf solution submitted in the burst (its msgbuf.c), e.g. buggy-race-realloc: does the burst still catch it? */
    solution: { type: 'string', default: 'reference' },
  },
});
if (o.grader !== 'engine' && o.grader !== 'fake') throw new Error(`--grader engine|fake, not ${o.grader}`);
const fake = o.grader === 'fake';
const FAKE_NOTE = 'fake grader (no build, no VM): the drain measures the queue and service overhead only, not grading';
const duration = Math.min(60, Number(o.duration));
const connections = Math.min(100, Number(o.connections));
const burst = Math.min(500, Number(o.burst ?? (fake ? 50 : 4)));
const workers = Math.max(1, Number(o.workers));
const PG = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const log = (...a) => console.error('[bench]', ...a);
const workerEnv = WorkerEnv.parse(process.env);
if (!fake) {
  // fail before touching anything when the engine cannot grade here
  await locateKernel(cacheDirOf(workerEnv)).catch((err) => {
    console.error(`[bench] the real engine needs the grading kernel (npm run setup): ${err.message}`);
    process.exit(2);
  });
}
if (fake) log(`NOTE: ${FAKE_NOTE}`);

// ---- fresh database and prefix ------------------------------------------------------------------
const admin = new pg.Client({ connectionString: `${PG}/postgres` });
await admin.connect();
await admin.query('DROP DATABASE IF EXISTS kgrader_bench WITH (FORCE)');
await admin.query('CREATE DATABASE kgrader_bench');
await admin.end();
const dbUrl = `${PG}/kgrader_bench`;
await migrate({ databaseUrl: dbUrl });
const prefix = `kgb-${process.pid}`;
const db = createDb({ databaseUrl: dbUrl, poolMax: 10 });
await seedShippedExercises(db, { exercisesDir: shippedExercisesDir }); // as the API does at start: assignments pin a published exercise version
const redis = createRedis(REDIS_URL);
const queue = createGradingQueue(redis, prefix);
const events = new EventHub(createRedis(REDIS_URL));
const config = { publicUrl: 'http://127.0.0.1', exercisesDir: shippedExercisesDir, retry: { attempts: 3, backoffMs: 1000 }, duplicateWindowSeconds: 0 /* the same body is posted again and again: each one a real submission */, redisDeadlineMs: 300, sseMaxSeconds: 60, logLevel: 'silent' };
const app = await buildApp({ deps: { db, redis, queue, events, catalog: folderCatalog(config.exercisesDir), config }, logger: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${app.server.address().port}`;

const course = await db.course.create({ data: { code: 'bench', title: 'bench' } });
const assignment = await db.assignment.create({
  data: { courseId: course.id, exerciseSlug: 'msgbuf', title: 'bench', rateLimitCount: 0, supersedeQueued: false },
});
// many students, as in a real course: one student's submissions are serialised by design
const tokens = [];
for (let i = 0; i < Math.max(connections, 20); i++) {
  const user = await db.user.create({ data: { email: `bench${i}@bench.test`, name: `bench ${i}` } });
  await db.membership.create({ data: { userId: user.id, courseId: course.id, role: 'student' } });
  tokens.push((await issueToken(db, { userId: user.id, name: 'bench', scope: 'submit', courseId: course.id, issuedById: null })).token);
}
const token = tokens[0];

const source = !fake
  ? await readFile(new URL(`../exercises/msgbuf/solutions/${o.solution}/msgbuf.c`, import.meta.url), 'utf8')
  : `// FAKE_SLEEP_MS=${Number(o['fake-ms'])}\nint x;\n`;
const boundary = '----kgraderbench';
const body = Buffer.from(
  `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="msgbuf.c"\r\nContent-Type: text/x-c\r\n\r\n${source}\r\n--${boundary}--\r\n`,
);
const url = `${base}/api/v1/assignments/${assignment.id}/submissions`;
const headers = { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` };

// ---- 1. accept rate ---------------------------------------------------------------------------------
log(`accept: ${duration}s, ${connections} connections against ${url}`);
let turn = 0;
const ac = await autocannon({
  url,
  method: 'POST',
  headers,
  body,
  connections,
  duration,
  timeout: 10,
  setupClient: (client) => {
    const t = tokens[turn++ % tokens.length];
    client.setHeaders({ ...headers, authorization: `Bearer ${t}` });
  },
});
const accepted = await db.submission.count();
const accept = {
  durationSeconds: duration,
  connections,
  requests: ac.requests.total,
  accepted,
  non2xx: ac.non2xx,
  errors: ac.errors,
  requestsPerSecond: Math.round(ac.requests.average),
  latencyMs: { p50: ac.latency.p50, p90: ac.latency.p90, p99: ac.latency.p99, max: ac.latency.max },
};
log('accept', JSON.stringify(accept));
// those were for the accept rate only: drop their jobs before the drain burst
await queue.obliterate({ force: true });
await db.submission.updateMany({ data: { status: 'cancelled' } });

// ---- 2. burst drain -----------------------------------------------------------------------------------
const grader = fake ? fakeGrader((slug) => loadExercise(slug, shippedExercisesDir)) : engineGrader(engineConfigFromEnv(workerEnv));
const t0 = Date.now();
const ids = await Promise.all(
  Array.from({ length: burst }, async (_, i) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${tokens[i % tokens.length]}` },
      body: body.toString().replace('int x;', `int x${i};`),
    });
    if (res.status !== 202) throw new Error(`burst submit: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()).id;
  }),
);
const submittedMs = Date.now() - t0;
log(`burst: ${burst} submitted in ${submittedMs} ms; draining with ${workers} concurrent gradings (${o.grader} grader)`);
const w = await runWorker({
  config: {
    databaseUrl: dbUrl,
    redisUrl: REDIS_URL,
    queuePrefix: prefix,
    concurrency: workers,
    workerId: 'bench',
    retry: { attempts: 3, backoffMs: 1000 },
    lockMs: 60_000,
    stalledIntervalMs: 60_000,
    shutdownGraceMs: 1000,
    reconcile: { intervalMs: 0, queuedGraceSeconds: 30 },
    heartbeat: { intervalMs: 10_000, staleSeconds: 45 },
  },
  grader,
  logger: pino({ level: 'warn' }),
});
const limitMs = (fake ? 600 : 4 * 3600) * 1000;
for (;;) {
  const left = await db.submission.count({ where: { id: { in: ids }, status: { notIn: ['done', 'error', 'cancelled'] } } });
  if (left === 0) break;
  if (Date.now() - t0 > limitMs) throw new Error(`drain did not finish within ${limitMs / 1000}s`);
  await new Promise((r) => setTimeout(r, 100));
}
const drainMs = Date.now() - t0;
const verdicts = await db.submission.groupBy({ by: ['verdict'], where: { id: { in: ids } }, _count: { _all: true } });
const runs = await db.gradingRun.findMany({ where: { submissionId: { in: ids }, finishedAt: { not: null } }, select: { startedAt: true, finishedAt: true } });
const gradeSeconds = runs.map((r) => (r.finishedAt.getTime() - r.startedAt.getTime()) / 1000).sort((x, y) => x - y);
const round1 = (n) => Math.round(n * 10) / 10;
// which tests caught a buggy --solution (each submission's current run)
const current = await db.submission.findMany({ where: { id: { in: ids } }, select: { currentRunId: true } });
const notPassing = await db.testResult.groupBy({ by: ['name'], where: { runId: { in: current.map((c) => c.currentRunId).filter(Boolean) }, status: { not: 'pass' } }, _count: { _all: true } });
const drain = {
  burst,
  concurrency: workers,
  grader: o.grader,
  ...(fake ? {} : { solution: `msgbuf/${o.solution}` }),
  measures: fake ? FAKE_NOTE : 'real gradings: sandboxed build + sanitizer kernel under QEMU + analysis',
  ...(fake ? { fakeGradeMs: Number(o['fake-ms']) } : {}),
  submitMs: submittedMs,
  drainMs,
  perSubmissionMs: Math.round(drainMs / burst),
  throughputPerMinute: Math.round((burst / drainMs) * 60_000),
  verdicts: Object.fromEntries(verdicts.map((v) => [v.verdict ?? 'none', v._count._all])),
  testsNotPassing: Object.fromEntries(notPassing.map((t) => [t.name, t._count._all])),
  runs: runs.length,
  gradeSeconds: gradeSeconds.length
    ? { min: round1(gradeSeconds[0]), mean: round1(gradeSeconds.reduce((x, y) => x + y, 0) / gradeSeconds.length), max: round1(gradeSeconds.at(-1)) }
    : null,
};
log('drain', JSON.stringify(drain));

await w.shutdown();
await events.close();
await app.close();
await queue.obliterate({ force: true }).catch(() => {});
await queue.close();
redis.disconnect();
await db.$disconnect();
console.log(JSON.stringify({ accept, drain }, null, 2));
