import type { AgsScore, ScorePolicy } from '@kgrader/schemas';

/** One graded run of a student on an assignment, as the passback job reads it from the database. */
export interface GradedRun {
  score: number | null | undefined;
  maxScore: number | null | undefined;
  /** when the verdict was stored */
  gradedAt: Date | string | number;
  /** `error` runs (kgrader's own failures) never count */
  verdict?: 'pass' | 'fail' | 'error' | null | undefined;
}

export interface ScoreChoice {
  scoreGiven: number;
  scoreMaximum: number;
  /** when the chosen run was graded */
  gradedAt: Date;
  /**
   * The AGS timestamp to send: the latest grading time among the counted runs, so that it never goes
   * backwards (platforms ignore a score older than the last one they received, and under `best`
   * the chosen run may be older than one already published).
   */
  timestamp: Date;
}

const toDate = (d: Date | string | number): Date => (d instanceof Date ? d : new Date(d));

/**
 * Pure: which score counts under `policy`. `latest`: the most recently graded run; `best`: the
 * highest score relative to its maximum (ties go to the later run). Runs without a score, with a
 * non-positive maximum or an `error` verdict are ignored; null when none counts.
 */
export function scoreToPublish(policy: ScorePolicy, runs: readonly GradedRun[]): ScoreChoice | null {
  const valid = runs
    .filter((r) => r.verdict !== 'error')
    .filter((r) => typeof r.score === 'number' && Number.isFinite(r.score) && typeof r.maxScore === 'number' && r.maxScore > 0)
    .map((r) => ({ score: r.score as number, max: r.maxScore as number, at: toDate(r.gradedAt) }))
    .filter((r) => !Number.isNaN(r.at.getTime()));
  if (valid.length === 0) return null;
  let latest = valid[0]!;
  let chosen = valid[0]!;
  for (const r of valid) {
    if (r.at.getTime() >= latest.at.getTime()) latest = r;
    if (policy === 'best') {
      const a = r.score / r.max;
      const b = chosen.score / chosen.max;
      if (a > b || (a === b && r.at.getTime() >= chosen.at.getTime())) chosen = r;
    }
  }
  if (policy === 'latest') chosen = latest;
  return {
    scoreGiven: Math.min(Math.max(chosen.score, 0), chosen.max),
    scoreMaximum: chosen.max,
    gradedAt: chosen.at,
    timestamp: latest.at,
  };
}

/** The AGS score body for a graded result. */
export function gradedScore(userId: string, choice: ScoreChoice, comment?: string): AgsScore {
  return {
    userId,
    scoreGiven: choice.scoreGiven,
    scoreMaximum: choice.scoreMaximum,
    activityProgress: 'Completed',
    gradingProgress: 'FullyGraded',
    timestamp: choice.timestamp.toISOString(),
    ...(comment !== undefined ? { comment } : {}),
  };
}

/** The AGS score body telling the LMS a submission arrived and is being graded. */
export function pendingScore(userId: string, at: Date): AgsScore {
  return { userId, activityProgress: 'Submitted', gradingProgress: 'Pending', timestamp: at.toISOString() };
}
