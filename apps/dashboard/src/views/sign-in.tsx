import type { Me } from '@kgrader/schemas';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';

/** Paste-in sign-in with an API token; the token is kept in this tab's sessionStorage only. */
export function SignIn({ onSignedIn }: { onSignedIn: (token: string, me: Me) => void }) {
  const [token, setTokenValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section class="card signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
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
