// A student's assignment page below the handout: the upload form and their own submissions, newest
// first, a page at a time; the ones still grading follow their own event streams (no polling).
import type { AssignmentOut, SubmissionStatus, SubmissionSummary } from '@kgrader/schemas';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, followSubmission } from '../api.js';
import { Link } from '../router.js';
import { ErrorBox, errorText, fmtDate, fmtScore, Loading, StatusBadge, useAsync, VerdictBadge } from '../ui.js';
import { StudentSubmit } from './assignment-upload.js';

const PAGE = 50;
/** at most this many streams at once (a browser has few connections per server) */
const MAX_FOLLOWED = 4;
const TERMINAL: SubmissionStatus[] = ['done', 'error', 'cancelled'];
const isLive = (s: SubmissionSummary) => !TERMINAL.includes(s.status);

export function StudentAssignment({ a }: { a: AssignmentOut }) {
  const list = useAsync(() => api.submissions(a.id, { limit: PAGE }), [a.id]);
  // older pages, appended on request
  const [older, setOlder] = useState<{ items: SubmissionSummary[]; nextCursor: string | null } | null>(null);
  const [moreError, setMoreError] = useState<string | null>(null);
  const first = list.data?.items ?? [];
  const items = [...first, ...(older?.items ?? []).filter((s) => !first.some((f) => f.id === s.id))];
  const nextCursor = older ? older.nextCursor : (list.data?.nextCursor ?? null);

  // live: each submission still grading follows its own stream; its verdict reloads the first page
  const reloadRef = useRef(list.reload);
  reloadRef.current = list.reload;
  const liveIds = items.filter(isLive).slice(0, MAX_FOLLOWED).map((s) => s.id).join(',');
  useEffect(() => {
    if (!liveIds) return;
    const stops = liveIds.split(',').map((id) =>
      followSubmission(
        id,
        (ev) => list.set((prev) => prev && { ...prev, items: prev.items.map((s) => (s.id === ev.submissionId ? { ...s, status: ev.status } : s)) }),
        (why) => why === 'verdict' && reloadRef.current(), // the summary, score and top finding as this student may see them
      ),
    );
    return () => stops.forEach((stop) => stop());
  }, [liveIds]);

  const more = async () => {
    if (!nextCursor) return;
    setMoreError(null);
    try {
      const page = await api.submissions(a.id, { limit: PAGE, cursor: nextCursor });
      setOlder((prev) => ({ items: [...(prev?.items ?? []), ...page.items], nextCursor: page.nextCursor }));
    } catch (err) {
      setMoreError(errorText(err));
    }
  };

  return (
    <>
      <StudentSubmit a={a} />
      <section aria-labelledby="mine-title">
        <h2 id="mine-title">Your submissions</h2>
        {list.error ? <ErrorBox error={list.error} /> : null}
        {list.loading && !list.data && <Loading />}
        {list.data && items.length === 0 && <p class="muted">You have not submitted anything yet.</p>}
        {items.length > 0 && (
          <ol class="sub-list" data-testid="my-submissions">
            {items.map((s) => (
              <li key={s.id} class="sub-item">
                <Link to={`/submissions/${s.id}`} class="sub-link">
                  <span>
                    <time dateTime={s.createdAt}>{fmtDate(s.createdAt)}</time>
                  </span>
                  <StatusBadge status={s.status} />
                  <VerdictBadge verdict={s.verdict} />
                  <span class="num">{fmtScore(s.score, s.maxScore)}</span>
                  <span class="muted small sub-summary">{s.topFinding ?? s.summary ?? ''}</span>
                </Link>
              </li>
            ))}
          </ol>
        )}
        {nextCursor && (
          <button type="button" class="btn btn-small" onClick={more}>
            Show older submissions
          </button>
        )}
        {moreError && (
          <p class="field-error" role="alert">
            {moreError}
          </p>
        )}
      </section>
    </>
  );
}
