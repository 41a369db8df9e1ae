// Course roster (issue 12, item 3): import a CSV or sync from the LMS, previewing what would be
// added, changed and refused before applying it.
import type { RosterPlan } from '@kgrader/schemas';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { errorText, fmtDate, useAsync } from '../ui.js';

export function Roster({ courseId, onApplied }: { courseId: string; onApplied: () => void }) {
  const contexts = useAsync(() => api.ltiContexts(courseId).catch(() => []), [courseId]);
  const [csv, setCsv] = useState<string | null>(null);
  const [fileName, setFileName] = useState('');
  const [plan, setPlan] = useState<RosterPlan | null>(null);
  const [source, setSource] = useState<'csv' | 'lti'>('csv');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nrps = (contexts.data ?? []).filter((c) => c.nrps);
  const run = async (src: 'csv' | 'lti', dryRun: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const p = src === 'csv' ? await api.rosterImport(courseId, csv ?? '', dryRun) : await api.rosterSync(courseId, dryRun);
      setSource(src);
      setPlan(p);
      if (!dryRun) {
        onApplied();
        contexts.reload();
      }
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="roster-title">
      <h2 id="roster-title">Roster</h2>
      <p class="muted">
        A CSV with the columns <span class="mono">email</span>, <span class="mono">name</span>, <span class="mono">role</span> (student or instructor). Nobody is removed or demoted, and only this course is changed.
      </p>
      <div class="actions">
        <label class="btn">
          Choose a CSV file
          <input
            type="file"
            class="sr-only"
            accept=".csv,text/csv"
            aria-label="Roster CSV file"
            onChange={async (e) => {
              const f = (e.target as HTMLInputElement).files?.[0];
              if (!f) return;
              setFileName(f.name);
              setCsv(await f.text());
              setPlan(null);
            }}
          />
        </label>
        <span class="muted">{fileName}</span>
        <button type="button" class="btn" disabled={!csv || busy} onClick={() => run('csv', true)}>
          Preview import
        </button>
        {nrps.length > 0 && (
          <button type="button" class="btn" disabled={busy} onClick={() => run('lti', true)}>
            Preview LMS sync
          </button>
        )}
        {nrps.map((c) => (
          <span key={c.contextId} class="muted small">
            LMS course {c.title ?? c.contextId}: last synced {c.lastSyncAt ? fmtDate(c.lastSyncAt) : 'never'}
          </span>
        ))}
      </div>
      {error && (
        <p class="field-error" role="alert" data-testid="roster-error">
          {error}
        </p>
      )}
      {plan && (
        <div data-testid="roster-plan" data-dry-run={String(plan.dryRun)}>
          <p>
            <strong>{plan.dryRun ? 'Preview' : 'Applied'}:</strong> {plan.add.length} to add, {plan.change.length} to promote, {plan.unchanged.length} unchanged, {plan.refused.length} refused.
          </p>
          <div class="table-wrap">
            <table>
              <caption class="sr-only">Roster changes</caption>
              <thead>
                <tr>
                  <th scope="col">What</th>
                  <th scope="col">E-mail</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                </tr>
              </thead>
              <tbody>
                {plan.add.map((r) => (
                  <tr key={`a${r.email}`} data-kind="add">
                    <td>add{r.newUser ? ' (new account)' : ''}</td>
                    <td>{r.email}</td>
                    <td>{r.name}</td>
                    <td>{r.role}</td>
                  </tr>
                ))}
                {plan.change.map((r) => (
                  <tr key={`c${r.email}`} data-kind="change">
                    <td>promote</td>
                    <td>{r.email}</td>
                    <td>{r.name}</td>
                    <td>
                      {r.from} → {r.role}
                    </td>
                  </tr>
                ))}
                {plan.refused.map((r, i) => (
                  <tr key={`r${i}`} data-kind="refused">
                    <td>refused{r.line ? ` (line ${r.line})` : ''}</td>
                    <td>{r.email ?? '—'}</td>
                    <td colSpan={2}>{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {plan.dryRun && plan.add.length + plan.change.length > 0 && (
            <button type="button" class="btn btn-primary" disabled={busy} onClick={() => run(source, false)}>
              Apply {source === 'csv' ? 'import' : 'LMS sync'}
            </button>
          )}
        </div>
      )}
    </section>
  );
}
