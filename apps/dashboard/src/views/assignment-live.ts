// One live connection per instructor's assignment page (GET /assignments/:id/events), shared by
// the submissions table and the regrade-all progress.
import type { SubmissionRowUpdate } from '@kgrader/schemas';
import { useEffect, useMemo } from 'preact/hooks';
import { followAssignment } from '../api.js';

export type FeedEvent = { kind: 'row'; row: SubmissionRowUpdate; at: number } | { kind: 'ready'; at: number } | { kind: 'error'; error: unknown; at: number };

export interface AssignmentFeed {
  subscribe(fn: (ev: FeedEvent) => void): () => void;
}

/** Opens the assignment's stream for as long as the component is mounted. */
export function useAssignmentFeed(assignmentId: string): AssignmentFeed {
  const listeners = useMemo(() => new Set<(ev: FeedEvent) => void>(), [assignmentId]);
  useEffect(() => {
    const emit = (ev: FeedEvent) => {
      for (const l of [...listeners]) l(ev);
    };
    return followAssignment(assignmentId, {
      onReady: () => emit({ kind: 'ready', at: Date.now() }),
      onRow: (row) => emit({ kind: 'row', row, at: Date.now() }),
      onError: (error) => emit({ kind: 'error', error, at: Date.now() }),
    });
  }, [assignmentId, listeners]);
  return useMemo(
    () => ({
      subscribe(fn) {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
    }),
    [listeners],
  );
}
