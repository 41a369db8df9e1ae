// Many submissions of one assignment straight into the database (no grading): students whose
// names differ in case only where the order must ignore it, scores with many ties, submissions
// sharing the same instant, finished runs with a first finding. Used by the submission-list API
// test and the dashboard's paging test.
import { randomBytes } from 'node:crypto';
import type { Db } from '@kgrader/db';

export interface SeededSubmission {
  id: string;
  userId: string;
  name: string;
  email: string;
  createdAt: Date;
  status: 'queued' | 'running' | 'done' | 'error';
  verdict: 'pass' | 'fail' | 'error' | null;
  score: number | null;
  topFinding: string | null;
}

const STATUSES = ['done', 'done', 'done', 'error', 'running', 'queued'] as const;
const SCORES = [100, 50, 0, 50, 100, 50, 0] as const;
const FINDINGS = ['KASAN: slab-out-of-bounds Read in msgbuf_read', 'WARNING: suspicious RCU usage', 'BUG: sleeping function called from invalid context'];

/**
 * `count` submissions of `students` students (created and enrolled in `courseId`), newest last;
 * every third submission shares its predecessor's `createdAt` (ties on time as well as on score).
 */
export async function seedSubmissions(db: Db, opts: { courseId: string; assignmentId: string; students: number; count: number; prefix?: string }): Promise<SeededSubmission[]> {
  const prefix = opts.prefix ?? 'list';
  // mixed case on purpose: a byte-order sort would put every capital first
  const names = ['alice', 'Bob', 'carol', 'Dave', 'erin', 'Frank', 'grace', 'Heidi', 'ivan', 'Judy', 'karl', 'Liam'];
  const users: { id: string; name: string; email: string }[] = [];
  for (let i = 0; i < opts.students; i++) {
    const base = names[i % names.length]!;
    const name = `${base} ${prefix}${String(Math.floor(i / names.length)).padStart(2, '0')}`;
    const email = `${base.toLowerCase()}.${prefix}${i}@uni.test`;
    const u = await db.user.create({ data: { email, name } });
    await db.membership.create({ data: { userId: u.id, courseId: opts.courseId, role: 'student' } });
    users.push({ id: u.id, name, email });
  }
  const sha = randomBytes(32).toString('hex');
  const content = Buffer.from(`int ${prefix}_fixture;\n`);
  await db.blob.upsert({ where: { sha256: sha }, create: { sha256: sha, size: content.length, content: new Uint8Array(content) }, update: {} });
  const t0 = Date.now() - opts.count * 60_000;
  const out: SeededSubmission[] = [];
  let at = new Date(t0);
  for (let i = 0; i < opts.count; i++) {
    const u = users[i % users.length]!;
    if (i % 3 !== 2) at = new Date(t0 + i * 60_000);
    const status = STATUSES[i % STATUSES.length]!;
    const done = status === 'done';
    const score = done ? SCORES[i % SCORES.length]! : null;
    const verdict = done ? (score === 100 ? 'pass' : 'fail') : status === 'error' ? 'error' : null;
    const s = await db.submission.create({
      data: {
        assignmentId: opts.assignmentId,
        userId: u.id,
        sha256: sha,
        status,
        verdict,
        score,
        maxScore: done ? 100 : null,
        summary: done ? `${score} / 100` : null,
        createdAt: at,
        ...(done ? { finishedAt: at } : {}),
        files: { create: [{ name: 'msgbuf.c', sha256: sha, size: content.length }] },
      },
    });
    let topFinding: string | null = null;
    if (done && score !== 100) {
      topFinding = FINDINGS[i % FINDINGS.length]!;
      const run = await db.gradingRun.create({
        data: { submissionId: s.id, attempt: 1, generation: 1, reason: 'submit', status: 'finished', workerId: 'fixture', verdict, score, maxScore: 100, finishedAt: at },
      });
      await db.finding.create({ data: { runId: run.id, position: 0, kind: i % 2 ? 'kasan' : 'warning', title: topFinding, data: { frames: [] }, raw: topFinding } });
      await db.submission.update({ where: { id: s.id }, data: { currentRunId: run.id } });
    }
    out.push({ id: s.id, userId: u.id, name: u.name, email: u.email, createdAt: at, status, verdict, score, topFinding });
  }
  return out;
}

const STATUS_RANK = ['queued', 'building', 'booting', 'running', 'analyzing', 'done', 'error', 'cancelled'];
const VERDICT_RANK = (v: string | null) => (v === null ? 4 : ['pass', 'fail', 'error'].indexOf(v) + 1);
export type Sort = 'createdAt' | 'student' | 'status' | 'verdict' | 'score' | 'topFinding';

/** The order the API promises, computed here from what was seeded. */
export function expectedOrder(rows: SeededSubmission[], sort: Sort, dir: 'asc' | 'desc'): string[] {
  const sign = dir === 'asc' ? 1 : -1;
  const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
  const newestFirst = (x: SeededSubmission, y: SeededSubmission) => -cmp(x.createdAt.getTime(), y.createdAt.getTime()) || -cmp(x.id, y.id);
  const key = (r: SeededSubmission): (string | number)[] => {
    switch (sort) {
      case 'createdAt':
        return [];
      case 'student':
        return [r.name.toLowerCase(), r.email.toLowerCase()];
      case 'status':
        return [STATUS_RANK.indexOf(r.status)];
      case 'verdict':
        return [VERDICT_RANK(r.verdict)];
      case 'score':
        return [r.score ?? -1];
      case 'topFinding':
        return [r.topFinding ?? ''];
    }
  };
  return [...rows]
    .sort((x, y) => {
      if (sort === 'createdAt') return sign * (cmp(x.createdAt.getTime(), y.createdAt.getTime()) || cmp(x.id, y.id));
      const kx = key(x);
      const ky = key(y);
      for (let i = 0; i < kx.length; i++) {
        const c = cmp(kx[i]!, ky[i]!);
        if (c) return sign * c;
      }
      return newestFirst(x, y);
    })
    .map((r) => r.id);
}
