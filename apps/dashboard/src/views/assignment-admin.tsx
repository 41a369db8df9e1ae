// An instructor's settings of an assignment beyond the form (issue 12): who sees each test
// (visible, hidden, after the due date, after grades are published), publishing the grades, the
// pinned exercise version and moving to another one with the verdicts before and after.
import type { AssignmentOut, TestVisibility } from '@kgrader/schemas';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorBox, errorText, fmtDate, useAsync, VerdictBadge } from '../ui.js';

const LEVELS: { value: TestVisibility; label: string }[] = [
  { value: 'visible', label: 'visible' },
  { value: 'hidden', label: 'hidden' },
  { value: 'after_due_date', label: 'after the due date' },
  { value: 'after_published', label: 'after grades are published' },
];

export function AssignmentAdmin({ a, onChange }: { a: AssignmentOut; onChange: (a: AssignmentOut) => void }) {
  const info = useAsync(async () => {
    const exercises = await api.courseExercises(a.courseId);
    const ex = exercises.find((e) => e.slug === a.exerciseSlug);
    const version = ex && a.exerciseVersion ? await api.version(ex.id, a.exerciseVersion) : null;
    return { ex, version };
  }, [a.id, a.exerciseVersion]);
  const [error, setError] = useState<string | null>(null);
  const [vis, setVis] = useState<Record<string, TestVisibility>>(a.testVisibility);
  useEffect(() => setVis(a.testVisibility), [a.testVisibility]);
  const tests = info.data?.version?.spec.tests ?? [];
  const effective = (name: string, dflt?: TestVisibility) => vis[name] ?? dflt ?? 'visible';
  const published = info.data?.ex?.versions.filter((v) => v.status === 'published').map((v) => v.version) ?? [];
  const [target, setTarget] = useState<string>('');
  const moves = useAsync(() => api.versionMoves(a.id), [a.id, a.exerciseVersion]);
  const pending = (moves.data ?? []).some((m) => m.done < m.total);
  useEffect(() => {
    if (!pending) return;
    const t = setInterval(() => moves.reload(), 2000);
    return () => clearInterval(t);
  }, [pending]);

  return (
    <section class="card" aria-labelledby="settings-title">
      <h2 id="settings-title">Tests, grades and exercise version</h2>
      {info.error ? <ErrorBox error={info.error} /> : null}
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      <form
        aria-label="Test visibility"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            onChange(await api.updateAssignment(a.id, { testVisibility: vis }));
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <div class="table-wrap">
          <table data-testid="visibility">
            <caption>Who sees each test (students who cannot see every test see no verdict or score)</caption>
            <thead>
              <tr>
                <th scope="col">Test</th>
                <th scope="col">Points</th>
                <th scope="col">Students see it</th>
              </tr>
            </thead>
            <tbody>
              {tests.map((t) => (
                <tr key={t.name}>
                  <td class="mono">{t.name}</td>
                  <td>{t.points}</td>
                  <td>
                    <label class="sr-only" for={`vis-${t.name}`}>
                      Visibility of {t.name}
                    </label>
                    <select id={`vis-${t.name}`} value={effective(t.name, t.visibility)} onChange={(e) => setVis({ ...vis, [t.name]: (e.target as HTMLSelectElement).value as TestVisibility })}>
                      {LEVELS.map((l) => (
                        <option key={l.value} value={l.value}>
                          {l.label}
                        </option>
                      ))}
                    </select>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="actions">
          <button type="submit" class="btn">
            Save visibility
          </button>
          <button
            type="button"
            class="btn"
            onClick={async () => {
              setError(null);
              try {
                onChange(await api.updateAssignment(a.id, { gradesPublished: !a.gradesPublishedAt }));
              } catch (err) {
                setError(errorText(err));
              }
            }}
          >
            {a.gradesPublishedAt ? 'Withdraw published grades' : 'Publish grades'}
          </button>
          <span class="muted" data-testid="grades-published">
            {a.gradesPublishedAt ? `grades published ${fmtDate(a.gradesPublishedAt)}` : 'grades not published'}
          </span>
        </div>
      </form>
      <form
        class="inline-form"
        aria-label="Exercise version"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await api.moveVersion(a.id, Number(target));
            onChange(await api.assignment(a.id));
            moves.reload();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <p>
          Grades against <span class="mono">{a.exerciseSlug}</span> version <strong data-testid="pinned-version">{a.exerciseVersion ?? '—'}</strong>.
        </p>
        <label for="move-to">Move to version</label>{' '}
        <select id="move-to" value={target} onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}>
          <option value="">choose…</option>
          {published
            .filter((v) => v !== a.exerciseVersion)
            .map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
        </select>{' '}
        <button type="submit" class="btn" disabled={!target}>
          Move and regrade
        </button>
      </form>
      {(moves.data ?? []).map((m) => (
        <div class="table-wrap" key={m.id}>
          <table data-testid="version-move">
            <caption>
              v{m.fromVersion ?? '?'} → v{m.toVersion} ({fmtDate(m.createdAt)}): {m.done} of {m.total} regraded
            </caption>
            <thead>
              <tr>
                <th scope="col">Student</th>
                <th scope="col">Before</th>
                <th scope="col">After</th>
                <th scope="col">Changed</th>
              </tr>
            </thead>
            <tbody>
              {m.rows.map((r) => (
                <tr key={r.submissionId} data-changed={String(r.changed)}>
                  <td>{r.userEmail}</td>
                  <td>
                    <VerdictBadge verdict={r.before.verdict} /> {r.before.score ?? '—'}
                  </td>
                  <td>{r.after ? <><VerdictBadge verdict={r.after.verdict} /> {r.after.score ?? '—'}</> : 'regrading…'}</td>
                  <td>{r.changed === null ? '—' : r.changed ? 'yes' : 'no'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

export function Handout({ assignmentId }: { assignmentId: string }) {
  const h = useAsync(() => api.handout(assignmentId), [assignmentId]);
  if (!h.data) return h.error ? <ErrorBox error={h.error} /> : null;
  const d = h.data;
  return (
    <section class="card" aria-labelledby="handout-title" data-testid="handout">
      <h2 id="handout-title">
        Handout <span class="muted small">({d.exerciseSlug} v{d.version})</span>
      </h2>
      <pre class="handout">{d.handout || d.summary}</pre>
      {d.starterFiles.length > 0 && (
        <p>
          Starter files:{' '}
          {d.starterFiles.map((f) => (
            <a key={f.name} class="mono" href={`data:text/plain;charset=utf-8,${encodeURIComponent(f.content)}`} download={f.name}>
              {f.name}{' '}
            </a>
          ))}
        </p>
      )}
    </section>
  );
}

/** Per-student extensions: a student's own due date. */
export function Extensions({ a }: { a: AssignmentOut }) {
  const list = useAsync(() => api.extensions(a.id), [a.id]);
  const members = useAsync(() => api.members(a.courseId), [a.courseId]);
  const [userId, setUserId] = useState('');
  const [due, setDue] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const students = (members.data ?? []).filter((m) => m.role === 'student');
  return (
    <section class="card" aria-labelledby="ext-title">
      <h2 id="ext-title">Extensions</h2>
      <p class="muted">
        Late policy:{' '}
        {a.latePolicy.kind === 'hard'
          ? 'hard deadline (nothing accepted after the due date)'
          : `−${a.latePolicy.percent}% per started ${a.latePolicy.per}, at most ${a.latePolicy.maxPercent}%, accepted until ${a.latePolicy.cutoffHours} h after the due date`}
        . An extension is a student's own due date.
      </p>
      {list.error ? <ErrorBox error={list.error} /> : null}
      {list.data && list.data.length > 0 && (
        <div class="table-wrap">
          <table data-testid="extensions">
            <caption class="sr-only">Extensions</caption>
            <thead>
              <tr>
                <th scope="col">Student</th>
                <th scope="col">Due</th>
                <th scope="col">Reason</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {list.data.map((e) => (
                <tr key={e.userId} data-user={e.userEmail}>
                  <td>{e.userEmail}</td>
                  <td>{fmtDate(e.dueAt)}</td>
                  <td>{e.reason ?? '—'}</td>
                  <td>
                    <button type="button" class="btn btn-ghost" onClick={async () => (await api.withdrawExtension(a.id, e.userId).catch((err) => setError(errorText(err))), list.reload())}>
                      Withdraw
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        class="grid-form inline-form"
        aria-label="Grant an extension"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await api.grantExtension(a.id, userId, new Date(due).toISOString(), reason.trim() || undefined);
            setReason('');
            list.reload();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <div class="field">
          <label for="ext-user">Student to extend</label>
          <select id="ext-user" value={userId} onChange={(e) => setUserId((e.target as HTMLSelectElement).value)} required>
            <option value="">choose…</option>
            {students.map((m) => (
              <option key={m.userId} value={m.userId}>
                {m.name} ({m.email})
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="ext-due">Their due date</label>
          <input id="ext-due" type="datetime-local" value={due} onInput={(e) => setDue((e.target as HTMLInputElement).value)} required />
        </div>
        <div class="field">
          <label for="ext-reason">Reason (optional)</label>
          <input id="ext-reason" value={reason} maxLength={500} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field field-end">
          <button type="submit" class="btn">
            Grant extension
          </button>
        </div>
        {error && (
          <p class="field-error field-wide" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
