import { z } from 'zod';

// Late work (issue 12, item 5): an assignment's late policy, per-student extensions, and the
// penalty a submission gets. Pure: the API (acceptance, what students see), the worker (the score
// sent to the LMS) and the dashboard compute it the same way.

/**
 * `hard`: nothing is accepted after the (student's) due date. `penalty`: accepted until `cutoffHours`
 * after it, losing `percent` of the score per started hour or day late, at most `maxPercent`.
 */
export const LatePolicy = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('hard') }),
  z.object({
    kind: z.literal('penalty'),
    percent: z.number().positive().max(100),
    per: z.enum(['hour', 'day']),
    maxPercent: z.number().min(0).max(100).default(100),
    cutoffHours: z.number().positive().max(24 * 366),
  }),
]);
export type LatePolicy = z.infer<typeof LatePolicy>;
export const HARD_DEADLINE: LatePolicy = { kind: 'hard' };

export interface Lateness {
  /** seconds after the due date (0: on time) */
  lateSeconds: number;
  /** percent of the score taken off */
  penaltyPercent: number;
  /** whether a submission at that time is accepted at all */
  accepted: boolean;
}

export function lateness(policy: LatePolicy, dueAt: Date | null, submittedAt: Date): Lateness {
  if (!dueAt) return { lateSeconds: 0, penaltyPercent: 0, accepted: true };
  const lateSeconds = Math.max(0, Math.floor((submittedAt.getTime() - dueAt.getTime()) / 1000));
  if (lateSeconds === 0) return { lateSeconds, penaltyPercent: 0, accepted: true };
  if (policy.kind === 'hard') return { lateSeconds, penaltyPercent: 100, accepted: false };
  const unit = policy.per === 'hour' ? 3600 : 86_400;
  const started = Math.ceil(lateSeconds / unit);
  return { lateSeconds, penaltyPercent: Math.min(policy.maxPercent, started * policy.percent), accepted: lateSeconds <= policy.cutoffHours * 3600 };
}

/** The score after the penalty (two decimals). */
export function penalized(score: number, penaltyPercent: number): number {
  return Math.round(score * (1 - penaltyPercent / 100) * 100) / 100;
}

export const ExtensionPut = z.object({
  /** the student's own due date */
  dueAt: z.iso.datetime({ offset: true }),
  reason: z.string().max(500).optional(),
});
export const ExtensionOut = z
  .object({
    assignmentId: z.uuid(),
    userId: z.uuid(),
    userEmail: z.string(),
    dueAt: z.iso.datetime({ offset: true }),
    reason: z.string().nullable(),
    grantedById: z.uuid().nullable(),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'Extension' });
export type ExtensionOut = z.infer<typeof ExtensionOut>;
export const ExtensionParams = z.object({ assignmentId: z.uuid(), userId: z.uuid() });

/** How late a submission was and what it cost (absent when on time). */
export const LateOut = z.object({
  lateSeconds: z.number().int(),
  penaltyPercent: z.number(),
  /** the score after the penalty (null while the score is withheld or not graded) */
  finalScore: z.number().nullable(),
});
export type LateOut = z.infer<typeof LateOut>;
