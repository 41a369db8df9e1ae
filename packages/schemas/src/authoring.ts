import { z } from 'zod';
import { ExerciseSpec, SolutionExpectation } from './exercise.js';
import { Verdict } from './result.js';

// Exercise authoring and versions (issue 12, item 1): the draft an instructor edits, the immutable
// versions it is published as, the solution checks that decide a publication, and moving an
// assignment to another version.

const IsoDate = z.iso.datetime({ offset: true });
const Uuid = z.uuid();
const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

/** The most an authored exercise may ask of the graders (the shipped ones stay well below). */
export const AUTHORED_LIMITS = {
  maxFiles: 64,
  maxFileBytes: 1024 * 1024,
  maxTotalBytes: 4 * 1024 * 1024,
  buildTimeoutSeconds: 300,
  vmTimeoutSeconds: 900,
  consoleBytes: 8 * 1024 * 1024,
  chatterBytes: 1024 * 1024,
} as const;

/** A source file of an exercise (starter file or solution file): flat `.c`/`.h` name, UTF-8 text. */
export const ExerciseFile = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]+\.[ch]$/, 'a flat .c or .h file name').max(100),
  content: z.string().max(256 * 1024),
});
export type ExerciseFile = z.infer<typeof ExerciseFile>;

export const SolutionDraft = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes').max(64),
  /** what grading it must give: `pass` for a reference solution, `fail` (and how it must be caught) for a buggy one */
  expectation: SolutionExpectation,
  files: z.array(ExerciseFile).min(1).max(64),
});
export type SolutionDraft = z.infer<typeof SolutionDraft>;

const uniqueNames = (items: { name: string }[], what: string, ctx: z.RefinementCtx, path: (string | number)[]) => {
  const seen = new Set<string>();
  for (const [i, it] of items.entries()) {
    if (seen.has(it.name)) ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `duplicate ${what} ${it.name}` });
    seen.add(it.name);
  }
};

/**
 * What an instructor edits and publishes: the spec, the handout (Markdown-ish text shown to
 * students), starter files, and solutions with what each must grade as. Saved drafts are always
 * valid; publishing also needs a reference (a solution expected to pass).
 */
export const ExerciseDraft = z
  .object({
    spec: ExerciseSpec,
    handout: z.string().max(200_000).default(''),
    starterFiles: z.array(ExerciseFile).max(64).default([]),
    solutions: z.array(SolutionDraft).max(40).default([]),
  })
  .superRefine((d, ctx) => {
    // an authored spec runs on the shared graders: its resource limits are capped
    for (const [key, max] of Object.entries(AUTHORED_LIMITS) as [keyof typeof AUTHORED_LIMITS, number][]) {
      if (d.spec.limits[key] > max) ctx.addIssue({ code: 'custom', path: ['spec', 'limits', key], message: `at most ${max} for an authored exercise` });
    }
    if (d.spec.tests.length > 60) ctx.addIssue({ code: 'custom', path: ['spec', 'tests'], message: 'at most 60 tests' });
    uniqueNames(d.starterFiles, 'starter file', ctx, ['starterFiles']);
    uniqueNames(d.solutions, 'solution', ctx, ['solutions']);
    const tests = new Set(d.spec.tests.map((t) => t.name));
    const limits = d.spec.limits;
    for (const [i, s] of d.solutions.entries()) {
      uniqueNames(s.files, 'file', ctx, ['solutions', i, 'files']);
      for (const name of s.expectation.failingTests) {
        if (!tests.has(name)) ctx.addIssue({ code: 'custom', path: ['solutions', i, 'expectation', 'failingTests'], message: `no test named ${name} in the spec` });
      }
      if (s.files.length > limits.maxFiles) ctx.addIssue({ code: 'custom', path: ['solutions', i, 'files'], message: `more than the spec's maxFiles (${limits.maxFiles})` });
      const total = s.files.reduce((n, f) => n + utf8Bytes(f.content), 0);
      if (total > limits.maxTotalBytes) ctx.addIssue({ code: 'custom', path: ['solutions', i, 'files'], message: `more than the spec's maxTotalBytes (${limits.maxTotalBytes})` });
      for (const [j, f] of s.files.entries()) {
        if (utf8Bytes(f.content) > limits.maxFileBytes) {
          ctx.addIssue({ code: 'custom', path: ['solutions', i, 'files', j, 'content'], message: `more than the spec's maxFileBytes (${limits.maxFileBytes})` });
        }
      }
    }
  });
export type ExerciseDraft = z.infer<typeof ExerciseDraft>;
export type ExerciseDraftInput = z.input<typeof ExerciseDraft>;

export const ExerciseVersionStatus = z.enum(['checking', 'published', 'rejected', 'error']);
export type ExerciseVersionStatus = z.infer<typeof ExerciseVersionStatus>;

export const ExerciseVersionSummary = z.object({
  version: z.number().int(),
  status: ExerciseVersionStatus,
  contentHash: z.string(),
  origin: z.enum(['seed', 'publish']),
  createdAt: IsoDate,
  decidedAt: IsoDate.nullable(),
});
export type ExerciseVersionSummary = z.infer<typeof ExerciseVersionSummary>;

export const ExerciseSummary = z
  .object({
    id: Uuid,
    slug: z.string(),
    title: z.string(),
    summary: z.string(),
    /** null: shipped with kgrader (edited by admins) */
    courseId: Uuid.nullable(),
    /** the newest published version, the one a new assignment pins by default */
    latestPublished: z.number().int().nullable(),
    maxScore: z.number().int().nullable(),
    versions: z.array(ExerciseVersionSummary),
  })
  .meta({ id: 'ExerciseSummary' });
export type ExerciseSummary = z.infer<typeof ExerciseSummary>;

export const ExerciseOut = ExerciseSummary.extend({ draft: ExerciseDraft, updatedAt: IsoDate }).meta({ id: 'Exercise' });
export type ExerciseOut = z.infer<typeof ExerciseOut>;

export const SolutionCheckOut = z.object({
  name: z.string(),
  status: z.enum(['queued', 'running', 'passed', 'failed', 'error']),
  attempts: z.number().int(),
  /** the promises the grading broke (empty when passed) */
  problems: z.array(z.string()),
  verdict: Verdict.nullable(),
  summary: z.string().nullable(),
  finishedAt: IsoDate.nullable(),
});
export type SolutionCheckOut = z.infer<typeof SolutionCheckOut>;

export const ExerciseVersionOut = ExerciseVersionSummary.extend({
  exerciseId: Uuid,
  slug: z.string(),
  spec: ExerciseSpec,
  handout: z.string(),
  starterFiles: z.array(ExerciseFile),
  solutions: z.array(SolutionDraft),
  checks: z.array(SolutionCheckOut),
}).meta({ id: 'ExerciseVersion' });
export type ExerciseVersionOut = z.infer<typeof ExerciseVersionOut>;

export const ExerciseIdParams = z.object({ exerciseId: Uuid });
export const ExerciseVersionParams = z.object({ exerciseId: Uuid, version: z.coerce.number().int().positive() });

/** What a student sees of the exercise of an assignment: the pinned version's handout and starter files. */
export const AssignmentHandout = z.object({
  assignmentId: Uuid,
  exerciseSlug: z.string(),
  version: z.number().int(),
  title: z.string(),
  summary: z.string(),
  handout: z.string(),
  starterFiles: z.array(ExerciseFile),
});
export type AssignmentHandout = z.infer<typeof AssignmentHandout>;

export const VersionMoveCreate = z.object({ version: z.number().int().positive() });
export const VersionMoveParams = z.object({ assignmentId: Uuid, moveId: Uuid });

/** One student's latest submission across a version move. */
export const VersionMoveRow = z.object({
  submissionId: Uuid,
  userId: Uuid,
  userEmail: z.string(),
  before: z.object({ verdict: Verdict.nullable(), score: z.number().nullable() }),
  /** null while the regrade has not finished */
  after: z.object({ status: z.string(), verdict: Verdict.nullable(), score: z.number().nullable() }).nullable(),
  changed: z.boolean().nullable(),
});
export const VersionMoveOut = z
  .object({
    id: Uuid,
    assignmentId: Uuid,
    fromVersion: z.number().int().nullable(),
    toVersion: z.number().int(),
    createdAt: IsoDate,
    /** regraded so far / in the move */
    done: z.number().int(),
    total: z.number().int(),
    rows: z.array(VersionMoveRow),
  })
  .meta({ id: 'VersionMove' });
export type VersionMoveOut = z.infer<typeof VersionMoveOut>;
