// Similarity checks (issue 12, item 6), instructors only: start a check, the pairs above the
// threshold, and a pair side by side with the matching fragments highlighted.
import type { SimilarityPairOut } from '@kgrader/schemas';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Link } from '../router.js';
import { Crumbs, ErrorBox, errorText, fmtDate, Loading, PageTitle, useAsync } from '../ui.js';

const pct = (x: number) => `${Math.round(x * 100)}%`;

export function SimilarityPanel({ assignmentId }: { assignmentId: string }) {
  const runs = useAsync(() => api.similarityRuns(assignmentId), [assignmentId]);
  const [threshold, setThreshold] = useState('60');
  const [error, setError] = useState<string | null>(null);
  const latest = runs.data?.[0];
  const pending = !!latest && (latest.status === 'queued' || latest.status === 'running');
  useEffect(() => {
    if (!pending) return;
    const t = setInterval(() => runs.reload(), 2000);
    return () => clearInterval(t);
  }, [pending]);
  return (
    <section class="card" aria-labelledby="sim-title" data-testid="similarity">
      <h2 id="sim-title">Similarity</h2>
      <p class="muted">Compares each student's latest submission with every other's (Dolos, C syntax; the starter files are left out). Also runs by itself once the due date has passed.</p>
      <form
        class="inline-form"
        aria-label="Start a similarity check"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await api.startSimilarity(assignmentId, Number(threshold) / 100);
            runs.reload();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <label for="sim-threshold">List pairs from (% similar)</label>{' '}
        <input id="sim-threshold" type="number" min={5} max={100} value={threshold} onInput={(e) => setThreshold((e.target as HTMLInputElement).value)} />{' '}
        <button type="submit" class="btn" disabled={pending}>
          Run similarity check
        </button>
      </form>
      {error && (
        <p class="field-error" role="alert">
          {error}
        </p>
      )}
      {runs.error ? <ErrorBox error={runs.error} /> : null}
      {latest && (
        <div data-testid="similarity-run" data-status={latest.status}>
          <p class="muted">
            {latest.trigger === 'due' ? 'After the due date' : 'Run'} {fmtDate(latest.createdAt)}: {latest.status}
            {latest.status === 'done' ? ` · ${latest.students ?? 0} students · ${latest.pairs.length} pair${latest.pairs.length === 1 ? '' : 's'} at ${pct(latest.threshold)} or more` : ''}
            {latest.error ? ` · ${latest.error}` : ''}
          </p>
          {latest.pairs.length > 0 && (
            <div class="table-wrap">
              <table data-testid="similarity-pairs">
                <caption class="sr-only">Similar pairs</caption>
                <thead>
                  <tr>
                    <th scope="col">Students</th>
                    <th scope="col">Similarity</th>
                    <th scope="col">Longest match</th>
                    <th scope="col">Fragments</th>
                  </tr>
                </thead>
                <tbody>
                  {latest.pairs.map((p) => (
                    <tr key={p.id}>
                      <td>
                        <Link to={`/assignments/${assignmentId}/similarity/${latest.id}/pairs/${p.id}`}>
                          {p.left.userName} ↔ {p.right.userName}
                        </Link>
                      </td>
                      <td>{pct(p.similarity)}</td>
                      <td>{p.longest} k-grams</td>
                      <td>{p.fragments}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </section>
  );
}

function Side({ side, marks, label }: { side: SimilarityPairOut['left']; marks: { file: string; startLine: number; endLine: number; n: number }[]; label: string }) {
  return (
    <div class="sim-side" data-testid={`side-${label}`}>
      <h2>
        {side.userName} <span class="muted small">({side.userEmail})</span>
      </h2>
      <Link to={`/submissions/${side.submissionId}`}>the submission</Link>
      {side.files.map((f) => (
        <figure key={f.name} class="source">
          <figcaption class="mono small">{f.name}</figcaption>
          <pre class="code">
            {f.content.split('\n').map((line, i) => {
              const m = marks.find((x) => x.file === f.name && i + 1 >= x.startLine && i + 1 <= x.endLine);
              return (
                <div key={i} class={m ? 'line hit' : 'line'} data-line={i + 1} data-fragment={m ? m.n : undefined}>
                  <span class="ln" aria-hidden="true">
                    {i + 1}
                  </span>
                  {line || ' '}
                </div>
              );
            })}
          </pre>
        </figure>
      ))}
    </div>
  );
}

export function SimilarityPairPage({ assignmentId, runId, pairId }: { assignmentId: string; runId: string; pairId: string }) {
  const pair = useAsync(() => api.similarityPair(assignmentId, runId, pairId), [pairId]);
  if (pair.error) return <ErrorBox error={pair.error} />;
  if (!pair.data) return <Loading />;
  const p = pair.data;
  const left = p.fragments.map((f, n) => ({ ...f.left, n: n + 1 }));
  const right = p.fragments.map((f, n) => ({ ...f.right, n: n + 1 }));
  return (
    <section>
      <Crumbs items={[{ to: '/', label: 'Courses' }, { to: `/assignments/${assignmentId}`, label: 'Assignment' }, { label: 'Similar pair' }]} />
      <PageTitle sub={`${p.fragments.length} matching fragment${p.fragments.length === 1 ? '' : 's'}, longest ${p.longest} k-grams`}>
        {pct(p.similarity)} similar: {p.left.userName} ↔ {p.right.userName}
      </PageTitle>
      <ol class="muted small" data-testid="fragments">
        {p.fragments.map((f, i) => (
          <li key={i}>
            {f.left.file}:{f.left.startLine}–{f.left.endLine} ↔ {f.right.file}:{f.right.startLine}–{f.right.endLine}
          </li>
        ))}
      </ol>
      <div class="sim-grid">
        <Side side={p.left} marks={left} label="left" />
        <Side side={p.right} marks={right} label="right" />
      </div>
    </section>
  );
}
