import { api } from '../api.js';
import { Histogram, PassRateLine, TopFindings } from '../charts.js';
import { Link } from '../router.js';
import { Crumbs, ErrorBox, Loading, PageTitle, useAsync } from '../ui.js';

export function StatsPage({ assignmentId }: { assignmentId: string }) {
  const data = useAsync(async () => {
    const a = await api.assignment(assignmentId);
    const [stats, c] = await Promise.all([api.stats(assignmentId), api.course(a.courseId)]);
    return { a, c, stats };
  }, [assignmentId]);
  if (data.error) return <ErrorBox error={data.error} />;
  if (!data.data) return <Loading what="Computing statistics" />;
  const { a, c, stats } = data.data;
  const pct = stats.passRate === null ? '—' : `${Math.round(stats.passRate * 100)}%`;
  return (
    <section>
      <Crumbs items={[{ to: '/', label: 'Courses' }, { to: `/courses/${c.id}`, label: c.code }, { to: `/assignments/${a.id}`, label: a.title }, { label: 'Statistics' }]} />
      <PageTitle sub={<Link to={`/assignments/${a.id}`}>Back to the submissions</Link>}>Statistics: {a.title}</PageTitle>
      <dl class="kpis" data-testid="kpis">
        <div class="kpi">
          <dt>Pass rate</dt>
          <dd>{pct}</dd>
        </div>
        <div class="kpi">
          <dt>Students graded</dt>
          <dd>
            {stats.gradedStudents} / {stats.students}
          </dd>
        </div>
        <div class="kpi">
          <dt>Submissions</dt>
          <dd>{stats.submissions}</dd>
        </div>
        <div class="kpi">
          <dt>Verdicts (latest)</dt>
          <dd class="small">
            <span class="badge badge-pass">{stats.verdicts.pass} pass</span> <span class="badge badge-fail">{stats.verdicts.fail} fail</span>{' '}
            <span class="badge badge-error">{stats.verdicts.error} error</span>
          </dd>
        </div>
      </dl>
      <div class="chart-grid">
        <section class="card" aria-labelledby="c1">
          <h2 id="c1">Score distribution</h2>
          <Histogram bins={stats.histogram} maxPoints={a.maxPoints} title="Score histogram" />
        </section>
        <section class="card" aria-labelledby="c2">
          <h2 id="c2">Pass rate over time</h2>
          <PassRateLine points={stats.passRateOverTime} title="Pass rate over time" />
        </section>
        <section class="card chart-wide" aria-labelledby="c3">
          <h2 id="c3">Most frequent findings</h2>
          <p class="muted small">How many students’ latest submission hit each bug.</p>
          <TopFindings items={stats.topFindings} students={stats.gradedStudents} />
        </section>
      </div>
    </section>
  );
}
