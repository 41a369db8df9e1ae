// The signed-in user's own API tokens (for scripts and the CLI): create one (shown once), list, revoke.
import type { Me, TokenIssued, TokenScope } from '@kgrader/schemas';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Crumbs, ErrorBox, errorText, fmtDate, PageTitle, useAsync } from '../ui.js';

export function TokensPage({ me }: { me: Me }) {
  const list = useAsync(() => api.tokens(), []);
  const [name, setName] = useState('cli');
  const [scope, setScope] = useState<TokenScope>('submit');
  const [courseId, setCourseId] = useState('');
  const [days, setDays] = useState('90');
  const [issued, setIssued] = useState<TokenIssued | null>(null);
  const [error, setError] = useState<string | null>(null);
  const scopes: TokenScope[] = ['read', 'submit', 'instructor'];
  return (
    <section>
      <Crumbs items={[{ to: '/', label: 'Courses' }, { label: 'API tokens' }]} />
      <PageTitle sub="For scripts and the command line. A token never does more than you may, nor more than its scope.">API tokens</PageTitle>
      <form
        class="card grid-form"
        aria-label="New token"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            setIssued(await api.createToken({ name: name.trim() || 'api', scope, courseId: courseId || null, ...(days ? { expiresInDays: Number(days) } : {}) }));
            list.reload();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <div class="field">
          <label for="t-name">Name</label>
          <input id="t-name" value={name} maxLength={100} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="t-scope">Scope</label>
          <select id="t-scope" value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value as TokenScope)}>
            {scopes.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="t-course">Course</label>
          <select id="t-course" value={courseId} onChange={(e) => setCourseId((e.target as HTMLSelectElement).value)}>
            <option value="">all my courses</option>
            {me.memberships.map((m) => (
              <option key={m.courseId} value={m.courseId}>
                {m.courseCode}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="t-days">Expires in (days, empty: never)</label>
          <input id="t-days" type="number" min={1} max={3650} value={days} onInput={(e) => setDays((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field field-end">
          <button type="submit" class="btn btn-primary">
            Create token
          </button>
        </div>
        {error && (
          <p class="field-error field-wide" role="alert">
            {error}
          </p>
        )}
        {issued && (
          <div class="notice field-wide" role="status" data-testid="issued-token">
            Copy it now, it is not shown again: <code class="mono">{issued.token}</code>
          </div>
        )}
      </form>
      {list.error ? <ErrorBox error={list.error} /> : null}
      {list.data && (
        <div class="table-wrap card">
          <table data-testid="tokens">
            <caption>Your tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Scope</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((t) => (
                <tr key={t.id} data-token={t.id} data-revoked={String(!!t.revokedAt)}>
                  <td>{t.name}</td>
                  <td class="mono">{t.prefix}…</td>
                  <td>{t.scope}</td>
                  <td>{fmtDate(t.expiresAt)}</td>
                  <td>{fmtDate(t.lastUsedAt)}</td>
                  <td>
                    {t.revokedAt ? (
                      `revoked ${fmtDate(t.revokedAt)}`
                    ) : (
                      <button
                        type="button"
                        class="btn btn-ghost"
                        aria-label={`Revoke ${t.name} (${t.prefix})`}
                        onClick={async () => {
                          setError(null);
                          try {
                            await api.revokeToken(t.id);
                            list.reload();
                          } catch (err) {
                            setError(errorText(err));
                          }
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
