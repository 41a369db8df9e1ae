import type { AssignmentOut, FindingKind, Me, SubmissionStatus, SubmissionSummary } from '@kgrader/schemas';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { allSubmissions, api, ApiError, followSubmission, type ListFilters } from '../api.js';
import { Link, navigate, setQuery, useLocation } from '../router.js';
import { AssignmentAdmin, Extensions, Handout } from './assignment-admin.js';
import { SimilarityPanel } from './similarity.js';
import { Crumbs, csv, download, ErrorBox, errorText, fmtDate, fmtRelative, fmtScore, Loading, PageTitle, StatusBadge, useAsync, VerdictBadge } from '../ui.js';

const TERMINAL: SubmissionStatus[] = ['done', 'error', 'cancelled'];
// the schema's enum, without bundling zod into the browser (type-checked against FindingKind)
const FINDING_KINDS = ['kasan', 'kcsan', 'kfence', 'lockdep', 'atomic-sleep', 'bug', 'oops', 'panic', 'warning', 'hung-task', 'soft-lockup', 'rcu-stall', 'kmemleak', 'ubsan', 'list-corruption', 'refcount', 'stack-corruption', 'console-flood', 'policy', 'tamper', 'harness-lost', 'stack-frame', 'oom'] as const satisfies readonly FindingKind[];
type MissingKinds = Exclude<FindingKind, (typeof FINDING_KINDS)[number]>;
const _allKinds: [MissingKinds] extends [never] ? true : never = true;
void _allKinds;
const isLive = (s: SubmissionSummary) => !TERMINAL.includes(s.status);

export function AssignmentPage({ me, assignmentId }: { me: Me; assignmentId: string }) {
  const data = useAsync(async () => {
    const a = await api.assignment(assignmentId);
    const c = await api.course(a.courseId);
    return { a, c };
  }, [assignmentId]);
  if (data.error) return <ErrorBox error={data.error} />;
  if (!data.data) return <Loading />;
  const { a, c } = data.data;
  const instructor = c.role === 'instructor' || me.user.isAdmin;
  const changed = (next: AssignmentOut) => data.set((prev) => prev && { ...prev, a: next });
  return (
    <section>
      <Crumbs items={[{ to: '/', label: 'Courses' }, { to: `/courses/${c.id}`, label: c.code }, { label: a.title }]} />
      <PageTitle sub={<AssignmentFacts a={a} />}>{a.title}</PageTitle>
      {instructor ? (
        <>
          <InstructorAssignment a={a} />
          <AssignmentAdmin a={a} onChange={changed} />
          <Extensions a={a} />
          <SimilarityPanel assignmentId={a.id} />
        </>
      ) : (
        <>
          <Handout assignmentId={a.id} />
          <StudentAssignment a={a} />
        </>
      )}
    </section>
  );
}

function AssignmentFacts({ a }: { a: AssignmentOut }) {
  const closed = a.dueAt && new Date(a.dueAt) <= new Date();
  return (
    <>
      exercise <span class="mono">{a.exerciseSlug}</span> · {a.maxPoints} points ·{' '}
      {a.dueAt ? (closed ? `closed ${fmtDate(a.dueAt)}` : `due ${fmtDate(a.dueAt)}`) : 'no due date'}
      {a.yourDueAt && a.yourDueAt !== a.dueAt ? <span data-testid="your-due"> · your due date: {fmtDate(a.yourDueAt)}</span> : null}
      {a.latePolicy.kind === 'penalty' ? ` · late: −${a.latePolicy.percent}% per ${a.latePolicy.per} (max ${a.latePolicy.maxPercent}%) until ${a.latePolicy.cutoffHours} h after` : ''}
      {a.opensAt && new Date(a.opensAt) > new Date() ? ` · opens ${fmtDate(a.opensAt)}` : ''}
    </>
  );
}

// ---- instructor ----------------------------------------------------------------------------------

type SortKey = 'student' | 'createdAt' | 'status' | 'verdict' | 'score' | 'topFinding';
const PAGE = 25;

function InstructorAssignment({ a }: { a: AssignmentOut }) {
  const { query } = useLocation();
  const filters: ListFilters = {
    ...(query.get('verdict') ? { verdict: query.get('verdict')! } : {}),
    ...(query.get('kind') ? { findingKind: query.get('kind')! } : {}),
    ...(query.get('status') ? { status: query.get('status')! } : {}),
    ...(query.get('latest') === '1' ? { latest: true } : {}),
  };
  const student = query.get('student') ?? '';
  const sort = (query.get('sort') ?? 'createdAt') as SortKey;
  const dir = query.get('dir') === 'asc' ? 'asc' : 'desc';
  const page = Math.max(1, Number(query.get('page') ?? 1) || 1);
  const key = JSON.stringify(filters);
  const list = useAsync(() => allSubmissions(a.id, filters), [a.id, key]);

  // live status: SSE for up to 3 visible in-flight rows, a light poll of the list while any is in flight
  const rows = useMemo(() => {
    const items = list.data?.items ?? [];
    const s = student.trim().toLowerCase();
    const filtered = s ? items.filter((r) => `${r.userName ?? ''} ${r.userEmail ?? ''}`.toLowerCase().includes(s)) : items;
    const val = (r: SubmissionSummary): string | number => {
      switch (sort) {
        case 'student':
          return (r.userName ?? r.userEmail ?? '').toLowerCase();
        case 'status':
          return r.status;
        case 'verdict':
          return r.verdict ?? '';
        case 'score':
          return r.score ?? -1;
        case 'topFinding':
          return r.topFinding ?? '';
        default:
          return r.createdAt;
      }
    };
    return [...filtered].sort((x, y) => {
      const a1 = val(x);
      const b1 = val(y);
      const c = a1 < b1 ? -1 : a1 > b1 ? 1 : x.createdAt < y.createdAt ? 1 : -1;
      return dir === 'asc' ? c : -c;
    });
  }, [list.data, student, sort, dir]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const cur = Math.min(page, pages);
  const visible = rows.slice((cur - 1) * PAGE, cur * PAGE);
  const anyLive = (list.data?.items ?? []).some(isLive);
  useEffect(() => {
    if (!anyLive) return;
    const t = setInterval(() => list.reload(), 5000);
    return () => clearInterval(t);
  }, [anyLive]);
  const liveIds = visible.filter(isLive).slice(0, 3).map((r) => r.id).join(',');
  useEffect(() => {
    if (!liveIds) return;
    const stops = liveIds.split(',').map((id) =>
      followSubmission(id, (ev) => {
        list.set((prev) => prev && { ...prev, items: prev.items.map((r) => (r.id === ev.submissionId ? { ...r, status: ev.status, ...(ev.type === 'verdict' ? { verdict: ev.verdict ?? null, score: ev.score ?? null, maxScore: ev.maxScore ?? null } : {}) } : r)) });
        if (ev.type === 'verdict') list.reload();
      }),
    );
    return () => stops.forEach((s) => s());
  }, [liveIds]);

  const sortHeader = (k: SortKey, label: string) => {
    const active = sort === k;
    return (
      <th scope="col" aria-sort={active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
        <button type="button" class="sort" onClick={() => setQuery({ sort: k, dir: active && dir === 'desc' ? 'asc' : 'desc', page: null })}>
          {label}
          <span aria-hidden="true" class="sort-icon">
            {active ? (dir === 'asc' ? '▲' : '▼') : '↕'}
          </span>
        </button>
      </th>
    );
  };

  const exportCsv = () => {
    const header = ['submission_id', 'student_name', 'student_email', 'submitted_at', 'status', 'verdict', 'score', 'max_score', 'attempts', 'top_finding', 'summary'];
    const body = rows.map((r) => [r.id, r.userName, r.userEmail, r.createdAt, r.status, r.verdict, r.score, r.maxScore, r.attemptCount, r.topFinding, r.summary]);
    download(`${a.exerciseSlug}-${a.id.slice(0, 8)}-submissions.csv`, 'text/csv;charset=utf-8', csv([header, ...body]));
  };

  return (
    <>
      <div class="toolbar" role="toolbar" aria-label="Assignment actions">
        <Link to={`/assignments/${a.id}/stats`} class="btn">
          Statistics
        </Link>
        <Link to={`/assignments/${a.id}/edit`} class="btn">
          Edit assignment
        </Link>
        <RegradeAll assignmentId={a.id} onStarted={() => list.reload()} />
      </div>
      <StudentSubmit a={a} compact />
      <section aria-labelledby="subs-title">
        <div class="section-head">
          <h2 id="subs-title">Submissions</h2>
          <button type="button" class="btn" onClick={exportCsv} disabled={!rows.length}>
            Export CSV
          </button>
        </div>
        <form class="filters" role="search" aria-label="Filter submissions" onSubmit={(e) => e.preventDefault()}>
          <div class="field">
            <label for="f-student">Student</label>
            <input id="f-student" type="search" placeholder="name or email" value={student} onInput={(e) => setQuery({ student: (e.target as HTMLInputElement).value, page: null })} />
          </div>
          <div class="field">
            <label for="f-verdict">Verdict</label>
            <select id="f-verdict" value={query.get('verdict') ?? ''} onChange={(e) => setQuery({ verdict: (e.target as HTMLSelectElement).value, page: null })}>
              <option value="">any</option>
              <option value="pass">pass</option>
              <option value="fail">fail</option>
              <option value="error">error</option>
            </select>
          </div>
          <div class="field">
            <label for="f-kind">Finding kind</label>
            <select id="f-kind" value={query.get('kind') ?? ''} onChange={(e) => setQuery({ kind: (e.target as HTMLSelectElement).value, page: null })}>
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
            <select id="f-status" value={query.get('status') ?? ''} onChange={(e) => setQuery({ status: (e.target as HTMLSelectElement).value, page: null })}>
              <option value="">any</option>
              {['queued', 'building', 'booting', 'running', 'analyzing', 'done', 'error', 'cancelled'].map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <label class="check field-end">
            <input type="checkbox" checked={query.get('latest') === '1'} onChange={(e) => setQuery({ latest: (e.target as HTMLInputElement).checked ? '1' : null, page: null })} />
            Latest per student
          </label>
        </form>
        {list.error ? <ErrorBox error={list.error} /> : null}
        {list.loading && !list.data && <Loading what="Loading submissions" />}
        {list.data && (
          <>
            <p class="muted" aria-live="polite" data-testid="row-count">
              {rows.length} submission{rows.length === 1 ? '' : 's'}
              {list.data.capped ? ' (first 5000 only)' : ''}
              {anyLive ? ' · grading in progress, updating live' : ''}
            </p>
            <div class="table-wrap table-wrap-cards">
              <table class="subs cards" data-testid="submissions-table">
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
                    <tr key={r.id} data-submission={r.id}>
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
                  ))}
                </tbody>
              </table>
            </div>
            <nav class="pager" aria-label="Pages">
              <button type="button" class="btn btn-small" disabled={cur <= 1} onClick={() => setQuery({ page: cur - 1 })}>
                ← Previous
              </button>
              <span aria-current="page">
                Page {cur} of {pages}
              </span>
              <button type="button" class="btn btn-small" disabled={cur >= pages} onClick={() => setQuery({ page: cur + 1 })}>
                Next →
              </button>
            </nav>
          </>
        )}
      </section>
    </>
  );
}

function RegradeAll({ assignmentId, onStarted }: { assignmentId: string; onStarted: () => void }) {
  const [ids, setIds] = useState<string[] | null>(null);
  const [doneCount, setDone] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const started = useRef(0);
  useEffect(() => {
    if (!ids || ids.length === 0) return;
    let stop = false;
    const want = new Set(ids);
    const tick = async () => {
      try {
        const { items } = await allSubmissions(assignmentId, {});
        const n = items.filter((s) => want.has(s.id) && TERMINAL.includes(s.status)).length;
        if (!stop) setDone(n);
        if (n >= want.size) return;
      } catch {
        /* try again */
      }
      if (!stop) setTimeout(tick, 3000);
    };
    void tick();
    return () => {
      stop = true;
    };
  }, [ids]);
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
                const r = await api.regradeAll(assignmentId, 'latest');
                started.current = Date.now();
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

// ---- student ---------------------------------------------------------------------------------------

function StudentAssignment({ a }: { a: AssignmentOut }) {
  const list = useAsync(() => allSubmissions(a.id, {}, 1000), [a.id]);
  const items = list.data?.items ?? [];
  const anyLive = items.some(isLive);
  useEffect(() => {
    if (!anyLive) return;
    const t = setInterval(() => list.reload(), 4000);
    return () => clearInterval(t);
  }, [anyLive]);
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
      </section>
    </>
  );
}

/** The upload form: .c/.h files or one .tar.gz; an idempotency key per chosen file set. */
function StudentSubmit({ a, compact = false }: { a: AssignmentOut; compact?: boolean }) {
  const [files, setFiles] = useState<File[]>([]);
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const closed = !!a.dueAt && new Date(a.dueAt) <= new Date();
  const form = (
    <form
      id="submit"
      class="card submit-form"
      aria-labelledby="submit-title"
      onSubmit={async (e) => {
        e.preventDefault();
        if (!files.length) return setError('Choose your driver’s .c and .h files (or one .tar.gz).');
        setBusy(true);
        setError(null);
        try {
          const r = await api.submit(a.id, files, key || crypto.randomUUID());
          navigate(`/app/submissions/${r.id}`);
        } catch (err) {
          setError(err instanceof ApiError && err.status === 429 && err.retryAfter ? `${err.message}` : errorText(err));
          setBusy(false);
        }
      }}
    >
      <h2 id="submit-title">{compact ? 'Submit as instructor (test run)' : 'Submit your driver'}</h2>
      {closed && !compact && <p class="notice notice-error">This assignment is closed: new submissions are refused.</p>}
      <div class="field">
        <label for="files">Source files (.c, .h) or one .tar.gz</label>
        <input
          id="files"
          type="file"
          multiple
          accept=".c,.h,.tar.gz,.tgz"
          onChange={(e) => {
            setFiles(Array.from((e.target as HTMLInputElement).files ?? []));
            setKey(crypto.randomUUID());
            setError(null);
          }}
        />
      </div>
      {files.length > 0 && (
        <p class="muted small">
          {files.map((f) => `${f.name} (${f.size} B)`).join(', ')}
        </p>
      )}
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" class="btn btn-primary" disabled={busy}>
        {busy ? 'Uploading…' : 'Submit for grading'}
      </button>
    </form>
  );
  return compact ? (
    <details class="card-details">
      <summary>Submit a driver (test run)</summary>
      {form}
    </details>
  ) : (
    form
  );
}
