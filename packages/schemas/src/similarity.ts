import { z } from 'zod';

// Similarity checks (issue 12, item 6): instructors only. Students never see these.

const IsoDate = z.iso.datetime({ offset: true });

export const SimilarityRunCreate = z.object({
  /** pairs at or above this similarity (0..1) are listed */
  threshold: z.number().min(0.05).max(1).default(0.6),
});

const Side = z.object({ submissionId: z.uuid(), userId: z.uuid(), userEmail: z.string(), userName: z.string() });
const LineRange = z.object({ file: z.string(), startLine: z.number().int(), endLine: z.number().int() });

export const SimilarityPairSummary = z.object({
  id: z.uuid(),
  similarity: z.number(),
  longest: z.number().int(),
  overlap: z.number().int(),
  fragments: z.number().int(),
  left: Side,
  right: Side,
});

export const SimilarityRunOut = z
  .object({
    id: z.uuid(),
    assignmentId: z.uuid(),
    status: z.enum(['queued', 'running', 'done', 'error']),
    /** `manual` or `due` (queued by itself after the due date) */
    trigger: z.string(),
    threshold: z.number(),
    students: z.number().int().nullable(),
    error: z.string().nullable(),
    createdAt: IsoDate,
    finishedAt: IsoDate.nullable(),
    pairs: z.array(SimilarityPairSummary),
  })
  .meta({ id: 'SimilarityRun' });
export type SimilarityRunOut = z.infer<typeof SimilarityRunOut>;

/** One pair side by side: both students' files and the matching fragments. */
export const SimilarityPairOut = z
  .object({
    id: z.uuid(),
    runId: z.uuid(),
    similarity: z.number(),
    longest: z.number().int(),
    overlap: z.number().int(),
    left: Side.extend({ files: z.array(z.object({ name: z.string(), content: z.string() })) }),
    right: Side.extend({ files: z.array(z.object({ name: z.string(), content: z.string() })) }),
    fragments: z.array(z.object({ left: LineRange, right: LineRange })),
  })
  .meta({ id: 'SimilarityPair' });
export type SimilarityPairOut = z.infer<typeof SimilarityPairOut>;

export const SimilarityRunParams = z.object({ assignmentId: z.uuid(), runId: z.uuid() });
export const SimilarityPairParams = z.object({ assignmentId: z.uuid(), runId: z.uuid(), pairId: z.uuid() });
