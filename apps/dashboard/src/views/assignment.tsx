// An assignment's page: its facts, then by role the instructors' table and course operations
// (assignment-table, -regrade, -admin, similarity) or the student's handout, upload and own
// submissions (assignment-student, -upload).
import type { AssignmentOut, Me } from '@kgrader/schemas';
import { api } from '../api.js';
import { AssignmentAdmin, Extensions, Handout } from './assignment-admin.js';
import { StudentAssignment } from './assignment-student.js';
import { InstructorAssignment } from './assignment-table.js';
import { SimilarityPanel } from './similarity.js';
import { Crumbs, ErrorBox, fmtDate, Loading, PageTitle, useAsync } from '../ui.js';

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
