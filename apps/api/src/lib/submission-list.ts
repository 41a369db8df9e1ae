// The submission list of an assignment as SQL: filters, one of the sort orders of SubmissionSort,
// keyset (cursor) paging that stays stable when sort keys tie, and the total for the filters.
import { Prisma, type Db } from '@kgrader/db';
import type { SortDirection, SubmissionListQuery, SubmissionSort } from '@kgrader/schemas';
import { badRequest } from '../errors.js';

type KeyType = 'text' | 'float8' | 'int4' | 'status' | 'timestamp' | 'uuid';

/** One column of an order: the expression sorted on, and how its value travels in the cursor. */
interface KeyColumn {
  /** the expression ORDER BY and the cursor comparison use */
  expr: Prisma.Sql;
  /** the same value as the page query selects it for the cursor (text for enums, times and ids) */
  out: Prisma.Sql;
  type: KeyType;
  desc: boolean;
}

const CAST: Record<KeyType, Prisma.Sql> = {
  text: Prisma.raw('::text'),
  float8: Prisma.raw('::float8'),
  int4: Prisma.raw('::int4'),
  status: Prisma.raw('::"SubmissionStatus"'),
  timestamp: Prisma.raw('::timestamp'),
  uuid: Prisma.raw('::uuid'),
};

// the submission time as stored (UTC wall time, milliseconds), as text that casts back exactly
const createdAtText = Prisma.sql`to_char(s."createdAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS')`;
const createdAt = (desc: boolean): KeyColumn => ({ expr: Prisma.sql`s."createdAt"`, out: createdAtText, type: 'timestamp', desc });
const id = (desc: boolean): KeyColumn => ({ expr: Prisma.sql`s.id`, out: Prisma.sql`s.id::text`, type: 'uuid', desc });

/** The columns of an order: its key, then the submission time (newest first) and the id as tie-breakers. */
function orderColumns(sort: SubmissionSort, dir: SortDirection): KeyColumn[] {
  const desc = dir === 'desc';
  const tail = [createdAt(true), id(true)];
  const key = (expr: Prisma.Sql, type: KeyType): KeyColumn => ({ expr, out: type === 'status' ? Prisma.sql`${expr}::text` : expr, type, desc });
  switch (sort) {
    case 'createdAt':
      return [createdAt(desc), id(desc)];
    case 'student':
      return [key(Prisma.sql`lower(u.name)`, 'text'), key(Prisma.sql`lower(u.email)`, 'text'), ...tail];
    case 'status':
      // the enum's order: the grading pipeline (queued … analyzing, done, error, cancelled)
      return [key(Prisma.sql`s.status`, 'status'), ...tail];
    case 'verdict':
      return [key(Prisma.sql`COALESCE(array_position(ARRAY['pass','fail','error'], s.verdict::text), 4)`, 'int4'), ...tail];
    case 'score':
      return [key(Prisma.sql`COALESCE(s.score, -1)`, 'float8'), ...tail];
    case 'topFinding':
      return [key(Prisma.sql`COALESCE(tf.title, '')`, 'text'), ...tail];
  }
}

interface Cursor {
  s: SubmissionSort;
  d: SortDirection;
  k: (string | number)[];
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/;
const STATUSES = ['queued', 'building', 'booting', 'running', 'analyzing', 'done', 'error', 'cancelled'];

function decodeCursor(raw: string, sort: SubmissionSort, dir: SortDirection, cols: KeyColumn[]): (string | number)[] {
  let c: Partial<Cursor>;
  try {
    c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Cursor>;
  } catch {
    throw badRequest('invalid cursor');
  }
  if (!c || typeof c !== 'object' || !Array.isArray(c.k) || c.k.length !== cols.length) throw badRequest('invalid cursor');
  if (c.s !== sort || c.d !== dir) throw badRequest('the cursor belongs to another sort order: start again from the first page');
  c.k.forEach((v, i) => {
    const t = cols[i]!.type;
    const ok =
      t === 'float8' || t === 'int4'
        ? typeof v === 'number' && Number.isFinite(v) && (t === 'float8' || Number.isInteger(v))
        : typeof v === 'string' && (t === 'text' ? v.length <= 2000 : t === 'uuid' ? UUID.test(v) : t === 'timestamp' ? TIMESTAMP.test(v) : STATUSES.includes(v));
    if (!ok) throw badRequest('invalid cursor');
  });
  return c.k;
}

/** Rows after the cursor: (k1, k2, …) past (v1, v2, …) column by column, each in its own direction. */
function after(cols: KeyColumn[], values: (string | number)[]): Prisma.Sql {
  const ors = cols.map((col, i) => {
    const eqs = cols.slice(0, i).map((c, j) => Prisma.sql`${c.expr} = ${values[j]}${CAST[c.type]}`);
    const cmp = Prisma.sql`${col.expr} ${Prisma.raw(col.desc ? '<' : '>')} ${values[i]}${CAST[col.type]}`;
    return Prisma.sql`(${Prisma.join([...eqs, cmp], ' AND ')})`;
  });
  return Prisma.sql`(${Prisma.join(ors, ' OR ')})`;
}

const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;

export interface ListPage {
  /** the page's submission ids, in order */
  ids: string[];
  nextCursor: string | null;
  total: number;
}

/**
 * One page of an assignment's submissions. `userId`: only this user's (a student's own list);
 * `sort`/`dir` are the order actually used (the caller may have narrowed what was asked).
 */
export async function listSubmissions(
  db: Db,
  opts: { assignmentId: string; userId?: string | undefined; query: SubmissionListQuery; sort: SubmissionSort; dir: SortDirection },
): Promise<ListPage> {
  const { query: q, sort, dir } = opts;
  const cols = orderColumns(sort, dir);
  const where: Prisma.Sql[] = [Prisma.sql`s."assignmentId" = ${opts.assignmentId}::uuid`];
  if (opts.userId) where.push(Prisma.sql`s."userId" = ${opts.userId}::uuid`);
  if (q.status) where.push(Prisma.sql`s.status = ${q.status}::"SubmissionStatus"`);
  if (q.verdict) where.push(Prisma.sql`s.verdict = ${q.verdict}::"Verdict"`);
  if (q.findingKind) {
    where.push(Prisma.sql`EXISTS (SELECT 1 FROM "GradingRun" r JOIN "Finding" f ON f."runId" = r.id
      WHERE r."submissionId" = s.id AND r.status = 'finished' AND f.kind = ${q.findingKind})`);
  }
  if (q.latest) {
    where.push(Prisma.sql`s.id IN (SELECT DISTINCT ON ("userId") id FROM "Submission"
      WHERE "assignmentId" = ${opts.assignmentId}::uuid ORDER BY "userId", "createdAt" DESC, id DESC)`);
  }
  if (q.q) where.push(Prisma.sql`(u.name ILIKE ${likePattern(q.q)} OR u.email ILIKE ${likePattern(q.q)})`);
  const from = Prisma.sql`FROM "Submission" s JOIN "User" u ON u.id = s."userId"`;
  const topFinding =
    sort === 'topFinding'
      ? Prisma.sql`LEFT JOIN LATERAL (SELECT f.title FROM "Finding" f WHERE f."runId" = s."currentRunId" AND f.position = 0 LIMIT 1) tf ON true`
      : Prisma.empty;
  const filtered = Prisma.join(where, ' AND ');
  const paged = q.cursor ? Prisma.sql`${filtered} AND ${after(cols, decodeCursor(q.cursor, sort, dir, cols))}` : filtered;
  const order = Prisma.join(
    cols.map((c) => Prisma.sql`${c.expr} ${Prisma.raw(c.desc ? 'DESC' : 'ASC')}`),
    ', ',
  );
  const keys = Prisma.join(
    cols.map((c, i) => Prisma.sql`${c.out} AS ${Prisma.raw(`k${i}`)}`),
    ', ',
  );
  const [rows, counted] = await Promise.all([
    db.$queryRaw<Record<string, string | number>[]>`SELECT ${keys} ${from} ${topFinding} WHERE ${paged} ORDER BY ${order} LIMIT ${q.limit + 1}`,
    db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n ${from} WHERE ${filtered}`,
  ]);
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  const idKey = `k${cols.length - 1}`;
  return {
    ids: page.map((r) => String(r[idKey])),
    nextCursor: rows.length > q.limit && last ? encodeCursor({ s: sort, d: dir, k: cols.map((_, i) => last[`k${i}`]!) }) : null,
    total: counted[0]?.n ?? 0,
  };
}
