#!/usr/bin/env node
// The scale test of the Docker deployment (issue 11), run by hand and by CI where a Docker engine
// answers:   node test/docker/scale.mjs [--burst 30] [--workers 3] [--public-bases] [--keep]
//
// docker-compose.yml as shipped, with only what this machine needs changed (a generated copy):
// host networking on loopback-only ports (nothing leaves 127.0.0.1), the host's already-built
// kernel cache mounted read-only (the prepare step must find it and skip: no kernel is rebuilt),
// N worker services with 1 VM slot each. Then a burst of submissions (the shipped reference and
// off-by-one msgbuf drivers, one per student), one worker container SIGKILLed while it grades
// and another restarted (SIGTERM, the graceful path) while it grades. It checks that every
// submission gets exactly one verdict, the right one, none lost; that the host's VM budget (the
// slot files in the shared cache volume) is never exceeded, sampling every QEMU process of the
// containers; that every run records the same kernel key. Prints the figures as JSON (and writes
// them to artifacts/). Holds /tmp/kgrader-vm.lock for the whole run (it boots VMs).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: {
    burst: { type: 'string', default: '30' },
    workers: { type: 'string', default: '3' },
    'public-bases': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'timeout-min': { type: 'string', default: '90' },
  },
});
const BURST = Number(args.burst);
const WORKERS = Number(args.workers);
const PROJECT = 'kgrader-scale';
const PG_PORT = 55432;
const REDIS_PORT = 56379;
const API_PORT = 58080;
const WORKER_PORT = 59464;
const DB_URL = `postgresql://kgrader:kgrader@127.0.0.1:${PG_PORT}/kgrader`;

// ---- one VM-running job at a time on this machine -----------------------------------------------
// (--burst 0: up, health, down; with KGRADER_ACCEL=tcg no VM runs at all: no probe, no grading)
if (BURST === 0) process.env.KGRADER_ACCEL ??= 'tcg';
if (!process.env.KGRADER_SCALE_LOCKED && BURST > 0) {
  const r = spawnSync('flock', ['/tmp/kgrader-vm.lock', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, KGRADER_SCALE_LOCKED: '1' },
  });
  process.exit(r.status ?? 1);
}

const t0 = Date.now();
const log = (msg) => process.stderr.write(`[scale ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${msg}\n`);
const sh = (cmd, argv, opts = {}) => {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return r;
};
const must = (cmd, argv, opts = {}) => {
  const r = sh(cmd, argv, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${String(r.stderr || r.stdout || '').slice(-2000)}`);
  return r.stdout;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- preconditions ------------------------------------------------------------------------------
const server = sh('docker', ['version', '--format', '{{.Server.Version}}']);
if (server.status !== 0) {
  console.error('scale: skipped: no Docker engine answers (start dockerd)');
  process.exit(0);
}
const compose = sh('docker', ['compose', 'version']).status === 0 ? ['docker', 'compose'] : sh('docker-compose', ['version']).status === 0 ? ['docker-compose'] : null;
if (!compose) {
  console.error('scale: skipped: neither `docker compose` nor docker-compose is installed');
  process.exit(0);
}
const hostCache = process.env.KGRADER_CACHE_DIR ?? `${process.env.XDG_CACHE_HOME ?? `${homedir()}/.cache`}/kgrader`;
const kernelDir = must('bash', [join(repo, 'packages/kernel/scripts/build-kernel.sh'), '--flavor', 'kasan', '--print-dir'], { env: { ...process.env, KGRADER_CACHE_DIR: hostCache } }).trim();
if (!existsSync(join(kernelDir, 'kernel.json'))) {
  console.error(`scale: the grading kernel is not built on this host (${kernelDir}): run npm run setup first (the test mounts it, it never builds one)`);
  process.exit(1);
}
const kcsanDir = must('bash', [join(repo, 'packages/kernel/scripts/build-kernel.sh'), '--flavor', 'kcsan', '--print-dir'], { env: { ...process.env, KGRADER_CACHE_DIR: hostCache } }).trim();
const flavors = existsSync(join(kcsanDir, 'kernel.json')) ? 'kasan kcsan' : 'kasan';
// the host's VM budget, as the engine computes it (packages/vm hostVmSlots: 2 vCPUs, 512 MiB)
const vmSlots = Math.max(1, Math.min(Math.floor(availableParallelism() / 2), Math.floor((totalmem() / 1024 / 1024) * 0.8 / (512 + 256))));

// ---- images ---------------------------------------------------------------------------------------
const figures = { burst: BURST, workers: WORKERS, vmSlotsPerHost: vmSlots, workerConcurrency: 1, compose: compose.join(' '), dockerServer: server.stdout.trim() };
const bases = {};
if (!args['public-bases']) {
  const started = Date.now();
  for (const line of must('bash', [join(repo, 'test/docker/local-bases/build.sh')], { stdio: ['ignore', 'pipe', 'inherit'] }).split('\n')) {
    const m = /^(\w+)=(.+)$/.exec(line.trim());
    if (m) bases[m[1]] = m[2];
  }
  figures.localBasesSeconds = Math.round((Date.now() - started) / 1000);
}
const composeEnv = { ...process.env, ...bases, BUILD_NETWORK: 'host', COMPOSE_PROJECT_NAME: PROJECT };

// ---- the compose file: docker-compose.yml with this machine's changes -------------------------------
const { parse } = await import('yaml');
const base = parse(readFileSync(join(repo, 'docker-compose.yml'), 'utf8'), { merge: true });
const services = base.services;
const appEnv = { DATABASE_URL: DB_URL, REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}` };
const kernelMount = `${join(hostCache, 'kernel')}:/cache/kernel:ro`;
for (const s of Object.values(services)) {
  s.network_mode = 'host';
  delete s.ports;
  if (s.security_opt) s.security_opt = s.security_opt.map((o) => o.replace(/^seccomp:\.\//, `seccomp:${repo}/`));
  if (s.build) s.build = { ...s.build, context: repo };
}
services.postgres.environment = { ...services.postgres.environment, PGPORT: String(PG_PORT) };
services.postgres.command = ['postgres', '-c', 'listen_addresses=127.0.0.1'];
services.postgres.healthcheck = { ...services.postgres.healthcheck, test: ['CMD', 'pg_isready', '-h', '127.0.0.1', '-p', String(PG_PORT), '-U', 'kgrader'] };
services.redis.command = ['redis-server', '--bind', '127.0.0.1', '--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no'];
services.redis.healthcheck = { ...services.redis.healthcheck, test: ['CMD', 'redis-cli', '-p', String(REDIS_PORT), 'ping'] };
services.prepare.environment = { ...services.prepare.environment, ...appEnv, KGRADER_KERNEL_FLAVORS: flavors };
services.prepare.volumes = [...services.prepare.volumes, kernelMount];
for (const name of ['api', 'worker']) delete services[name].build; // one image, built once (prepare's)
services.api.environment = { ...services.api.environment, ...appEnv, HOST: '127.0.0.1', PORT: String(API_PORT), PUBLIC_URL: `http://127.0.0.1:${API_PORT}` };
const worker = services.worker;
delete services.worker;
for (let i = 1; i <= WORKERS; i++) {
  services[`worker-${i}`] = {
    ...structuredClone(worker),
    environment: { ...worker.environment, ...appEnv, WORKER_ID: `worker-${i}`, WORKER_CONCURRENCY: '1', WORKER_HTTP_HOST: '127.0.0.1', WORKER_HTTP_PORT: String(WORKER_PORT + i - 1) },
    volumes: [...worker.volumes, kernelMount],
  };
}
const composeFile = join(tmpdir(), `${PROJECT}-compose.json`);
writeFileSync(composeFile, JSON.stringify(base, null, 1));
const dc = (...argv) => [...compose.slice(1), '-f', composeFile, '--project-directory', repo, '-p', PROJECT, ...argv];
const composeRun = (argv, opts = {}) => must(compose[0], dc(...argv), { env: composeEnv, ...opts });

// a previous run's leftovers
sh(compose[0], dc('down', '-v', '--remove-orphans'), { env: composeEnv });

log(`building the image (${compose.join(' ')} build; cached layers are reused)`);
let started = Date.now();
composeRun(['build', 'prepare'], { stdio: ['ignore', 'ignore', 'inherit'] });
figures.imageBuildSeconds = Math.round((Date.now() - started) / 1000);
const image = services.prepare.image.replace(/^\$\{KGRADER_IMAGE:-(.+)\}$/, '$1');
const imageKernel = must('docker', ['run', '--rm', '--network', 'none', '-e', 'KGRADER_CACHE_DIR=/cache', '--entrypoint', 'bash', image, 'packages/kernel/scripts/build-kernel.sh', '--flavor', 'kasan', '--print-dir']).trim();
if (basename(imageKernel) !== basename(kernelDir)) {
  console.error(`scale: the image's kernel key ${basename(imageKernel)} is not the host's ${basename(kernelDir)} (another linux-source-6.1?): refusing to let prepare build one`);
  process.exit(1);
}
figures.kernelKey = basename(kernelDir);

// ---- up ---------------------------------------------------------------------------------------------
log('docker compose up');
started = Date.now();
composeRun(['up', '-d'], { stdio: ['ignore', 'ignore', 'inherit'] });
const containerOf = (service) => must(compose[0], dc('ps', '-q', service), { env: composeEnv }).trim();
const waitHttp = async (what, url, timeoutMs) => {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.ok) return r.json();
      last = `${r.status} ${await r.text()}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(1000);
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000}s: ${last}`);
};
const prepareLog = must(compose[0], dc('logs', '--no-color', 'prepare'), { env: composeEnv });
await waitHttp('the API', `http://127.0.0.1:${API_PORT}/readyz`, 300_000);
const healths = [];
for (let i = 1; i <= WORKERS; i++) healths.push(await waitHttp(`worker-${i}`, `http://127.0.0.1:${WORKER_PORT + i - 1}/healthz`, 600_000));
figures.upToReadySeconds = Math.round((Date.now() - started) / 1000);
figures.prepareSkippedKernelBuild = /build-kernel: cached kernel/.test(prepareLog) && !/compiling with/.test(prepareLog);
figures.accelerator = healths[0].checks.find((c) => c.name === 'accelerator')?.detail;
figures.sandboxCheck = healths[0].checks.find((c) => c.name === 'bubblewrap sandbox')?.detail;
log(`up: API ready, ${WORKERS} workers healthy (${figures.accelerator}); prepare ${figures.prepareSkippedKernelBuild ? 'found the kernel and skipped the build' : 'DID NOT skip'}`);

if (BURST === 0) {
  console.log(JSON.stringify({ ...figures, healths }, null, 2));
  if (!args.keep) sh(compose[0], dc('down', '-v', '--remove-orphans'), { env: composeEnv, stdio: 'ignore' });
  process.exit(healths.every((h) => h.ready) ? 0 : 1);
}

// ---- seed: a course, an assignment, one student per submission --------------------------------------
const { createDb } = await import('@kgrader/db');
const { issueToken } = await import('@kgrader/api');
const db = createDb({ databaseUrl: DB_URL, poolMax: 4 });
const course = await db.course.create({ data: { code: `scale-${Date.now()}`, title: 'Scale test' } });
const assignment = await db.assignment.create({ data: { courseId: course.id, exerciseSlug: 'msgbuf', title: 'msgbuf (scale test)', maxPoints: 100, rateLimitCount: 100 } });
const students = [];
for (let i = 0; i < BURST; i++) {
  const u = await db.user.create({ data: { email: `scale-${course.id.slice(0, 8)}-${i}@scale.test`, name: `student ${i}` } });
  await db.membership.create({ data: { userId: u.id, courseId: course.id, role: 'student' } });
  students.push((await issueToken(db, { userId: u.id, name: 'scale', scope: 'submit', courseId: course.id, issuedById: null })).token);
}
const reference = readFileSync(join(repo, 'exercises/msgbuf/solutions/reference/msgbuf.c'), 'utf8');
const buggy = readFileSync(join(repo, 'exercises/msgbuf/solutions/buggy-off-by-one-read/msgbuf.c'), 'utf8');

// ---- sampling: QEMU processes of the project's containers (from /proc), submission states ---------------
const containers = Object.fromEntries(Object.keys(services).filter((s) => s.startsWith('worker-')).map((s) => [s, containerOf(s)]));
const qemuByContainer = () => {
  const counts = {};
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      // a VM (not `qemu-system-x86_64 --version`, which the doctor and the snapshot key run)
      if (!cmd[0]?.endsWith('qemu-system-x86_64') || !cmd.includes('-kernel')) continue;
      const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      for (const [svc, id] of Object.entries(containers)) if (id && cg.includes(id)) counts[svc] = (counts[svc] ?? 0) + 1;
    } catch {
      /* gone */
    }
  }
  return counts;
};
let maxQemu = 0;
let maxQemuPerWorker = 0;
let samples = 0;
const sampler = setInterval(() => {
  const c = qemuByContainer();
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  maxQemu = Math.max(maxQemu, total);
  maxQemuPerWorker = Math.max(maxQemuPerWorker, ...Object.values(c), 0);
  samples++;
}, 500);

// ---- the burst ----------------------------------------------------------------------------------------
log(`burst: ${BURST} submissions`);
const burstStart = Date.now();
const expected = new Map();
const accepted = await Promise.all(
  students.map(async (token, i) => {
    const kind = i % 3 === 2 ? 'buggy' : 'reference';
    const fd = new FormData();
    // a comment makes each file distinct (no duplicate detection across students anyway)
    fd.append('files', new Blob([`${kind === 'buggy' ? buggy : reference}\n/* scale test submission ${i} */\n`]), 'msgbuf.c');
    const r = await fetch(`http://127.0.0.1:${API_PORT}/api/v1/assignments/${assignment.id}/submissions`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
    const body = await r.json();
    if (r.status !== 202) throw new Error(`submission ${i}: HTTP ${r.status} ${JSON.stringify(body)}`);
    expected.set(body.id, kind === 'buggy' ? 'fail' : 'pass');
    return body.id;
  }),
);
figures.acceptSeconds = Math.round((Date.now() - burstStart) / 100) / 10;

// ---- kill one worker while it grades, restart another while it grades --------------------------------
const running = async (exceptWorker) => {
  const rows = await db.$queryRawUnsafe(
    `SELECT s.id, r."workerId" FROM "Submission" s JOIN "GradingRun" r ON r.id = s."currentRunId" WHERE s."assignmentId" = $1::uuid AND s.status = 'running' AND r.status = 'running'`,
    assignment.id,
  );
  return rows.find((r) => r.workerId !== exceptWorker && containers[r.workerId]);
};
const events = [];
const deadline = Date.now() + Number(args['timeout-min']) * 60_000;
let killed;
let restarted;
let restartDone;
let lastStatus = '';
for (;;) {
  if (Date.now() > deadline) throw new Error(`not drained after ${args['timeout-min']} min`);
  if (!killed) {
    const r = await running();
    if (r) {
      killed = { worker: r.workerId, submissionId: r.id, at: (Date.now() - burstStart) / 1000 };
      must('docker', ['update', '--restart=no', containers[r.workerId]]); // it stays dead
      must('docker', ['kill', '--signal', 'KILL', containers[r.workerId]]);
      events.push(`${killed.at.toFixed(0)}s: SIGKILL ${r.workerId} while it graded ${r.id}`);
      log(events.at(-1));
    }
  } else if (!restarted) {
    const r = await running(killed.worker);
    if (r) {
      restarted = { worker: r.workerId, submissionId: r.id, at: (Date.now() - burstStart) / 1000 };
      events.push(`${restarted.at.toFixed(0)}s: docker restart ${r.workerId} (SIGTERM) while it graded ${r.id}`);
      log(events.at(-1));
      const p = spawn('docker', ['restart', '-t', '90', containers[r.workerId]], { stdio: 'ignore' });
      restartDone = new Promise((res) => p.on('exit', () => res((Date.now() - burstStart) / 1000)));
    }
  }
  const rows = await db.$queryRawUnsafe(`SELECT status::text, count(*)::int AS n FROM "Submission" WHERE "assignmentId" = $1::uuid GROUP BY status`, assignment.id);
  const by = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  const status = JSON.stringify(by);
  if (status !== lastStatus) {
    log(`submissions: ${status}; QEMU now ${JSON.stringify(qemuByContainer())}, max ${maxQemu}`);
    lastStatus = status;
  }
  if ((by.done ?? 0) + (by.error ?? 0) + (by.cancelled ?? 0) >= BURST) break;
  await sleep(2000);
}
const drainSeconds = (Date.now() - burstStart) / 1000;
clearInterval(sampler);
if (restartDone) restarted.back = await restartDone;

// ---- checks ---------------------------------------------------------------------------------------------
const problems = [];
const subs = await db.submission.findMany({ where: { assignmentId: assignment.id }, include: { runs: true } });
const verdictEvents = await db.$queryRawUnsafe(
  `SELECT e."submissionId"::text AS id, count(*)::int AS n FROM "SubmissionEvent" e JOIN "Submission" s ON s.id = e."submissionId" WHERE s."assignmentId" = $1::uuid AND e.type = 'verdict' GROUP BY 1`,
  assignment.id,
);
const verdictCount = new Map(verdictEvents.map((r) => [r.id, r.n]));
const wrong = [];
for (const s of subs) {
  const finished = s.runs.filter((r) => r.status === 'finished');
  if (s.status !== 'done') problems.push(`${s.id}: status ${s.status} (${s.summary})`);
  if (finished.length !== 1) problems.push(`${s.id}: ${finished.length} finished runs`);
  if ((verdictCount.get(s.id) ?? 0) !== 1) problems.push(`${s.id}: ${verdictCount.get(s.id) ?? 0} verdict events`);
  if (s.verdict !== expected.get(s.id)) wrong.push(`${s.id}: ${s.verdict}, expected ${expected.get(s.id)} (${s.summary})`);
  for (const r of finished) if (r.kernelKey !== figures.kernelKey) problems.push(`${s.id}: graded on ${r.kernelKey}`);
}
if (subs.length !== BURST || accepted.length !== BURST) problems.push(`${subs.length} submissions stored, ${accepted.length} accepted, ${BURST} sent`);
if (wrong.length) problems.push(...wrong);
if (maxQemu > vmSlots) problems.push(`${maxQemu} QEMU processes at once across the workers; the host's budget is ${vmSlots}`);
if (maxQemuPerWorker > 1) problems.push(`a worker ran ${maxQemuPerWorker} VMs at once with WORKER_CONCURRENCY=1`);
const killedSub = killed && subs.find((s) => s.id === killed.submissionId);
if (!killed) problems.push('no worker was killed (no grading seen running)');
if (!restarted) problems.push('no worker was restarted (no grading seen running on a survivor)');
const runsOf = (s) => s?.runs.map((r) => `${r.workerId}:${r.status}${r.infrastructureError ? ` (${r.infrastructureError})` : ''}`);

const finishedRuns = subs.flatMap((s) => s.runs.filter((r) => r.status === 'finished'));
const totals = finishedRuns.map((r) => r.timings?.total).filter((t) => typeof t === 'number').sort((a, b) => a - b);
const q = (p) => totals[Math.min(totals.length - 1, Math.floor(p * totals.length))];
const metrics = {};
for (let i = 1; i <= WORKERS; i++) {
  try {
    const text = await (await fetch(`http://127.0.0.1:${WORKER_PORT + i - 1}/metrics`)).text();
    metrics[`worker-${i}`] = Object.fromEntries([...text.matchAll(/^kgrader_worker_(jobs_total|vm_starts_total|verdicts_total)\{([^}]*)\} (\d+)/gm)].map((m) => [`${m[1]}{${m[2].replace(/,?worker="[^"]*"/, '')}}`, Number(m[3])]));
  } catch {
    metrics[`worker-${i}`] = 'down';
  }
}
Object.assign(figures, {
  drainSeconds: Math.round(drainSeconds),
  gradingsPerMinute: Math.round((BURST / drainSeconds) * 60 * 10) / 10,
  verdicts: Object.fromEntries(['pass', 'fail', 'error'].map((v) => [v, subs.filter((s) => s.verdict === v).length])),
  runs: subs.reduce((n, s) => n + s.runs.length, 0),
  runsByWorker: Object.fromEntries(Object.keys(containers).map((w) => [w, finishedRuns.filter((r) => r.workerId === w).length])),
  gradingSeconds: totals.length ? { mean: Math.round((totals.reduce((a, b) => a + b, 0) / totals.length) * 10) / 10, p50: q(0.5), p90: q(0.9), max: totals.at(-1) } : null,
  vmStarts: finishedRuns.reduce((m, r) => ((m[r.timings?.vmStart ?? '?'] = (m[r.timings?.vmStart ?? '?'] ?? 0) + 1), m), {}),
  maxConcurrentQemu: maxQemu,
  qemuSamples: samples,
  killed: killed && {
    ...killed,
    runs: runsOf(killedSub),
    // how long its job waited for another worker (bullmq's lock, JOB_LOCK_MS, or the reconciler's stale heartbeat)
    gradedAgainAfterSeconds: (() => {
      const again = killedSub?.runs.filter((r) => r.status === 'finished').at(0);
      return again ? Math.round((again.startedAt.getTime() - burstStart) / 1000 - killed.at) : null;
    })(),
  },
  restarted: restarted && { ...restarted, runs: runsOf(subs.find((s) => s.id === restarted.submissionId)) },
  events,
  workerMetrics: metrics,
  problems,
  totalSeconds: Math.round((Date.now() - t0) / 1000),
});
await db.$disconnect();
mkdirSync(join(repo, 'artifacts'), { recursive: true });
const out = join(repo, 'artifacts', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, `${JSON.stringify(figures, null, 2)}\n`);
console.log(JSON.stringify(figures, null, 2));
log(`figures written to ${out}`);
if (!args.keep) {
  log('docker compose down -v');
  sh(compose[0], dc('down', '-v', '--remove-orphans'), { env: composeEnv, stdio: 'ignore' });
}
if (problems.length) {
  console.error(`scale: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`scale: 1 passed, 0 failed`);
