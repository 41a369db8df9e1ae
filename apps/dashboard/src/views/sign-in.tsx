import type { Me } from '@kgrader/schemas';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';

/** The providers' sign-in buttons: plain links (the API redirects to the provider and back). */
function Providers() {
  const [providers, setProviders] = useState<{ id: string; name: string }[]>([]);
  useEffect(() => {
    fetch('/auth/providers')
      .then((r) => (r.ok ? (r.json() as Promise<{ id: string; name: string }[]>) : []))
      .then(setProviders, () => setProviders([]));
  }, []);
  if (providers.length === 0) return null;
  const back = location.pathname.startsWith('/app') ? location.pathname + location.search : '/app/';
  return (
    <div class="providers" data-testid="providers">
      {providers.map((p) => (
        <a key={p.id} class="btn btn-primary" href={`/auth/login/${encodeURIComponent(p.id)}?returnTo=${encodeURIComponent(back)}`}>
          Sign in with {p.name}
        </a>
      ))}
      <p class="muted">or, for scripts and tests, with an API token:</p>
    </div>
  );
}

/** Paste-in sign-in with an API token; the token is kept in this tab's sessionStorage only. */
export function SignIn({ onSignedIn }: { onSignedIn: (token: string, me: Me) => void }) {
  const [token, setTokenValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section class="card signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      <Providers />
      <p class="muted">
        Paste the API token your instructor or administrator gave you. It stays in this browser tab only and is forgotten when the tab closes.
      </p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const t = token.trim().replace(/^Bearer\s+/i, '');
          if (!t) return setError('Enter a token.');
          setBusy(true);
          setError(null);
          try {
            const me = await api.me(t);
            onSignedIn(t, me);
          } catch (err) {
            setError(err instanceof ApiError && err.status === 401 ? 'This token is unknown, revoked or expired.' : err instanceof Error ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setTokenValue((e.target as HTMLInputElement).value)}
          aria-describedby={error ? 'token-error' : undefined}
          aria-invalid={error ? true : undefined}
          required
        />
        {error && (
          <p id="token-error" class="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}
