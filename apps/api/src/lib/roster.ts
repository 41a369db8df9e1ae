// Course rosters (issue 12, item 3): who a CSV file or an LMS context (LTI NRPS) says is in the
// course, compared with the course's memberships, as a plan (add, change, unchanged, refused) that
// is shown as a dry run and applied in one transaction. The enrolment rules of the members route
// hold: only this course's memberships are written (never a user's account or other courses), and
// an instructor is never demoted. CSV rows match users by e-mail (that is what enrolment by e-mail
// does); LMS members match by their LTI identity (platform, user id), never by e-mail.
import { createHash } from 'node:crypto';
import type { Prisma, Role } from '@kgrader/db';
import type { NrpsMember } from '@kgrader/lti';
import type { RosterPlan } from '@kgrader/schemas';
import { CsvError, parse } from 'csv-parse/sync';
import { z } from 'zod';
import { HttpError } from '../errors.js';

type Tx = Prisma.TransactionClient;
export const MAX_ROSTER_ROWS = 5000;

interface Candidate {
  line?: number;
  email: string;
  name: string;
  role: Role;
  /** an LMS member: matched and created by this identity */
  lti?: { platformId: string; sub: string };
}

const Email = z.email();

/** CSV text -> candidates and refused lines (422 when the file itself cannot be read). */
export function candidatesFromCsv(text: string): { candidates: Candidate[]; refused: RosterPlan['refused'] } {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, {
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      skip_empty_lines: true,
      trim: true,
      bom: true,
      info: true,
      max_record_size: 10_000,
    }) as unknown as { record: Record<string, string>; info: { lines: number } }[];
  } catch (err) {
    if (err instanceof CsvError) throw new HttpError(422, `the CSV cannot be read: ${err.message}`, { type: '/problems/roster/bad-csv' });
    throw err;
  }
  if (records.length === 0) throw new HttpError(422, 'the CSV has no rows under its header line', { type: '/problems/roster/bad-csv' });
  if (!('email' in records[0]!.record)) throw new HttpError(422, 'the CSV needs a header line with an `email` column (and optionally `name`, `role`)', { type: '/problems/roster/bad-csv' });
  if (records.length > MAX_ROSTER_ROWS) throw new HttpError(413, `at most ${MAX_ROSTER_ROWS} rows per import`, { type: '/problems/roster/too-many-rows' });
  const candidates: Candidate[] = [];
  const refused: RosterPlan['refused'] = [];
  const seen = new Map<string, number>();
  for (const { record, info } of records) {
    const line = info.lines;
    const email = (record['email'] ?? '').toLowerCase();
    if (!Email.safeParse(email).success) {
      refused.push({ line, ...(email ? { email } : {}), reason: `not an e-mail address: ${JSON.stringify(record['email'] ?? '')}` });
      continue;
    }
    const roleText = (record['role'] ?? '').toLowerCase() || 'student';
    if (roleText !== 'student' && roleText !== 'instructor') {
      refused.push({ line, email, reason: `role must be student or instructor, not ${JSON.stringify(record['role'])}` });
      continue;
    }
    if (seen.has(email)) {
      refused.push({ line, email, reason: `the same e-mail as line ${seen.get(email)}` });
      continue;
    }
    seen.set(email, line);
    const name = (record['name'] ?? '').slice(0, 200) || email.split('@')[0]!;
    candidates.push({ line, email, name, role: roleText });
  }
  return { candidates, refused };
}

const syntheticEmail = (issuer: string, sub: string) => `lti-${createHash('sha256').update(`${issuer}\n${sub}`).digest('hex').slice(0, 20)}@${new URL(issuer).hostname}.lti.invalid`;

/** LMS members -> candidates (inactive members and members without a kgrader role are refused). */
export function candidatesFromNrps(members: NrpsMember[], platform: { id: string; issuer: string }): { candidates: Candidate[]; refused: RosterPlan['refused'] } {
  const candidates: Candidate[] = [];
  const refused: RosterPlan['refused'] = [];
  for (const m of members) {
    const email = m.email?.toLowerCase() ?? syntheticEmail(platform.issuer, m.userId);
    if (m.status !== 'Active') {
      refused.push({ email, reason: `${m.status} in the LMS: memberships are never removed by a sync` });
      continue;
    }
    if (!m.role) {
      refused.push({ email, reason: `no kgrader role for the LMS roles ${m.roles.join(', ') || '(none)'}` });
      continue;
    }
    candidates.push({ email, name: m.name ?? email.split('@')[0]!, role: m.role, lti: { platformId: platform.id, sub: m.userId } });
  }
  return { candidates, refused };
}

/**
 * Compares candidates with the course (inside `tx`), and with `apply` writes the plan: new users
 * (CSV: by e-mail; LMS: with their LTI identity), new memberships, promotions, audit events.
 */
export async function rosterPlan(tx: Tx, opts: { courseId: string; actorId: string; source: 'csv' | 'lti'; candidates: Candidate[]; refused: RosterPlan['refused']; apply: boolean }): Promise<RosterPlan> {
  const plan: RosterPlan = { dryRun: !opts.apply, source: opts.source, add: [], change: [], unchanged: [], refused: [...opts.refused] };
  for (const c of opts.candidates) {
    let user: { id: string; email: string; name: string } | null;
    if (c.lti) {
      const ident = await tx.ltiIdentity.findUnique({ where: { platformId_sub: { platformId: c.lti.platformId, sub: c.lti.sub } }, include: { user: true } });
      user = ident?.user ?? null;
    } else {
      user = await tx.user.findUnique({ where: { email: c.email } });
    }
    const where = (userId: string) => ({ userId_courseId: { userId, courseId: opts.courseId } });
    const m = user ? await tx.membership.findUnique({ where: where(user.id) }) : null;
    const row = { email: user?.email ?? c.email, name: user?.name ?? c.name, role: c.role };
    if (m && m.role === c.role) {
      plan.unchanged.push(row);
      continue;
    }
    if (m && m.role === 'instructor' && c.role === 'student') {
      plan.refused.push({ ...(c.line ? { line: c.line } : {}), email: row.email, reason: 'an instructor of this course: enrolment never demotes' });
      continue;
    }
    if (m) plan.change.push({ ...row, from: m.role });
    else plan.add.push({ ...row, newUser: !user });
    if (!opts.apply) continue;
    if (!user) {
      // an LMS member's e-mail may already belong to another account: never matched by e-mail, so a synthetic one
      const taken = c.lti ? await tx.user.findUnique({ where: { email: c.email }, select: { id: true } }) : null;
      const email = taken && c.lti ? `lti-${c.lti.sub.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}-${createHash('sha256').update(c.lti.platformId + c.lti.sub).digest('hex').slice(0, 8)}@lti.invalid` : c.email;
      user = await tx.user.create({ data: { email, name: c.name } });
      if (c.lti) await tx.ltiIdentity.create({ data: { platformId: c.lti.platformId, sub: c.lti.sub, userId: user.id } });
    }
    if (m) await tx.membership.update({ where: where(user.id), data: { role: c.role } });
    else await tx.membership.create({ data: { userId: user.id, courseId: opts.courseId, role: c.role } });
    await tx.auditEvent.create({
      data: { actorId: opts.actorId, action: m ? 'membership.role_change' : 'membership.add', courseId: opts.courseId, targetType: 'user', targetId: user.id, data: { from: m?.role ?? null, to: c.role, via: `roster.${opts.source}` } },
    });
  }
  if (opts.apply) {
    await tx.auditEvent.create({
      data: { actorId: opts.actorId, action: `roster.${opts.source}`, courseId: opts.courseId, targetType: 'course', targetId: opts.courseId, data: { added: plan.add.length, changed: plan.change.length, refused: plan.refused.length } },
    });
  }
  return plan;
}
