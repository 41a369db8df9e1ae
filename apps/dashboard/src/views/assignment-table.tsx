// The instructors' assignment page: toolbar, a test-run upload, and the submissions table. The
// server sorts, filters and pages (one page of 25 per request, cursor paging); the rows change in
// place from the assignment's live stream, and a submission the page does not hold (a new one)
// refreshes the first page. The view state lives in the address: filters, `sort`/`dir`, and
// `at` (the cursor of the page shown) with `page` (its number).
import type { AssignmentOut, FindingKind, SortDirection, SubmissionSort, SubmissionSummary } from '@kgrader/schemas';
import { useEffect, useRef, useState } from 'preact/hooks';
import { allSubmissions, api, ApiError, type ListFilters } from '../api.js';
import { Link, setQuery, useLocation } from '../router.js';
import { csv, download, ErrorBox, errorText, fmtDate, fmtRelative, fmtScore, Loading, StatusBadge, useAsync, useDebounced, VerdictBadge } from '../ui.js';
import { useAssignmentFeed } from './assignment-live.js';
import { RegradeAll } from './assignment-regrade.js';
import { StudentSubmit } from './assignment-upload.js';

// the schema's enums, without bundling zod into the browser (type-checked against them)
const FINDING_KINDS = ['kasan', 'kcsan', 'kfence', 'lockdep', 'atomic-sleep', 'bug', 'oops', 'panic', 'warning', 'hung-task', 'soft-lockup', 'rcu-stall', 'kmemleak', 'ubsan', 'list-corruption', 'refcount', 'stack-corruption', 'console-flood', 'policy', 'tamper', 'harness-lost', 'stack-frame', 'oom'] as const satisfies readonly FindingKind[];
type MissingKinds = Exclude<FindingKind, (typeof FINDING_KINDS)[number]>;
const _allKinds: [MissingKinds] extends [never] ? true : never = true;
void _allKinds;
const SORTS = ['createdAt', 'student', 'status', 'verdict', 'score', 'topFinding'] as const satisfies readonly SubmissionSort[];
type MissingSorts = Exclude<SubmissionSort, (typeof SORTS)[number]>;
const _allSorts: [MissingSorts] extends [never] ? true : never = true;
void _allSorts;
const STATUSES = ['queued', 'building', 'booting', 'running', 'analyzing', 'done', 'error', 'cancelled'] as const;
const isLive = (s: SubmissionSummary) => !['done', 'error', 'cancelled'].includes(s.status);

export const PAGE = 25;
/** a burst of updates for rows the page does not hold reloads it at most this often */
const REFRESH_MS = 1000;

export function InstructorAssignment({ a }: { a: AssignmentOut }) {
  const { query } = useLocation();
  const student = query.get('student') ?? '';
  const q = useDebounced(student.trim(), 300);
  const sortParam = query.get('sort') ?? '';
  const sort: SubmissionSort = (SORTS as readonly string[]).includes(sortParam) ? (sortParam as SubmissionSort) : 'createdAt';
  const dir: SortDirection = query.get('dir') === 'asc' ? 'asc' : 'desc';
  const filters: ListFilters = {
    ...(query.get('verdict') ? { verdict: query.get('verdict')! } : {}),
    ...(query.get('kind') ? { findingKind: query.get('kind')! } : {}),
    ...(query.get('status') ? { status: query.get('status')! } : {}),
    ...(query.get('latest') === '1' ? { latest: true } : {}),
    ...(q ? { q } : {}),
    sort,
    dir,
  };
  const key = JSON.stringify(filters);
  const at = query.get('at') ?? '';
  const page = at ? Math.max(2, Number(query.get('page') ?? 2) || 2) : 1;
  // bumped to reload the page shown (the stream (re)connected, or a row the page does not hold changed)
  const [epoch, setEpoch] = useState(0);
  const list = useAsync(() => api.submissions(a.id, { ...filters, limit: PAGE, ...(at ? { cursor: at } : {}) }), [a.id, key, at, epoch]);

  // the cursors of the pages before this one, for "Previous" (lost on reload: it then goes to the first page)
  const back = useRef<{ key: string; stack: string[] }>({ key, stack: [] });
  if (back.current.key !== key) back.current = { key, stack: [] };
  const fresh = (patch: Record<string, string | null>) => setQuery({ ...patch, page: null, at: null });

  // a cursor from the address that the server refuses (another order, edited by hand): first page
  useEffect(() => {
    if (at && list.error instanceof ApiError && list.error.status === 400) setQuery({ page: null, at: null });
  }, [list.error, at]);

  // live rows
  const feed = useAssignmentFeed(a.id);
  const [live, setLive] = useState<'connecting' | 'on' | 'off'>('connecting');
  const shown = useRef<{ ids: Set<string>; page: number }>({ ids: new Set(), page });
  shown.current = { ids: new Set((list.data?.items ?? []).map((r) => r.id)), page };
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const refresh = () => {
      timer ??= setTimeout(() => {
        timer = null;
        setEpoch((e) => e + 1);
      }, REFRESH_MS);
    };
    const stop = feed.subscribe((ev) => {
      if (ev.kind === 'ready') {
        // nothing is replayed: what the page shows may predate the subscription
        setLive('on');
        setEpoch((e) => e + 1);
      } else if (ev.kind === 'error') setLive('off');
      else if (shown.current.ids.has(ev.row.id)) {
        const r = ev.row;
        list.set(
          (prev) =>
            prev && {
              ...prev,
              items: prev.items.map((x) =>
                x.id === r.id ? { ...x, status: r.status, verdict: r.verdict, score: r.score, maxScore: r.maxScore, topFinding: r.topFinding, reason: r.reason, attemptCount: r.attemptCount } : x,
              ),
            },
        );
      } else if (shown.current.page === 1) refresh(); // a new submission, or one that may now belong here
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [feed]);

  const sortHeader = (k: SubmissionSort, label: string) => {
    const active = sort === k;
    return (
      <th scope="col" aria-sort={active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
        <button type="button" class="sort" onClick={() => fresh({ sort: k, dir: active && dir === 'desc' ? 'asc' : 'desc' })}>
          {label}
          <span aria-hidden="true" class="sort-icon">
            {active ? (dir === 'asc' ? '▲' : '▼') : '↕'}
          </span>
        </button>
      </th>
    );
  };

  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<string | null>(null);
  const exportCsv = async () => {
    setExporting(true);
    setExportError(null);
    try {
      const { items, capped } = await allSubmissions(a.id, filters);
      const header = ['submission_id', 'student_name', 'student_email', 'submitted_at', 'status', 'verdict', 'score', 'max_score', 'attempts', 'top_finding', 'summary'];
      const body = items.map((r) => [r.id, r.userName, r.userEmail, r.createdAt, r.status, r.verdict, r.score, r.maxScore, r.attemptCount, r.topFinding, r.summary]);
      download(`${a.exerciseSlug}-${a.id.slice(0, 8)}-submissions${capped ? '-first-5000' : ''}.csv`, 'text/csv;charset=utf-8', csv([header, ...body]));
    } catch (err) {
      setExportError(errorText(err));
    } finally {
      setExporting(false);
    }
  };

  const data = list.data;
  const total = data?.total ?? 0;
  const pages = Math.max(page, Math.ceil(total / PAGE));
  const visible = data?.items ?? [];
  const anyLive = visible.some(isLive);

  return (
    <>
      <div class="toolbar" role="toolbar" aria-label="Assignment actions">
        <Link to={`/assignments/${a.id}/stats`} class="btn">
          Statistics
        </Link>
        <Link to={`/assignments/${a.id}/edit`} class="btn">
          Edit assignment
        </Link>
        <RegradeAll assignmentId={a.id} feed={feed} onStarted={() => setEpoch((e) => e + 1)} />
      </div>
      <StudentSubmit a={a} compact />
      <section aria-labelledby="subs-title">
        <div class="section-head">
          <h2 id="subs-title">Submissions</h2>
          <button type="button" class="btn" onClick={exportCsv} disabled={!total || exporting}>
            {exporting ? 'Exporting…' : 'Export CSV'}
          </button>
        </div>
        {exportError && (
          <p class="field-error" role="alert">
            {exportError}
          </p>
        )}
        <form class="filters" role="search" aria-label="Filter submissions" onSubmit={(e) => e.preventDefault()}>
          <div class="field">
            <label for="f-student">Student</label>
            <input id="f-student" type="search" placeholder="name or email" value={student} onInput={(e) => fresh({ student: (e.target as HTMLInputElement).value })} />
          </div>
          <div class="field">
            <label for="f-verdict">Verdict</label>
            <select id="f-verdict" value={query.get('verdict') ?? ''} onChange={(e) => fresh({ verdict: (e.target as HTMLSelectElement).value })}>
              <option value="">any</option>
              <option value="pass">pass</option>
              <option value="fail">fail</option>
              <option value="error">error</option>
            </select>
          </div>
          <div class="field">
            <label for="f-kind">Finding kind</label>
            <select id="f-kind" value={query.get('kind') ?? ''} onChange={(e) => fresh({ kind: (e.target as HTMLSelectElement).value })}>
              <option value="">any</option>
              {FINDING_KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="f-status">Status</label>
            <select id="f-status" value={query.get('status') ?? ''} onChange={(e) => fresh({ status: (e.target as HTMLSelectElement).value })}>
              <option value="">any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <label class="check field-end">
            <input type="checkbox" checked={query.get('latest') === '1'} onChange={(e) => fresh({ latest: (e.target as HTMLInputElement).checked ? '1' : null })} />
            Latest per student
          </label>
        </form>
        {list.error ? <ErrorBox error={list.error} /> : null}
        {list.loading && !data && <Loading what="Loading submissions" />}
        {data && (
          <>
            <p class="muted" aria-live="polite" data-testid="row-count" data-live={live}>
              {total} submission{total === 1 ? '' : 's'}
              {live === 'on' ? (anyLive ? ' · grading in progress, updating live' : ' · live') : live === 'off' ? ' · live updates unavailable: reload to refresh' : ''}
            </p>
            <div class="table-wrap table-wrap-cards">
              <table class="subs cards" data-testid="submissions-table" aria-busy={list.loading}>
                <caption class="sr-only">Submissions, sortable by column</caption>
                <thead>
                  <tr>
                    {sortHeader('student', 'Student')}
                    {sortHeader('createdAt', 'Submitted')}
                    {sortHeader('status', 'Status')}
                    {sortHeader('verdict', 'Verdict')}
                    {sortHeader('score', 'Score')}
                    {sortHeader('topFinding', 'Top finding')}
                  </tr>
                </thead>
                <tbody>
                  {visible.length === 0 && (
                    <tr>
                      <td colSpan={6} class="muted">
                        No submissions match.
                      </td>
                    </tr>
                  )}
                  {visible.map((r) => (
                    <SubmissionRow key={r.id} r={r} />
                  ))}
                </tbody>
              </table>
            </div>
            <nav class="pager" aria-label="Pages">
              <button
                type="button"
                class="btn btn-small"
                disabled={page <= 1}
                onClick={() => {
                  const prev = back.current.stack.pop();
                  setQuery(prev ? { at: prev, page: page - 1 } : { at: null, page: null });
                }}
              >
                ← Previous
              </button>
              <span aria-current="page" data-testid="page-of">
                Page {page} of {pages}
              </span>
              <button
                type="button"
                class="btn btn-small"
                disabled={!data.nextCursor}
                onClick={() => {
                  if (!data.nextCursor) return;
                  back.current.stack.push(at);
                  setQuery({ at: data.nextCursor, page: page + 1 });
                }}
              >
                Next →
              </button>
            </nav>
          </>
        )}
      </section>
    </>
  );
}

function SubmissionRow({ r }: { r: SubmissionSummary }) {
  return (
    <tr data-submission={r.id} data-status={r.status}>
      <td data-label="Student">
        <Link to={`/submissions/${r.id}`}>{r.userName ?? r.userEmail ?? r.userId.slice(0, 8)}</Link>
        <div class="muted small">{r.userEmail}</div>
      </td>
      <td data-label="Submitted">
        <time dateTime={r.createdAt} title={fmtDate(r.createdAt)}>
          {fmtRelative(r.createdAt)}
        </time>
        {r.reason !== 'submit' && <div class="muted small">{r.reason === 'bulk_regrade' ? 'bulk regrade' : 'regrade'}</div>}
      </td>
      <td data-label="Status">
        <StatusBadge status={r.status} />
      </td>
      <td data-label="Verdict">
        <VerdictBadge verdict={r.verdict} />
      </td>
      <td data-label="Score" class="num">
        {fmtScore(r.score, r.maxScore)}
      </td>
      <td data-label="Top finding" class="finding-cell">
        {r.topFinding ? <span class="mono small">{r.topFinding}</span> : <span class="muted">—</span>}
      </td>
    </tr>
  );
}
