import { z } from 'zod';
import { Finding, FindingKind, SourceLine } from './finding.js';
import { Stage, TestStatus, Verdict } from './result.js';
import { TestVisibility } from './exercise.js';
import { LateOut, LatePolicy } from './late.js';
import { PassbackOut } from './lms.js';

// Wire schemas of the grading service's REST API (/api/v1). Dates travel as ISO 8601 strings.

const IsoDate = z.iso.datetime({ offset: true });
export const Uuid = z.uuid();

/** RFC 9457 problem details: every 4xx/5xx body (content type application/problem+json). */
export const Problem = z
  .object({
    type: z.string().default('about:blank'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    /** validation issues, when the request did not match its schema */
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;

export const Role = z.enum(['student', 'instructor']);
export type Role = z.infer<typeof Role>;

/**
 * What a token may do; the effective right is the lesser of the token's scope and the user's own
 * rights. Ordered: read < submit < instructor < admin.
 * - `read`: GET only (see courses, assignments, submissions and results the user may see);
 * - `submit`: read, and submit to assignments;
 * - `instructor`: everything the user's course roles allow (manage courses, regrade, webhooks, LTI);
 * - `admin`: the user's admin rights (only admins hold such tokens).
 */
export const TokenScope = z.enum(['read', 'submit', 'instructor', 'admin']);
export type TokenScope = z.infer<typeof TokenScope>;
export const TOKEN_SCOPE_RANK: Readonly<Record<TokenScope, number>> = { read: 0, submit: 1, instructor: 2, admin: 3 };

export const SubmissionStatus = z.enum([
  'queued',
  'building',
  'booting',
  'running',
  'analyzing',
  'done',
  'error',
  'cancelled',
]);
export type SubmissionStatus = z.infer<typeof SubmissionStatus>;
export const TERMINAL_STATUSES: readonly SubmissionStatus[] = ['done', 'error', 'cancelled'];

export const RunReason = z.enum(['submit', 'regrade', 'bulk_regrade']);
export type RunReason = z.infer<typeof RunReason>;

export const CourseIdParams = z.object({ courseId: Uuid });
export const AssignmentIdParams = z.object({ assignmentId: Uuid });
export const SubmissionIdParams = z.object({ submissionId: Uuid });

// ---- users, courses, memberships, tokens -------------------------------------------------------

export const UserOut = z
  .object({ id: Uuid, email: z.string(), name: z.string(), isAdmin: z.boolean(), canCreateCourses: z.boolean() })
  .meta({ id: 'User' });
export type UserOut = z.infer<typeof UserOut>;

export const Me = z.object({
  user: UserOut,
  /** the courses this token reaches (only its course for a course-scoped token) */
  memberships: z.array(z.object({ courseId: Uuid, courseCode: z.string(), role: Role })),
  /** the token of this request: what it may do */
  token: z.object({ id: Uuid, scope: TokenScope, courseId: Uuid.nullable(), expiresAt: IsoDate.nullable(), /** `session`: signed in to the dashboard (cookie) */ kind: z.enum(['token', 'session']).optional() }),
});
export type Me = z.infer<typeof Me>;

export const CourseCreate = z.object({
  code: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'lowercase letters, digits and dashes'),
  title: z.string().min(1).max(200),
});
export const CourseOut = z
  .object({ id: Uuid, code: z.string(), title: z.string(), createdAt: IsoDate, role: Role.nullable() })
  .meta({ id: 'Course' });
export type CourseOut = z.infer<typeof CourseOut>;

export const MemberAdd = z.object({
  email: z.email(),
  name: z.string().min(1).max(200).optional(),
  role: Role,
});
export const MemberOut = z
  .object({ userId: Uuid, email: z.string(), name: z.string(), role: Role, createdAt: IsoDate })
  .meta({ id: 'Member' });
export type MemberOut = z.infer<typeof MemberOut>;

export const TokenIdParams = z.object({ tokenId: Uuid });
export const UserIdParams = z.object({ userId: Uuid });
export const UserTokenParams = z.object({ userId: Uuid, tokenId: Uuid });

/** `POST /me/tokens`: a token for yourself, never wider than the token you ask with. */
export const TokenCreate = z
  .object({
    name: z.string().min(1).max(100).default('api'),
    scope: TokenScope,
    /** limit the token to one course (a member's course); absent: every course the user is in */
    courseId: Uuid.nullable().optional(),
    /** days until it expires; absent: never */
    expiresInDays: z.number().int().positive().max(3650).optional(),
  })
  .meta({ id: 'TokenCreate' });
export type TokenCreate = z.infer<typeof TokenCreate>;

export const TokenIssued = z
  .object({
    id: Uuid,
    userId: Uuid,
    /** the bearer token: shown this once, only its hash is stored */
    token: z.string(),
    prefix: z.string(),
    scope: TokenScope,
    courseId: Uuid.nullable(),
    expiresAt: IsoDate.nullable(),
  })
  .meta({ id: 'TokenIssued' });
export type TokenIssued = z.infer<typeof TokenIssued>;

/** A token as listed (never the secret). */
export const TokenOut = z
  .object({
    id: Uuid,
    name: z.string(),
    prefix: z.string(),
    scope: TokenScope,
    courseId: Uuid.nullable(),
    issuedById: Uuid.nullable(),
    createdAt: IsoDate,
    expiresAt: IsoDate.nullable(),
    revokedAt: IsoDate.nullable(),
    lastUsedAt: IsoDate.nullable(),
  })
  .meta({ id: 'Token' });
export type TokenOut = z.infer<typeof TokenOut>;

// ---- assignments --------------------------------------------------------------------------------

const AssignmentFields = {
  exerciseSlug: z.string().regex(/^[a-z][a-z0-9-]*$/),
  title: z.string().min(1).max(200),
  opensAt: IsoDate.nullable().optional(),
  dueAt: IsoDate.nullable().optional(),
  maxPoints: z.number().int().positive().max(10_000).default(100),
  /** submissions per student per window; 0 disables the limit */
  rateLimitCount: z.number().int().nonnegative().max(10_000).default(10),
  rateLimitWindowSeconds: z.number().int().positive().max(30 * 86400).default(3600),
  showTestDetailsBeforeDue: z.boolean().default(true),
  /** a new submission cancels the same student's older ones that are still queued */
  supersedeQueued: z.boolean().default(true),
  /** per test name: who sees it (overrides the exercise's default; see TestVisibility) */
  testVisibility: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), TestVisibility).default({}),
  /** what happens after the due date: refused (`hard`, the default) or a penalty up to a cutoff */
  latePolicy: LatePolicy.default({ kind: 'hard' }),
};
export const AssignmentCreate = z.object({
  ...AssignmentFields,
  /** the exercise version to pin (a published one); absent: the newest published version */
  exerciseVersion: z.number().int().positive().optional(),
});
export type AssignmentCreate = z.infer<typeof AssignmentCreate>;
export const AssignmentUpdate = z
  .object({
    title: AssignmentFields.title,
    opensAt: AssignmentFields.opensAt,
    dueAt: AssignmentFields.dueAt,
    maxPoints: z.number().int().positive().max(10_000),
    rateLimitCount: z.number().int().nonnegative().max(10_000),
    rateLimitWindowSeconds: z.number().int().positive().max(30 * 86400),
    showTestDetailsBeforeDue: z.boolean(),
    supersedeQueued: z.boolean(),
    testVisibility: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), TestVisibility),
    /** true: publish the grades now (tests `after_published` become visible); false: withdraw */
    gradesPublished: z.boolean(),
    latePolicy: LatePolicy,
  })
  .partial();
export type AssignmentUpdate = z.infer<typeof AssignmentUpdate>;
export const AssignmentOut = z
  .object({
    id: Uuid,
    courseId: Uuid,
    exerciseSlug: z.string(),
    title: z.string(),
    opensAt: IsoDate.nullable(),
    dueAt: IsoDate.nullable(),
    maxPoints: z.number().int(),
    rateLimitCount: z.number().int(),
    rateLimitWindowSeconds: z.number().int(),
    showTestDetailsBeforeDue: z.boolean(),
    supersedeQueued: z.boolean(),
    testVisibility: z.record(z.string(), TestVisibility),
    /** when the grades were published (tests `after_published` visible from then on) */
    gradesPublishedAt: IsoDate.nullable(),
    latePolicy: LatePolicy,
    /** for a student: their own due date (an extension, else dueAt) */
    yourDueAt: IsoDate.nullable().optional(),
    /** the pinned exercise version (null: not pinned yet; pinned to the newest published version when first used) */
    exerciseVersion: z.number().int().nullable(),
    createdAt: IsoDate,
  })
  .meta({ id: 'Assignment' });
export type AssignmentOut = z.infer<typeof AssignmentOut>;

// ---- submissions --------------------------------------------------------------------------------

export const SubmissionAccepted = z.object({
  id: Uuid,
  status: SubmissionStatus,
  /** GET this for status and results */
  statusUrl: z.string(),
  /** Server-Sent Events stream of the grading stages */
  eventsUrl: z.string(),
  /** true when an earlier request with the same Idempotency-Key created it */
  replayed: z.boolean(),
});
export type SubmissionAccepted = z.infer<typeof SubmissionAccepted>;

export const SubmissionSummary = z
  .object({
    id: Uuid,
    assignmentId: Uuid,
    userId: Uuid,
    userEmail: z.string().optional(),
    userName: z.string().optional(),
    status: SubmissionStatus,
    verdict: Verdict.nullable(),
    /** points scaled to the assignment's maxPoints */
    score: z.number().nullable(),
    maxScore: z.number().nullable(),
    summary: z.string().nullable(),
    sha256: z.string(),
    attemptCount: z.number().int(),
    reason: RunReason,
    createdAt: IsoDate,
    startedAt: IsoDate.nullable(),
    finishedAt: IsoDate.nullable(),
    /** the first finding's title, when any */
    topFinding: z.string().nullable().optional(),
    /**
     * for a student: how many tests of this assignment they cannot see yet; while any is hidden
     * the verdict and score are withheld (null) and the summary speaks of the visible tests only
     */
    hiddenTests: z.number().int().optional(),
    /** submitted after the student's due date: how late and the penalty (score stays the raw score) */
    late: LateOut.optional(),
  })
  .meta({ id: 'SubmissionSummary' });
export type SubmissionSummary = z.infer<typeof SubmissionSummary>;

/**
 * A finding as the API shows it: the engine's Finding (one contract from CLI to API), with the
 * test it appeared in (null when unknown or hidden from the caller), its count, and the student's
 * source lines derived from its frames (sourceLinesOf).
 */
export const FindingOut = Finding.omit({ test: true, count: true, line: true })
  .extend({
    test: z.string().nullable(),
    count: z.number().int(),
    /** the student's source lines the finding points at, innermost first */
    sourceLines: z.array(SourceLine),
  })
  .meta({ id: 'Finding' });
export type FindingOut = z.infer<typeof FindingOut>;

export const TestResultOut = z.object({
  name: z.string(),
  status: TestStatus,
  points: z.number(),
  maxPoints: z.number(),
  output: z.string(),
  durationMs: z.number().nullable(),
});
export type TestResultOut = z.infer<typeof TestResultOut>;

export const RunOut = z
  .object({
    id: Uuid,
    attempt: z.number().int(),
    reason: RunReason,
    status: z.enum(['running', 'finished', 'error', 'abandoned']),
    verdict: Verdict.nullable(),
    score: z.number().nullable(),
    maxScore: z.number().nullable(),
    summary: z.string().nullable(),
    infrastructureError: z.string().nullable(),
    timings: z.record(z.string(), z.number()).nullable(),
    /** what graded it (issue 11): the grading kernel's key, the harness build, the spec's hash, the pinned exercise version */
    environment: z
      .object({ kernelKey: z.string().nullable(), harnessHash: z.string().nullable(), exerciseHash: z.string().nullable(), exerciseVersionId: Uuid.nullable() })
      .optional(),
    startedAt: IsoDate,
    finishedAt: IsoDate.nullable(),
  })
  .meta({ id: 'GradingRun' });
export type RunOut = z.infer<typeof RunOut>;

export const SubmissionDetail = SubmissionSummary.extend({
  files: z.array(z.object({ name: z.string(), size: z.number().int(), sha256: z.string() })),
  /** the run whose verdict counts (absent while the first run has not started) */
  run: RunOut.nullable(),
  /** hidden (null) for students before the due date when the assignment says so */
  tests: z.array(TestResultOut).nullable(),
  findings: z.array(FindingOut),
  runs: z.array(RunOut.pick({ id: true, attempt: true, reason: true, status: true, verdict: true, startedAt: true, finishedAt: true })),
  /** score passback to the LMS (LTI AGS); null when the submission did not come through an LMS link */
  passback: PassbackOut.nullable().optional(),
}).meta({ id: 'SubmissionDetail' });
export type SubmissionDetail = z.infer<typeof SubmissionDetail>;

export const SubmissionFileContent = z.object({
  name: z.string(),
  size: z.number().int(),
  /** `utf-8`: content is the file's text; `base64`: the file is not UTF-8, content is its exact bytes in base64 */
  encoding: z.enum(['utf-8', 'base64']),
  content: z.string(),
});
export const SubmissionFileParams = z.object({ submissionId: Uuid, name: z.string().regex(/^[A-Za-z0-9_.-]+\.[ch]$/, 'a submitted file name') });
export const SubmissionFiles = z.object({ files: z.array(SubmissionFileContent) });
export type SubmissionFiles = z.infer<typeof SubmissionFiles>;

export const SubmissionLogs = z.object({
  attempt: z.number().int().nullable(),
  buildLog: z.string().nullable(),
  console: z.string().nullable(),
  consoleTruncatedBytes: z.number().int().nullable(),
});
export type SubmissionLogs = z.infer<typeof SubmissionLogs>;
export const LogsQuery = z.object({ attempt: z.coerce.number().int().positive().optional() });

/**
 * How the submission list is ordered. Every order ends with the submission time (newest first)
 * and the id, so equal keys (the same score, the same student) still page stably.
 * - `createdAt`: submission time; `student`: name (then e-mail), case-insensitive;
 * - `status`: the grading pipeline's order (queued … done, error, cancelled);
 * - `verdict`: pass, fail, error, none; `score`: no score counts as lowest;
 * - `topFinding`: the first finding's title, none counting as lowest.
 */
export const SubmissionSort = z.enum(['createdAt', 'student', 'status', 'verdict', 'score', 'topFinding']);
export type SubmissionSort = z.infer<typeof SubmissionSort>;
export const SortDirection = z.enum(['asc', 'desc']);
export type SortDirection = z.infer<typeof SortDirection>;

export const SubmissionListQuery = z.object({
  status: SubmissionStatus.optional(),
  verdict: Verdict.optional(),
  userId: Uuid.optional(),
  findingKind: FindingKind.optional(),
  /** only each student's latest submission */
  latest: z.stringbool().optional(),
  /** the student's name or e-mail contains this (case-insensitive) */
  q: z.string().trim().max(200).optional(),
  sort: SubmissionSort.default('createdAt'),
  dir: SortDirection.default('desc'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** opaque cursor from the previous page's nextCursor (valid for the same sort and direction only) */
  cursor: z.string().max(1000).optional(),
});
export type SubmissionListQuery = z.infer<typeof SubmissionListQuery>;
export const SubmissionList = z.object({
  items: z.array(SubmissionSummary),
  nextCursor: z.string().nullable(),
  /** how many submissions match the filters (all pages) */
  total: z.number().int(),
});
export type SubmissionList = z.infer<typeof SubmissionList>;

export const RegradeAccepted = z.object({ enqueued: z.number().int(), submissionIds: z.array(Uuid) });
export type RegradeAccepted = z.infer<typeof RegradeAccepted>;

export const AssignmentStats = z.object({
  assignmentId: Uuid,
  submissions: z.number().int(),
  students: z.number().int(),
  /** students whose latest graded submission is done */
  gradedStudents: z.number().int(),
  /** share of graded students whose latest verdict is pass, 0..1 */
  passRate: z.number().nullable(),
  /** latest score per student, bucketed into 10 bins over 0..maxPoints */
  histogram: z.array(z.object({ from: z.number(), to: z.number(), count: z.number().int() })),
  verdicts: z.object({ pass: z.number().int(), fail: z.number().int(), error: z.number().int() }),
  /** finding titles by how many distinct students hit them (latest submissions) */
  topFindings: z.array(z.object({ title: z.string(), kind: z.string(), students: z.number().int(), occurrences: z.number().int() })),
  /**
   * the pass rate of students' latest graded submission as it stood after each grading finished
   * (at most one point a minute): `at` in ms since the epoch, `graded` students so far
   */
  passRateOverTime: z.array(z.object({ at: z.number(), rate: z.number(), graded: z.number().int() })),
});
export type AssignmentStats = z.infer<typeof AssignmentStats>;

/** One Server-Sent Event of GET /submissions/:id/events (the `data:` JSON; `event:` is `type`). */
export const SubmissionStreamEvent = z.object({
  type: z.enum(['status', 'log', 'verdict']),
  submissionId: Uuid,
  status: SubmissionStatus,
  /** for status events during grading: the engine stage */
  stage: Stage.optional(),
  message: z.string(),
  attempt: z.number().int().nullable(),
  at: IsoDate,
  verdict: Verdict.nullable().optional(),
  score: z.number().nullable().optional(),
  maxScore: z.number().nullable().optional(),
});
export type SubmissionStreamEvent = z.infer<typeof SubmissionStreamEvent>;

/**
 * One row update of GET /assignments/:id/events (instructors; the `data:` JSON of `event: row`):
 * sent when a submission of the assignment changes status or gets its verdict, read from the
 * database at that moment (so it may already be ahead of the event that triggered it).
 */
export const SubmissionRowUpdate = z.object({
  id: Uuid,
  status: SubmissionStatus,
  verdict: Verdict.nullable(),
  score: z.number().nullable(),
  maxScore: z.number().nullable(),
  /** the first finding's title of the run that counts */
  topFinding: z.string().nullable(),
  reason: RunReason,
  attemptCount: z.number().int(),
  updatedAt: IsoDate,
});
export type SubmissionRowUpdate = z.infer<typeof SubmissionRowUpdate>;

export const Health = z.object({ status: z.enum(['ok', 'degraded']), checks: z.record(z.string(), z.string()).optional() });
