import type { Me } from '@kgrader/schemas';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, getToken, onUnauthorized, setToken } from './api.js';
import { Link, match, navigate, useLocation } from './router.js';
import { ErrorBox, Loading } from './ui.js';
import { AssignmentForm } from './views/assignment-form.js';
import { AssignmentPage } from './views/assignment.js';
import { CoursePage } from './views/course.js';
import { ExerciseEditor } from './views/exercises.js';
import { TokensPage } from './views/tokens.js';
import { SimilarityPairPage } from './views/similarity.js';
import { Home } from './views/home.js';
import { SignIn } from './views/sign-in.js';
import { StatsPage } from './views/stats.js';
import { SubmissionPage } from './views/submission.js';
import './styles.css';

function Routes({ me }: { me: Me }) {
  const { path } = useLocation();
  let m: Record<string, string> | null;
  if (path === '/' || path === '') return <Home me={me} />;
  if ((m = match('/courses/:courseId', path))) return <CoursePage key={m['courseId']} me={me} courseId={m['courseId']!} />;
  if ((m = match('/courses/:courseId/assignments/new', path))) return <AssignmentForm courseId={m['courseId']!} />;
  if (path === '/tokens') return <TokensPage me={me} />;
  if ((m = match('/courses/:courseId/exercises/new', path))) return <ExerciseEditor courseId={m['courseId']!} />;
  if ((m = match('/exercises/:id', path))) return <ExerciseEditor key={m['id']} exerciseId={m['id']!} courseId={new URLSearchParams(location.search).get('course') ?? undefined} />;
  if ((m = match('/assignments/:id/edit', path))) return <AssignmentForm key={m['id']} assignmentId={m['id']!} />;
  if ((m = match('/assignments/:id/similarity/:runId/pairs/:pairId', path))) return <SimilarityPairPage assignmentId={m['id']!} runId={m['runId']!} pairId={m['pairId']!} />;
  if ((m = match('/assignments/:id/stats', path))) return <StatsPage key={m['id']} assignmentId={m['id']!} />;
  if ((m = match('/assignments/:id', path))) return <AssignmentPage key={m['id']} me={me} assignmentId={m['id']!} />;
  if ((m = match('/submissions/:id', path))) return <SubmissionPage key={m['id']} me={me} submissionId={m['id']!} />;
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        <Link to="/">Back to your courses</Link>
      </p>
    </section>
  );
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  // always checked at start: a pasted token, or the session cookie of an OpenID Connect sign-in
  const [state, setState] = useState<'checking' | 'signed-out' | 'signed-in'>('checking');
  const [error, setError] = useState<unknown>(null);

  useEffect(() => onUnauthorized(() => signOut('Your session expired or the token was revoked: sign in again.')), []);
  useEffect(() => {
    if (state !== 'checking') return;
    api.me().then(
      (m) => {
        setMe(m);
        setState('signed-in');
      },
      (e) => {
        if (e instanceof ApiError && e.status === 401) setToken(null);
        else setError(e);
        setState('signed-out');
      },
    );
  }, [state]);

  const [notice, setNotice] = useState<string | null>(() => {
    const pending = sessionStorage.getItem('kgrader.notice');
    sessionStorage.removeItem('kgrader.notice');
    // a refused OpenID Connect sign-in comes back as /app/#signin_error=<reason>
    const refused = new URLSearchParams(location.hash.slice(1)).get('signin_error');
    if (refused) history.replaceState(null, '', location.pathname + location.search);
    return refused ? `Sign-in refused: ${refused}` : pending;
  });
  function signOut(msg?: string) {
    if (me?.token.kind === 'session') void api.signOut().catch(() => {});
    setToken(null);
    setMe(null);
    setNotice(msg ?? null);
    setState('signed-out');
  }

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <a
            class="brand"
            href="/app/"
            onClick={(e) => {
              e.preventDefault();
              navigate('/app/');
            }}
          >
            <span aria-hidden="true" class="logo">
              k
            </span>
            kgrader
          </a>
          {me && (
            <div class="who">
              <Link to="/tokens" class="btn btn-ghost">
                API tokens
              </Link>
              <span class="who-name" data-testid="who">
                {me.user.name} <span class="muted">({me.user.email})</span>
              </span>
              <button type="button" class="btn btn-ghost" onClick={() => signOut()}>
                Sign out
              </button>
            </div>
          )}
        </div>
      </header>
      <main id="main" class="container">
        {state === 'checking' && <Loading what="Signing in" />}
        {state === 'signed-out' && (
          <>
            {notice && (
              <div class="notice" role="status">
                {notice}
              </div>
            )}
            {error !== null && !(error instanceof ApiError && error.status === 401) && <ErrorBox error={error} title="Could not reach the API" />}
            <SignIn
              onSignedIn={(token, m) => {
                setToken(token);
                setMe(m);
                setNotice(null);
                setError(null);
                setState('signed-in');
              }}
            />
          </>
        )}
        {state === 'signed-in' && me && <Routes me={me} />}
      </main>
      <footer class="container foot muted">
        kgrader · <a href="/docs">API documentation</a>
      </footer>
    </>
  );
}

/**
 * An LTI launch lands here as `/app/assignments/<id>#lti_session=<one-time code>`: the code leaves
 * the URL at once (history, referrers) and is exchanged for a short-lived API token.
 */
async function takeLtiSession(): Promise<string | null> {
  const code = new URLSearchParams(location.hash.slice(1)).get('lti_session');
  if (!code) return null;
  history.replaceState(null, '', location.pathname + location.search);
  const res = await fetch('/lti/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  if (!res.ok) {
    const problem = (await res.json().catch(() => null)) as { detail?: string } | null;
    return problem?.detail ?? `the LMS sign-in failed (HTTP ${res.status}): launch again from your course`;
  }
  setToken(((await res.json()) as { token: string }).token);
  return null;
}

const ltiError = await takeLtiSession().catch((err: unknown) => `the LMS sign-in failed: ${String(err)}`);
if (ltiError) sessionStorage.setItem('kgrader.notice', ltiError);
render(<App />, document.getElementById('root')!);
