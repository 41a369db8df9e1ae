// Regrade-all (instructors): a confirmation, then the progress of exactly the submissions it put
// back in the queue, counted from the assignment's live row updates (no polling of the list).
import type { SubmissionStatus } from '@kgrader/schemas';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { errorText } from '../ui.js';
import type { AssignmentFeed } from './assignment-live.js';

const TERMINAL: SubmissionStatus[] = ['done', 'error', 'cancelled'];
/** after a reconnect, how many still-pending submissions are looked up one by one (the stream replays nothing) */
const RECHECK = 20;

export function RegradeAll({ assignmentId, feed, onStarted }: { assignmentId: string; feed: AssignmentFeed; onStarted: () => void }) {
  const [ids, setIds] = useState<string[] | null>(null);
  const [doneCount, setDone] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  // the latest status seen per submission and when, from the moment the page opened
  const seen = useRef(new Map<string, { status: SubmissionStatus; at: number }>());
  const started = useRef(0);
  const idsRef = useRef<string[] | null>(null);
  idsRef.current = ids;

  const count = () => {
    const want = idsRef.current;
    if (!want) return;
    setDone(
      want.filter((id) => {
        const s = seen.current.get(id);
        return !!s && s.at >= started.current && TERMINAL.includes(s.status);
      }).length,
    );
  };
  useEffect(count, [ids]);
  useEffect(() => {
    return feed.subscribe((ev) => {
      if (ev.kind === 'row') {
        seen.current.set(ev.row.id, { status: ev.row.status, at: ev.at });
        count();
      } else if (ev.kind === 'ready' && idsRef.current) {
        // reconnected mid-regrade: what finished meanwhile was not sent, so ask for a few
        const pending = idsRef.current.filter((id) => !TERMINAL.includes(seen.current.get(id)?.status ?? 'queued')).slice(0, RECHECK);
        void Promise.all(
          pending.map((id) =>
            api.submission(id).then(
              (s) => {
                if (!seen.current.has(id) || seen.current.get(id)!.at < ev.at) seen.current.set(id, { status: s.status, at: ev.at });
              },
              () => {},
            ),
          ),
        ).then(count);
      }
    });
  }, [feed]);

  const running = ids !== null && doneCount < ids.length;
  return (
    <div class="regrade-all">
      {!confirming ? (
        <button type="button" class="btn" disabled={running} onClick={() => setConfirming(true)}>
          Regrade all…
        </button>
      ) : (
        <span class="confirm" role="group" aria-label="Confirm regrade all">
          <span>Regrade every student's latest submission?</span>
          <button
            type="button"
            class="btn btn-primary btn-small"
            onClick={async () => {
              setConfirming(false);
              setError(null);
              try {
                // updates from here on count: the regrade puts each back in `queued` first
                started.current = Date.now();
                const r = await api.regradeAll(assignmentId, 'latest');
                setDone(0);
                setIds(r.submissionIds);
                onStarted();
              } catch (err) {
                setError(errorText(err));
              }
            }}
          >
            Yes, regrade
          </button>
          <button type="button" class="btn btn-ghost btn-small" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </span>
      )}
      {ids && (
        <div class="progress-line" role="status" aria-live="polite" data-testid="regrade-progress">
          {ids.length === 0 ? (
            'Nothing to regrade (submissions still grading are left alone).'
          ) : (
            <>
              <progress max={ids.length} value={doneCount} aria-label="Regrade progress" />
              <span>
                {doneCount} of {ids.length} regraded{doneCount >= ids.length ? ' — done' : ''}
              </span>
            </>
          )}
        </div>
      )}
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
