import type { Me } from '@kgrader/schemas';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Link, navigate } from '../router.js';
import { ErrorBox, errorText, Loading, PageTitle, useAsync } from '../ui.js';

export function Home({ me }: { me: Me }) {
  const courses = useAsync(() => api.courses(), []);
  return (
    <section>
      <PageTitle sub={me.user.isAdmin ? 'Administrator' : undefined}>Your courses</PageTitle>
      {courses.error ? <ErrorBox error={courses.error} /> : null}
      {courses.loading && !courses.data && <Loading />}
      {courses.data && courses.data.length === 0 && <p class="muted">You are not enrolled in any course yet.</p>}
      {courses.data && courses.data.length > 0 && (
        <ul class="tiles" aria-label="Courses">
          {courses.data.map((c) => (
            <li key={c.id} class="tile">
              <Link to={`/courses/${c.id}`} class="tile-link">
                <span class="tile-title">{c.title}</span>
                <span class="muted mono">{c.code}</span>
              </Link>
              <span class={`role role-${c.role ?? 'none'}`}>{c.role ?? 'admin'}</span>
            </li>
          ))}
        </ul>
      )}
      {(me.user.canCreateCourses || me.user.isAdmin) && <NewCourse />}
    </section>
  );
}

function NewCourse() {
  const [code, setCode] = useState('');
  const [title, setTitle] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <details class="card">
      <summary>Create a course</summary>
      <form
        class="grid-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const c = await api.createCourse({ code: code.trim(), title: title.trim() });
            navigate(`/app/courses/${c.id}`);
          } catch (err) {
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <div class="field">
          <label for="course-code">Code</label>
          <input id="course-code" value={code} onInput={(e) => setCode((e.target as HTMLInputElement).value)} pattern="[a-z0-9][a-z0-9\-]{1,62}" required aria-describedby="course-code-help" />
          <small id="course-code-help" class="muted">
            lowercase letters, digits and dashes, e.g. os-2025
          </small>
        </div>
        <div class="field">
          <label for="course-title">Title</label>
          <input id="course-title" value={title} onInput={(e) => setTitle((e.target as HTMLInputElement).value)} required />
        </div>
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
        <div>
          <button class="btn btn-primary" type="submit" disabled={busy}>
            Create course
          </button>
        </div>
      </form>
    </details>
  );
}
