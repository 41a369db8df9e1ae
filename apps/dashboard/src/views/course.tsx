import type { Me } from '@kgrader/schemas';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { Link } from '../router.js';
import { ExerciseList } from './exercises.js';
import { Roster } from './roster.js';
import { Crumbs, ErrorBox, errorText, fmtDate, Loading, PageTitle, useAsync } from '../ui.js';

export function CoursePage({ me, courseId }: { me: Me; courseId: string }) {
  const course = useAsync(() => api.course(courseId), [courseId]);
  const assignments = useAsync(() => api.assignments(courseId), [courseId]);
  const [membersKey, setMembersKey] = useState(0);
  if (course.error) return <ErrorBox error={course.error} />;
  if (!course.data) return <Loading />;
  const c = course.data;
  const instructor = c.role === 'instructor' || me.user.isAdmin;
  return (
    <section>
      <Crumbs items={[{ to: '/', label: 'Courses' }, { label: c.code }]} />
      <PageTitle sub={<span class="mono">{c.code}</span>}>{c.title}</PageTitle>
      <div class="section-head">
        <h2>Assignments</h2>
        {instructor && (
          <Link to={`/courses/${c.id}/assignments/new`} class="btn btn-primary">
            New assignment
          </Link>
        )}
      </div>
      {assignments.error ? <ErrorBox error={assignments.error} /> : null}
      {assignments.loading && !assignments.data && <Loading />}
      {assignments.data?.length === 0 && <p class="muted">No assignments yet.</p>}
      {assignments.data && assignments.data.length > 0 && (
        <ul class="tiles" aria-label="Assignments">
          {assignments.data.map((a) => {
            const closed = a.dueAt && new Date(a.dueAt) < new Date();
            return (
              <li key={a.id} class="tile">
                <Link to={`/assignments/${a.id}`} class="tile-link">
                  <span class="tile-title">{a.title}</span>
                  <span class="muted">
                    exercise <span class="mono">{a.exerciseSlug}</span> · {a.maxPoints} points
                  </span>
                  <span class="muted">{a.dueAt ? `${closed ? 'closed' : 'due'} ${fmtDate(a.dueAt)}` : 'no due date'}</span>
                </Link>
              </li>
            );
          })}
        </ul>
      )}
      {instructor && <ExerciseList courseId={c.id} />}
      {instructor && <Members courseId={c.id} key={membersKey} />}
      {instructor && <Roster courseId={c.id} onApplied={() => setMembersKey((k) => k + 1)} />}
    </section>
  );
}

function Members({ courseId }: { courseId: string }) {
  const members = useAsync(() => api.members(courseId), [courseId]);
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<'student' | 'instructor'>('student');
  const [error, setError] = useState<string | null>(null);
  return (
    <section aria-labelledby="members-title" class="card">
      <h2 id="members-title">Members</h2>
      {members.error ? <ErrorBox error={members.error} /> : null}
      {members.data && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Course members</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
              </tr>
            </thead>
            <tbody>
              {members.data.map((m) => (
                <tr key={m.userId}>
                  <td>{m.name}</td>
                  <td class="mono">{m.email}</td>
                  <td>{m.role}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        class="grid-form inline-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          try {
            await api.addMember(courseId, { email: email.trim(), ...(name.trim() ? { name: name.trim() } : {}), role });
            setEmail('');
            setName('');
            members.reload();
          } catch (err) {
            setError(errorText(err));
          }
        }}
      >
        <div class="field">
          <label for="m-email">Email</label>
          <input id="m-email" type="email" value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} required />
        </div>
        <div class="field">
          <label for="m-name">Name (optional)</label>
          <input id="m-name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="m-role">Role</label>
          <select id="m-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as 'student')}>
            <option value="student">student</option>
            <option value="instructor">instructor</option>
          </select>
        </div>
        <div class="field field-end">
          <button type="submit" class="btn">
            Enrol
          </button>
        </div>
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
