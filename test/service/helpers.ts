// Shared fixtures of the service tests: a fresh database per test file, a Redis key prefix per
// file, an API listening on an ephemeral loopback port, seeded users and tokens, upload helpers,
// the shipped msgbuf solutions and a /proc reader to find the QEMU processes of a worker.
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildApp, folderCatalog, EventHub, issueToken, seedShippedExercises, type ApiConfig, type ApiDeps } from '@kgrader/api';
import { createDb, createFailFastRedis, createGradingQueue, migrate, redisReady, type Db } from '@kgrader/db';
import { loadExercise, shippedExercisesDir, locateKernel } from '@kgrader/engine';
import { cacheDirOf, WorkerEnv, type WorkerConfig } from '@kgrader/worker';
import { deepFreeze } from '@kgrader/schemas';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import pg from 'pg';

export const PG_BASE = process.env['TEST_PG_URL'] ?? 'postgresql://postgres@127.0.0.1:5432';
export const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * Drops and recreates `kgrader_test_<name>_<pid>`, applies the migrations, returns its URL. The
 * process id keeps two runs of the same file (engineers share this PostgreSQL) from dropping each
 * other's database mid-run; `dropDatabase` removes it at the end.
 */
/** A loopback port free right now (the test API listens on it; its public URL names it from the start). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function freshDatabase(name: string, opts: { /** apply these migrations instead of the repository's */ migrationsDir?: string } = {}): Promise<string> {
  const db = `kgrader_test_${name.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${process.pid}`;
  await adminQuery(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`, `CREATE DATABASE "${db}"`);
  const url = `${PG_BASE}/${db}`;
  await migrate({ databaseUrl: url, ...(opts.migrationsDir ? { migrationsDir: opts.migrationsDir } : {}) });
  return url;
}

export async function dropDatabase(url: string): Promise<void> {
  const db = new URL(url).pathname.slice(1);
  if (!db.startsWith('kgrader_test_')) throw new Error(`not a test database: ${db}`);
  await adminQuery(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
}

async function adminQuery(...sql: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: `${PG_BASE}/postgres` });
  await admin.connect();
  try {
    for (const q of sql) await admin.query(q);
  } finally {
    await admin.end();
  }
}

/** Deletes every Redis key of a bullmq prefix (what an empty Redis restart looks like to us). */
export async function wipePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

export interface TestEnv {
  dbUrl: string;
  prefix: string;
  db: Db;
  redis: Redis;
  app: FastifyInstance;
  baseUrl: string;
  deps: ApiDeps;
  close(): Promise<void>;
}

/**
 * The API as main.ts wires it (fail-fast Redis connections), on a fresh database, listening on an
 * ephemeral loopback port. `opts.redisUrl`: another Redis (a test's own server it stops and starts).
 */
export async function startApi(name: string, overrides: Partial<ApiConfig> = {}, opts: { redisUrl?: string; /** a port chosen beforehand (freePort), when something must know the API's URL before it starts */ port?: number } = {}): Promise<TestEnv> {
  const dbUrl = await freshDatabase(name);
  const prefix = `kgt-${name}-${process.pid}`;
  const db = createDb({ databaseUrl: dbUrl, poolMax: 5 });
  await seedShippedExercises(db, { exercisesDir: shippedExercisesDir }); // as main.ts does at start: the shipped exercises as version 1
  const redisUrl = opts.redisUrl ?? REDIS_URL;
  const redis = createFailFastRedis(redisUrl);
  const sub = createFailFastRedis(redisUrl);
  for (const c of [redis, sub]) c.on('error', () => {}); // main.ts logs these; a test may stop its Redis on purpose
  await Promise.all([redisReady(redis), redisReady(sub)]);
  await wipePrefix(redis, prefix);
  const queue = createGradingQueue(redis, prefix);
  queue.on('error', () => {}); // Redis going away in a test is expected; main.ts logs these
  const events = new EventHub(sub);
  // the config is complete before the app is built (frozen, as the API's own): the port is chosen first
  const port = opts.port ?? (await freePort());
  const config: ApiConfig = deepFreeze({
    publicUrl: `http://127.0.0.1:${port}`,
    exercisesDir: shippedExercisesDir,
    retry: { attempts: 3, backoffMs: 50 },
    duplicateWindowSeconds: 600,
    redisDeadlineMs: 300,
    // an engine grading under TCG on a loaded host can take minutes: keep the stream open to the verdict
    sseMaxSeconds: 600,
    logLevel: 'silent',
    ...overrides,
  });
  const deps: ApiDeps = { db, redis, queue, events, catalog: folderCatalog(config.exercisesDir), config };
  const app = await buildApp({ deps, logger: false });
  await app.listen({ port, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    dbUrl,
    prefix,
    db,
    redis,
    app,
    baseUrl,
    deps,
    async close() {
      await events.close();
      await app.close();
      await queue.close().catch(() => {});
      await wipePrefix(redis, prefix).catch(() => {});
      redis.disconnect();
      await db.$disconnect();
      await dropDatabase(dbUrl);
    },
  };
}

export interface Seed {
  courseId: string;
  otherCourseId: string;
  assignmentId: string;
  otherAssignmentId: string;
  users: Record<'admin' | 'instructor' | 'student1' | 'student2' | 'otherInstructor' | 'outsider', { id: string; token: string }>;
}

/** Two courses; `instructor` teaches course 1 (students 1 and 2), `otherInstructor` course 2. */
export async function seed(db: Db, opts: { rateLimitCount?: number; dueAt?: Date | null; opensAt?: Date | null } = {}): Promise<Seed> {
  const course = await db.course.create({ data: { code: 'os-101', title: 'Operating systems' } });
  const other = await db.course.create({ data: { code: 'os-202', title: 'Other course' } });
  const assignment = await db.assignment.create({
    data: {
      courseId: course.id,
      exerciseSlug: 'msgbuf',
      title: 'msgbuf',
      rateLimitCount: opts.rateLimitCount ?? 100,
      dueAt: opts.dueAt ?? null,
      opensAt: opts.opensAt ?? null,
    },
  });
  const otherAssignment = await db.assignment.create({ data: { courseId: other.id, exerciseSlug: 'msgbuf', title: 'msgbuf (other)' } });
  const mk = async (email: string, memberships: [string, 'student' | 'instructor'][], isAdmin = false) => {
    const u = await db.user.create({ data: { email, name: email.split('@')[0]!, isAdmin, canCreateCourses: isAdmin } });
    for (const [courseId, role] of memberships) await db.membership.create({ data: { userId: u.id, courseId, role } });
    // each user's usual token: admins act as admins, students submit, everyone else has their roles' rights
    const scope = isAdmin ? 'admin' : memberships.length > 0 && memberships.every(([, r]) => r === 'student') ? 'submit' : 'instructor';
    const t = await issueToken(db, { userId: u.id, name: 'test', scope, issuedById: null });
    return { id: u.id, token: t.token };
  };
  return {
    courseId: course.id,
    otherCourseId: other.id,
    assignmentId: assignment.id,
    otherAssignmentId: otherAssignment.id,
    users: {
      admin: await mk('admin@t.test', [], true),
      instructor: await mk('instructor@t.test', [[course.id, 'instructor']]),
      student1: await mk('student1@t.test', [[course.id, 'student']]),
      student2: await mk('student2@t.test', [[course.id, 'student']]),
      otherInstructor: await mk('other@t.test', [[other.id, 'instructor']]),
      outsider: await mk('outsider@t.test', []),
    },
  };
}

export async function api(
  env: { baseUrl: string },
  method: string,
  path: string,
  opts: { token?: string; json?: unknown; form?: FormData; /** a raw body (set its content-type in headers) */ body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  let body: string | FormData | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) body = opts.form;
  else if (opts.body !== undefined) body = opts.body;
  const res = await fetch(`${env.baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function filesForm(files: { name: string; content: string | Buffer }[]): FormData {
  const fd = new FormData();
  for (const f of files) fd.append('files', new Blob([typeof f.content === 'string' ? f.content : new Uint8Array(f.content)]), f.name);
  return fd;
}

export function submit(env: { baseUrl: string }, assignmentId: string, token: string, files: { name: string; content: string | Buffer }[], headers: Record<string, string> = {}) {
  return api(env, 'POST', `/api/v1/assignments/${assignmentId}/submissions`, { token, form: filesForm(files), headers });
}

// ---- a tiny tar writer, to build good and hostile archives --------------------------------------

export interface TarEntry {
  name: string;
  content?: string | Buffer;
  /** tar type flag: '0' file, '2' symlink, '1' hard link, '3' char device, '5' directory, '6' FIFO */
  type?: string;
  linkname?: string;
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(e.type ?? '0', 156);
  if (e.linkname) h.write(e.linkname, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

export function tarGz(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    parts.push(header(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

/** The events of a Server-Sent Events body as they arrive (blocks without `data:` are skipped). */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; id: string; data: any }> {
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev: { event: string; id: string; data: any } = { event: 'message', id: '', data: null };
      let any = false;
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) ev.event = line.slice(7);
        else if (line.startsWith('id: ')) ev.id = line.slice(4);
        else if (line.startsWith('data: ')) {
          ev.data = JSON.parse(line.slice(6));
          any = true;
        }
      }
      if (any) yield ev;
    }
  }
}

/** Reads an SSE stream until it closes (or the timeout), returning the parsed events. */
export async function readEvents(env: { baseUrl: string }, submissionId: string, token: string, timeoutMs = 60_000): Promise<{ event: string; id: string; data: any }[]> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  const res = await fetch(`${env.baseUrl}/api/v1/submissions/${submissionId}/events`, { headers: { authorization: `Bearer ${token}` }, signal: ctrl.signal });
  if (res.status !== 200) throw new Error(`events: HTTP ${res.status} ${await res.text()}`);
  const out: { event: string; id: string; data: any }[] = [];
  try {
    for await (const ev of sseEvents(res.body!)) out.push(ev);
  } finally {
    clearTimeout(timer);
  }
  return out;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const loadMsgbuf = () => loadExercise('msgbuf', shippedExercisesDir);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the real engine ------------------------------------------------------------------------------

/** The shipped msgbuf solutions, as upload files. */
export async function solution(name: 'reference' | 'buggy-off-by-one-read' | 'never-loads'): Promise<{ name: string; content: Buffer }[]> {
  return [{ name: 'msgbuf.c', content: await readFile(solutionPath(name)) }];
}
export const solutionPath = (name: string) => fileURLToPath(new URL(`../../../exercises/msgbuf/solutions/${name}/msgbuf.c`, import.meta.url));

/** The worker's environment as production parses it, with overrides (e.g. another KGRADER_CACHE_DIR). */
/**
 * A worker's config against a test environment's database and queue: one grading at a time, two
 * attempts, no reconciler, quick heartbeats and shutdown. Tests name the worker and override what
 * they exercise.
 */
export function testWorkerConfig(env: { dbUrl: string; prefix: string }, over: Partial<WorkerConfig> & { workerId: string }): WorkerConfig {
  return {
    databaseUrl: env.dbUrl,
    redisUrl: REDIS_URL,
    queuePrefix: env.prefix,
    concurrency: 1,
    retry: { attempts: 2, backoffMs: 50 },
    lockMs: 30_000,
    stalledIntervalMs: 30_000,
    shutdownGraceMs: 200,
    reconcile: { intervalMs: 0, queuedGraceSeconds: 30 },
    heartbeat: { intervalMs: 500, staleSeconds: 10 },
    ...over,
  };
}

export const workerEnv = (over: Record<string, string> = {}) => WorkerEnv.parse({ ...process.env, ...over });

/** null when the grading kernel is built, else why the engine tests cannot run (`npm run setup`). */
export const kernelMissing: string | null = await locateKernel(cacheDirOf(workerEnv())).then(
  () => null,
  (err: Error) => `grading kernel not built: ${err.message.split('\n')[0]}`,
);

export interface Proc {
  pid: number;
  ppid: number;
  cmdline: string[];
}

/** Every process on the host (from /proc); vanished ones are skipped. */
export async function processes(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      out.push({ pid: Number(name), ppid, cmdline });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** QEMU processes descending from `root` (a worker process). */
export async function qemuUnder(root: number): Promise<Proc[]> {
  const all = await processes();
  const mine = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) if (mine.has(p.ppid) && !mine.has(p.pid)) (mine.add(p.pid), (grew = true));
  }
  return all.filter((p) => p.pid !== root && mine.has(p.pid) && p.cmdline.some((a) => a.includes('qemu-system')));
}

/** QEMU processes anywhere whose command line mentions `needle` (a grading's work folder). */
export async function qemuMentioning(needle: string): Promise<Proc[]> {
  return (await processes()).filter((p) => p.cmdline.some((a) => a.includes('qemu-system')) && p.cmdline.some((a) => a.includes(needle)));
}

/** The grading work folder of a QEMU process (the folder of its -initrd). */
export function workDirOf(qemu: Proc): string {
  // the control socket lives in the grading's work folder (the initramfs is in the shared cache)
  const arg = qemu.cmdline.find((a) => a.startsWith('socket,id=control,'));
  const path = arg && /(?:^|,)path=([^,]+)/.exec(arg)?.[1];
  if (!path) throw new Error(`no control socket in ${qemu.cmdline.join(' ')}`);
  return dirname(path);
}
