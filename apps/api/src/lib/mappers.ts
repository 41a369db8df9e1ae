import type { Assignment, Course, Finding as FindingRow, GradingRun, LtiPassback, Role, Submission } from '@kgrader/db';
import { FindingOut, sourceLinesOf, type AssignmentOut, type CourseOut, type Finding, type PassbackOut, type RunOut, type SubmissionSummary } from '@kgrader/schemas';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function courseOut(c: Course, role: Role | null): CourseOut {
  return { id: c.id, code: c.code, title: c.title, createdAt: c.createdAt.toISOString(), role };
}

/** `a.exerciseVersion`: include `{ exerciseVersion: { select: { version: true } } }` to show the pinned version. */
export function assignmentOut(a: Assignment & { exerciseVersion?: { version: number } | null }): AssignmentOut {
  return {
    id: a.id,
    courseId: a.courseId,
    exerciseSlug: a.exerciseSlug,
    title: a.title,
    opensAt: iso(a.opensAt),
    dueAt: iso(a.dueAt),
    maxPoints: a.maxPoints,
    rateLimitCount: a.rateLimitCount,
    rateLimitWindowSeconds: a.rateLimitWindowSeconds,
    showTestDetailsBeforeDue: a.showTestDetailsBeforeDue,
    supersedeQueued: a.supersedeQueued,
    testVisibility: (a.testVisibility ?? {}) as AssignmentOut['testVisibility'],
    gradesPublishedAt: iso(a.gradesPublishedAt),
    latePolicy: (a.latePolicy ?? { kind: 'hard' }) as AssignmentOut['latePolicy'],
    exerciseVersion: a.exerciseVersion?.version ?? null,
    createdAt: a.createdAt.toISOString(),
  };
}

export function submissionSummary(
  s: Submission & { user?: { email: string; name: string } | null },
  topFinding?: string | null,
): SubmissionSummary {
  return {
    id: s.id,
    assignmentId: s.assignmentId,
    userId: s.userId,
    ...(s.user ? { userEmail: s.user.email, userName: s.user.name } : {}),
    status: s.status,
    verdict: s.verdict,
    score: s.score,
    maxScore: s.maxScore,
    summary: s.summary,
    sha256: s.sha256,
    attemptCount: s.attemptCount,
    reason: s.reason,
    createdAt: s.createdAt.toISOString(),
    startedAt: iso(s.startedAt),
    finishedAt: iso(s.finishedAt),
    ...(topFinding !== undefined ? { topFinding } : {}),
  };
}

export function runOut(r: GradingRun): RunOut {
  return {
    id: r.id,
    attempt: r.attempt,
    reason: r.reason,
    status: r.status,
    verdict: r.verdict,
    score: r.score,
    maxScore: r.maxScore,
    summary: r.summary,
    infrastructureError: r.infrastructureError,
    // the durations only: the engine also records how the VM started (`vmStart: "restore"|"boot"`),
    // which the wire schema's number map would refuse (a 500 on every graded submission)
    timings: r.timings && typeof r.timings === 'object' ? Object.fromEntries(Object.entries(r.timings as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number')) : null,
    environment: { kernelKey: r.kernelKey, harnessHash: r.harnessHash, exerciseHash: r.exerciseHash, exerciseVersionId: r.exerciseVersionId },
    startedAt: r.startedAt.toISOString(),
    finishedAt: iso(r.finishedAt),
  };
}

export function passbackOut(p: LtiPassback): PassbackOut {
  return {
    status: p.status,
    attempts: p.attempts,
    scoreGiven: p.scoreGiven,
    scoreMaximum: p.scoreMaximum,
    lastStatus: p.lastStatus,
    lastError: p.lastError,
    nextAttemptAt: p.status === 'pending' ? p.nextAttemptAt.toISOString() : null,
    sentAt: iso(p.sentAt),
  };
}

/** A stored finding as the engine produced it (the columns beside `data` are copies for queries). */
export function storedFinding(row: Pick<FindingRow, 'data' | 'kind' | 'title' | 'raw' | 'test' | 'count'>): Finding {
  const data = row.data as unknown as Finding;
  return { ...data, kind: row.kind as Finding['kind'], title: row.title, raw: row.raw, count: row.count, ...(row.test !== null ? { test: row.test } : {}) };
}

/**
 * A finding as a caller may see it: the test it appeared in is withheld when that test is hidden
 * from the caller, hidden test names are redacted from its text, source lines derived from its frames.
 */
export function findingOut(f: Finding, view: { hidden: ReadonlySet<string> }, redact: (text: string) => string): FindingOut {
  const { line: _consoleLine, test, count, ...rest } = f;
  return FindingOut.parse({
    ...rest,
    title: redact(f.title),
    raw: redact(f.raw),
    test: test === undefined || view.hidden.has(test) ? null : test,
    count: count ?? 1,
    sourceLines: sourceLinesOf(f),
  });
}
