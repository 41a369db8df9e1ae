import { effectiveDueAt, latePolicyOf, pinnedVersion, Prisma, requeuePassbacks } from '@kgrader/db';
import {
  AssignmentCreate,
  AssignmentIdParams,
  AssignmentOut,
  AssignmentStats,
  AssignmentUpdate,
  CourseIdParams,
  ExerciseSpec,
  lateness,
  penalized,
  Problem,
  RegradeAccepted,
  SubmissionList,
  SubmissionListQuery,
  sourceLinesOf,
  type Finding,
} from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { allow, assignmentOf, caller, callerRole, courseOf } from '../lib/auth.js';
import { assignmentOut, submissionSummary } from '../lib/mappers.js';
import { regrade } from '../lib/regrade.js';
import { listSubmissions } from '../lib/submission-list.js';
import { redactor, studentSummary, viewOf } from '../lib/visibility.js';
import { passRateOverTime } from '../lib/stats.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 422: Problem };
const date = (s: string | null | undefined) => (s === undefined ? undefined : s === null ? null : new Date(s));

/** Assignments: creation and edits, submission listings, bulk regrade, statistics. */
export const assignmentsPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  app.post(
    '/courses/:courseId/assignments',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: { tags: ['assignments'], summary: 'Create an assignment (instructors)', params: CourseIdParams, body: AssignmentCreate, response: { 201: AssignmentOut, ...errors } },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const course = courseOf(req);
      const b = req.body;
      if (b.opensAt && b.dueAt && new Date(b.opensAt) >= new Date(b.dueAt)) throw new HttpError(422, 'opensAt must be before dueAt');
      // the exercise must be usable in this course (shipped, or the course's own) and the pinned version published
      const exercise = await db.exercise.findFirst({ where: { slug: b.exerciseSlug, OR: [{ courseId: null }, { courseId: course.id }] } });
      if (!exercise) throw new HttpError(422, `unknown exercise ${b.exerciseSlug}`, { type: '/problems/unknown-exercise' });
      const version = await db.exerciseVersion.findFirst({
        where: { exerciseId: exercise.id, status: 'published', ...(b.exerciseVersion ? { version: b.exerciseVersion } : {}) },
        orderBy: { version: 'desc' },
      });
      if (!version) {
        throw new HttpError(422, b.exerciseVersion ? `version ${b.exerciseVersion} of ${b.exerciseSlug} is not published` : `${b.exerciseSlug} has no published version yet`, { type: '/problems/exercise-version-unavailable' });
      }
      const spec = ExerciseSpec.parse(version.spec);
      const unknownTests = Object.keys(b.testVisibility).filter((n) => !spec.tests.some((t) => t.name === n));
      if (unknownTests.length) throw new HttpError(422, `no test named ${unknownTests.join(', ')} in ${spec.slug}`, { type: '/problems/unknown-test' });
      const a = await db.$transaction(async (tx) => {
        const a = await tx.assignment.create({
          include: { exerciseVersion: { select: { version: true } } },
          data: {
            courseId: course.id,
            exerciseSlug: b.exerciseSlug,
            exerciseVersionId: version.id,
            title: b.title,
            opensAt: date(b.opensAt) ?? null,
            dueAt: date(b.dueAt) ?? null,
            maxPoints: b.maxPoints,
            rateLimitCount: b.rateLimitCount,
            rateLimitWindowSeconds: b.rateLimitWindowSeconds,
            showTestDetailsBeforeDue: b.showTestDetailsBeforeDue,
            supersedeQueued: b.supersedeQueued,
            testVisibility: b.testVisibility,
            latePolicy: b.latePolicy,
          },
        });
        await tx.auditEvent.create({ data: { actorId: user.id, action: 'assignment.create', courseId: course.id, targetType: 'assignment', targetId: a.id, data: { exerciseSlug: a.exerciseSlug, exerciseVersion: version.version } } });
        return a;
      });
      return reply.code(201).send(assignmentOut(a));
    },
  );

  app.get(
    '/courses/:courseId/assignments',
    {
      config: { access: allow.course('member', 'read') },
      schema: { tags: ['assignments'], summary: "A course's assignments (members)", params: CourseIdParams, response: { 200: z.array(AssignmentOut), ...errors } },
    },
    async (req) => {
      const rows = await db.assignment.findMany({ where: { courseId: courseOf(req).id }, orderBy: { createdAt: 'asc' }, include: { exerciseVersion: { select: { version: true } } } });
      return rows.map(assignmentOut);
    },
  );

  app.get(
    '/assignments/:assignmentId',
    { config: { access: allow.assignment('member', 'read') }, schema: { tags: ['assignments'], params: AssignmentIdParams, response: { 200: AssignmentOut, ...errors } } },
    async (req) => {
      const a = assignmentOf(req);
      if (callerRole(req) !== 'student') return assignmentOut(a);
      const due = await effectiveDueAt(db, a, caller(req).user.id);
      return { ...assignmentOut(a), yourDueAt: due?.toISOString() ?? null };
    },
  );

  app.patch(
    '/assignments/:assignmentId',
    {
      config: { access: allow.assignment('instructor', 'instructor') },
      schema: { tags: ['assignments'], summary: 'Edit an assignment (instructors); opensAt must stay before dueAt (422, nothing saved)', params: AssignmentIdParams, body: AssignmentUpdate, response: { 200: AssignmentOut, ...errors } },
    },
    async (req) => {
      const { user } = caller(req);
      const assignment = assignmentOf(req);
      const { opensAt, dueAt, gradesPublished, testVisibility, ...rest } = req.body;
      const data: Prisma.AssignmentUpdateInput = { ...rest };
      if (opensAt !== undefined) data.opensAt = date(opensAt);
      if (dueAt !== undefined) data.dueAt = date(dueAt);
      if (gradesPublished !== undefined) data.gradesPublishedAt = gradesPublished ? (assignment.gradesPublishedAt ?? new Date()) : null;
      if (testVisibility !== undefined) {
        const { spec } = await pinnedVersion(db, assignment);
        const unknown = Object.keys(testVisibility).filter((n) => !spec.tests.some((t) => t.name === n));
        if (unknown.length) throw new HttpError(422, `no test named ${unknown.join(', ')} in ${spec.slug} (version pinned by this assignment)`, { type: '/problems/unknown-test' });
        data.testVisibility = testVisibility;
      }
      const a = await db.$transaction(async (tx) => {
        const a = await tx.assignment.update({ where: { id: assignment.id }, data, include: { exerciseVersion: { select: { version: true } } } });
        // checked on the merged row inside the transaction: a refused edit is rolled back whole
        if (a.opensAt && a.dueAt && a.opensAt >= a.dueAt) throw new HttpError(422, 'opensAt must be before dueAt');
        // a new due date or late policy changes penalties: the gradebook gets the scores again
        if (dueAt !== undefined || rest.latePolicy !== undefined) await requeuePassbacks(tx, a.id);
        await tx.auditEvent.create({ data: { actorId: user.id, action: 'assignment.update', courseId: a.courseId, targetType: 'assignment', targetId: a.id, data: req.body } });
        return a;
      });
      return assignmentOut(a);
    },
  );

  app.get(
    '/assignments/:assignmentId/submissions',
    {
      config: { access: allow.assignment('member', 'read') },
      schema: {
        tags: ['submissions'],
        summary: 'List submissions, one page in the order asked (newest first by default), with the total for the filters (instructors: all; students: their own)',
        params: AssignmentIdParams,
        querystring: SubmissionListQuery,
        response: { 200: SubmissionList, ...errors },
      },
    },
    async (req) => {
      const { user } = caller(req);
      const assignment = assignmentOf(req);
      const role = callerRole(req);
      const q = req.query;
      const view = await viewOf(db, assignment, role, user.id);
      // a student's verdicts are withheld while a test is hidden from them: filtering by verdict would tell them
      if (view.hidden.size > 0 && q.verdict) return { items: [], nextCursor: null, total: 0 };
      // and so would an order by what is withheld: theirs is then the submission time
      const narrowed = view.hidden.size > 0 && (q.sort === 'score' || q.sort === 'verdict' || q.sort === 'topFinding');
      const listed = await listSubmissions(db, {
        assignmentId: assignment.id,
        userId: role === 'student' ? user.id : q.userId,
        query: q,
        sort: narrowed ? 'createdAt' : q.sort,
        dir: narrowed ? 'desc' : q.dir,
      });
      const found = await db.submission.findMany({ where: { id: { in: listed.ids } }, include: { user: { select: { email: true, name: true } } } });
      const byId = new Map(found.map((r) => [r.id, r]));
      const page = listed.ids.map((id) => byId.get(id)).filter((r): r is (typeof found)[number] => !!r);
      const { nextCursor, total } = listed;
      const runIds = page.map((s) => s.currentRunId).filter((x): x is string => !!x);
      const firsts = runIds.length
        ? await db.finding.findMany({ where: { runId: { in: runIds }, position: 0 }, select: { runId: true, title: true } })
        : [];
      const top = new Map(firsts.map((f) => [f.runId, f.title]));
      // how late each submission was for its student (their extension, else the due date) and the penalty
      const policy = latePolicyOf(assignment);
      const dues = new Map<string, Date | null>();
      for (const uid of new Set(page.map((p) => p.userId))) dues.set(uid, await effectiveDueAt(db, assignment, uid));
      const late = (s: (typeof page)[number]) => {
        const l = lateness(policy, dues.get(s.userId) ?? null, s.createdAt);
        return l.lateSeconds > 0 ? { lateSeconds: l.lateSeconds, penaltyPercent: l.penaltyPercent } : null;
      };
      const withLate = <T extends { score: number | null }>(out: T, s: (typeof page)[number]) => {
        const l = late(s);
        return l ? { ...out, late: { ...l, finalScore: out.score === null ? null : penalized(out.score, l.penaltyPercent) } } : out;
      };
      if (view.hidden.size > 0) {
        const [tests, findings] = await Promise.all([
          db.testResult.findMany({ where: { runId: { in: runIds } }, orderBy: { position: 'asc' }, select: { runId: true, name: true, status: true } }),
          db.finding.findMany({ where: { runId: { in: runIds } }, orderBy: { position: 'asc' }, select: { runId: true, title: true, data: true } }),
        ]);
        const redact = redactor(view);
        return {
          items: page.map((s) => {
            const run = s.currentRunId;
            const own = <T extends { runId: string }>(rows: T[]) => rows.filter((r) => r.runId === run);
            return {
              ...submissionSummary(s, run ? (top.has(run) ? redact(top.get(run)!) : null) : null),
              verdict: null,
              score: null,
              maxScore: null,
              summary: studentSummary(s.summary, view, own(tests), own(findings).map((f) => ({ title: f.title, sourceLines: sourceLinesOf(f.data as unknown as Finding) }))),
              hiddenTests: view.hidden.size,
              ...(late(s) ? { late: { ...late(s)!, finalScore: null } } : {}),
            };
          }),
          nextCursor,
          total,
        };
      }
      return {
        items: page.map((s) => withLate(submissionSummary(s, s.currentRunId ? (top.get(s.currentRunId) ?? null) : null), s)),
        nextCursor,
        total,
      };
    },
  );

  app.post(
    '/assignments/:assignmentId/regrade',
    {
      config: { access: allow.assignment('instructor', 'instructor') },
      schema: {
        tags: ['assignments'],
        summary: "Regrade every student's latest submission (instructors); goes to the low-priority lane",
        params: AssignmentIdParams,
        body: z.object({ scope: z.enum(['latest', 'all']).default('latest') }).default({ scope: 'latest' }),
        response: { 202: RegradeAccepted, ...errors },
      },
    },
    async (req, reply) => {
      const { user } = caller(req);
      const assignment = assignmentOf(req);
      const rows =
        req.body.scope === 'all'
          ? await db.submission.findMany({ where: { assignmentId: assignment.id }, select: { id: true } })
          : await db.$queryRaw<{ id: string }[]>`
              SELECT DISTINCT ON ("userId") id::text AS id FROM "Submission"
              WHERE "assignmentId" = ${assignment.id}::uuid AND status <> 'cancelled'
              ORDER BY "userId", "createdAt" DESC, id DESC`;
      const ids = await regrade(deps, {
        submissionIds: rows.map((r) => r.id),
        reason: 'bulk_regrade',
        actorId: user.id,
        courseId: assignment.courseId,
        assignmentId: assignment.id,
      });
      return reply.code(202).send({ enqueued: ids.length, submissionIds: ids });
    },
  );

  app.get(
    '/assignments/:assignmentId/stats',
    {
      config: { access: allow.assignment('instructor', 'read') },
      schema: { tags: ['assignments'], summary: 'Pass rate, score histogram, most common findings (instructors)', params: AssignmentIdParams, response: { 200: AssignmentStats, ...errors } },
    },
    async (req) => {
      const assignment = assignmentOf(req);
      const aid = assignment.id;
      const [counts] = await db.$queryRaw<{ submissions: bigint; students: bigint }[]>`
        SELECT count(*) AS submissions, count(DISTINCT "userId") AS students FROM "Submission" WHERE "assignmentId" = ${aid}::uuid`;
      // each student's latest submission that has a verdict
      const latest = await db.$queryRaw<{ id: string; verdict: 'pass' | 'fail' | 'error'; score: number | null; currentRunId: string | null }[]>`
        SELECT DISTINCT ON ("userId") id::text AS id, verdict::text AS verdict, score, "currentRunId"::text AS "currentRunId"
        FROM "Submission" WHERE "assignmentId" = ${aid}::uuid AND status = 'done' AND verdict IS NOT NULL
        ORDER BY "userId", "createdAt" DESC, id DESC`;
      const verdicts = { pass: 0, fail: 0, error: 0 };
      for (const s of latest) verdicts[s.verdict]++;
      const bins = 10;
      const width = assignment.maxPoints / bins;
      const histogram = Array.from({ length: bins }, (_, i) => ({ from: i * width, to: (i + 1) * width, count: 0 }));
      for (const s of latest) {
        const i = Math.min(bins - 1, Math.max(0, Math.floor((s.score ?? 0) / width)));
        histogram[i]!.count++;
      }
      const runIds = latest.map((s) => s.currentRunId).filter((x): x is string => !!x);
      const top = runIds.length
        ? await db.$queryRaw<{ title: string; kind: string; students: bigint; occurrences: bigint }[]>`
            SELECT f.title, min(f.kind) AS kind, count(DISTINCT s."userId") AS students, sum(f.count) AS occurrences
            FROM "Finding" f JOIN "GradingRun" r ON r.id = f."runId" JOIN "Submission" s ON s.id = r."submissionId"
            WHERE f."runId" = ANY(${runIds}::uuid[])
            GROUP BY f.title ORDER BY students DESC, occurrences DESC, f.title LIMIT 20`
        : [];
      const graded = verdicts.pass + verdicts.fail;
      // every graded submission, oldest first, in three columns: the curve is computed here, not
      // by a browser fetching every submission
      const history = await db.$queryRaw<{ userId: string; pass: boolean; at: Date }[]>`
        SELECT "userId"::text AS "userId", verdict = 'pass' AS pass, coalesce("finishedAt", "createdAt") AS at
        FROM "Submission" WHERE "assignmentId" = ${aid}::uuid AND status = 'done' AND verdict IN ('pass', 'fail')
        ORDER BY "createdAt", id`;
      return {
        assignmentId: aid,
        submissions: Number(counts?.submissions ?? 0),
        students: Number(counts?.students ?? 0),
        gradedStudents: latest.length,
        passRate: graded ? verdicts.pass / graded : null,
        histogram,
        verdicts,
        topFindings: top.map((t) => ({ title: t.title, kind: t.kind, students: Number(t.students), occurrences: Number(t.occurrences) })),
        passRateOverTime: passRateOverTime(history),
      };
    },
  );
};
