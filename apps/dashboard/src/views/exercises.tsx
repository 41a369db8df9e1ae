// Exercise authoring (issue 12): a course's exercises, the draft editor (spec as JSON, handout,
// starter files, solutions with what each must grade as), publishing and each version's checks.
import type { ExerciseDraftInput, ExerciseOut, ExerciseSummary, ExerciseVersionOut } from '@kgrader/schemas';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Link, navigate } from '../router.js';
import { Crumbs, ErrorBox, errorText, fmtDate, Loading, PageTitle, useAsync } from '../ui.js';

export function ExerciseList({ courseId }: { courseId: string }) {
  const list = useAsync(() => api.courseExercises(courseId), [courseId]);
  return (
    <section aria-labelledby="ex-title" class="card">
      <div class="section-head">
        <h2 id="ex-title">Exercises</h2>
        <Link to={`/courses/${courseId}/exercises/new`} class="btn">
          New exercise
        </Link>
      </div>
      {list.error ? <ErrorBox error={list.error} /> : null}
      {list.data && (
        <div class="table-wrap">
          <table data-testid="exercises">
            <caption class="sr-only">Exercises this course can use</caption>
            <thead>
              <tr>
                <th scope="col">Exercise</th>
                <th scope="col">Owner</th>
                <th scope="col">Published</th>
                <th scope="col">Versions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((e: ExerciseSummary) => (
                <tr key={e.id} data-exercise={e.slug}>
                  <td>
                    <Link to={`/exercises/${e.id}?course=${courseId}`}>{e.slug}</Link> <span class="muted">{e.title}</span>
                  </td>
                  <td>{e.courseId ? 'this course' : 'shipped'}</td>
                  <td>{e.latestPublished ? `v${e.latestPublished}` : '—'}</td>
                  <td>{e.versions.map((v) => `v${v.version} ${v.status}`).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const TEMPLATE: ExerciseDraftInput = {
  spec: {
    slug: 'my-exercise',
    title: 'My exercise',
    summary: 'What the driver must do.',
    module: 'mydev',
    device: '/dev/mydev',
    tests: [
      { name: 'load', kind: 'load', description: 'the module loads', points: 1 },
      { name: 'write_read', kind: 'write_read', description: 'a message written is read back', points: 2 },
      { name: 'unload', kind: 'unload', description: 'the module unloads', points: 1 },
    ],
  },
  handout: '',
  starterFiles: [],
  solutions: [],
};

interface FileRow {
  name: string;
  content: string;
}
interface SolutionRow {
  name: string;
  verdict: 'pass' | 'fail';
  description: string;
  kinds: string;
  failingTests: string;
  titleIncludes: string;
  files: FileRow[];
}

function rowsOf(d: ExerciseDraftInput): { spec: string; handout: string; starter: FileRow[]; solutions: SolutionRow[] } {
  return {
    spec: JSON.stringify(d.spec, null, 2),
    handout: d.handout ?? '',
    starter: (d.starterFiles ?? []).map((f) => ({ ...f })),
    solutions: (d.solutions ?? []).map((s) => ({
      name: s.name,
      verdict: s.expectation.verdict,
      description: s.expectation.description,
      kinds: (s.expectation.anyOfFindingKinds ?? []).join(', '),
      failingTests: (s.expectation.failingTests ?? []).join(', '),
      titleIncludes: s.expectation.titleIncludes ?? '',
      files: s.files.map((f) => ({ ...f })),
    })),
  };
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

function draftOf(f: ReturnType<typeof rowsOf>, keep: Map<string, ExerciseDraftInput['solutions']>): ExerciseDraftInput {
  let spec: ExerciseDraftInput['spec'];
  try {
    spec = JSON.parse(f.spec) as ExerciseDraftInput['spec'];
  } catch (err) {
    throw new Error(`The spec is not valid JSON: ${(err as Error).message}`);
  }
  return {
    spec,
    handout: f.handout,
    starterFiles: f.starter,
    solutions: f.solutions.map((s) => {
      // fields this editor does not show (withSymbolsAllowed, builds, consoleTruncated) are kept as they were
      const before = keep.get('all')?.find((x) => x.name === s.name)?.expectation ?? {};
      return {
        name: s.name.trim(),
        expectation: {
          ...before,
          description: s.description,
          verdict: s.verdict,
          anyOfFindingKinds: list(s.kinds),
          failingTests: list(s.failingTests),
          ...(s.titleIncludes.trim() ? { titleIncludes: s.titleIncludes.trim() } : { titleIncludes: undefined }),
        },
        files: s.files,
      };
    }),
  };
}

export function ExerciseEditor(props: { courseId: string } | { exerciseId: string; courseId?: string | undefined }) {
  const editing = 'exerciseId' in props;
  const loaded = useAsync(() => (editing ? api.exercise(props.exerciseId) : Promise.resolve(undefined)), [editing ? props.exerciseId : props.courseId]);
  const [f, setF] = useState<ReturnType<typeof rowsOf> | null>(editing ? null : rowsOf(TEMPLATE));
  const [keep] = useState(new Map<string, ExerciseDraftInput['solutions']>());
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (editing && loaded.data && !f) {
      keep.set('all', loaded.data.draft.solutions);
      setF(rowsOf(loaded.data.draft));
    }
  }, [loaded.data]);
  if (loaded.error) return <ErrorBox error={loaded.error} />;
  if (!f) return <Loading />;
  const ex: ExerciseOut | undefined = loaded.data;
  const courseId = props.courseId ?? ex?.courseId ?? undefined;
  const upd = (patch: Partial<typeof f>) => setF({ ...f, ...patch });
  const updSolution = (i: number, patch: Partial<SolutionRow>) => upd({ solutions: f.solutions.map((s, j) => (j === i ? { ...s, ...patch } : s)) });

  const save = async (): Promise<ExerciseOut | null> => {
    setError(null);
    setNotice(null);
    try {
      const draft = draftOf(f, keep);
      const out = editing ? await api.saveDraft(props.exerciseId, draft) : await api.createExercise(props.courseId, draft);
      keep.set('all', out.draft.solutions);
      if (!editing) navigate(`/app/exercises/${out.id}?course=${props.courseId}`);
      else loaded.reload();
      return out;
    } catch (err) {
      const problem = (err as { problem?: { errors?: { path: string; message: string }[] } }).problem;
      setError(`${errorText(err)}${problem?.errors ? `: ${problem.errors.map((e) => `${e.path} ${e.message}`).join('; ')}` : ''}`);
      return null;
    }
  };

  return (
    <section>
      <Crumbs items={[{ to: '/', label: 'Courses' }, ...(courseId ? [{ to: `/courses/${courseId}`, label: 'Course' }] : []), { label: editing ? (ex?.slug ?? 'Exercise') : 'New exercise' }]} />
      <PageTitle sub={ex ? <>{ex.courseId ? 'owned by this course' : 'shipped with kgrader'} · newest published version: {ex.latestPublished ? `v${ex.latestPublished}` : 'none'}</> : 'A draft: publish it once its solutions are in.'}>
        {editing ? `Exercise ${ex?.slug ?? ''}` : 'New exercise'}
      </PageTitle>
      <form
        class="card grid-form"
        aria-label="Exercise draft"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          if (await save()) setNotice('Draft saved.');
          setBusy(false);
        }}
      >
        <div class="field field-wide">
          <label for="x-spec">Spec (JSON: slug, title, summary, module, device, limits, policy, tests with visibility)</label>
          <textarea id="x-spec" class="mono" rows={14} value={f.spec} onInput={(e) => upd({ spec: (e.target as HTMLTextAreaElement).value })} />
        </div>
        <div class="field field-wide">
          <label for="x-handout">Handout (shown to students)</label>
          <textarea id="x-handout" rows={6} value={f.handout} onInput={(e) => upd({ handout: (e.target as HTMLTextAreaElement).value })} />
        </div>
        <fieldset class="field field-wide">
          <legend>Starter files</legend>
          {f.starter.map((file, i) => (
            <div key={i} class="file-row">
              <label>
                Starter file name <input value={file.name} onInput={(e) => upd({ starter: f.starter.map((x, j) => (j === i ? { ...x, name: (e.target as HTMLInputElement).value } : x)) })} />
              </label>
              <label>
                Content
                <textarea class="mono" rows={4} value={file.content} onInput={(e) => upd({ starter: f.starter.map((x, j) => (j === i ? { ...x, content: (e.target as HTMLTextAreaElement).value } : x)) })} />
              </label>
              <button type="button" class="btn btn-ghost" onClick={() => upd({ starter: f.starter.filter((_, j) => j !== i) })}>
                Remove starter file
              </button>
            </div>
          ))}
          <button type="button" class="btn" onClick={() => upd({ starter: [...f.starter, { name: 'driver.c', content: '' }] })}>
            Add starter file
          </button>
        </fieldset>
        <fieldset class="field field-wide">
          <legend>Solutions (a reference that must pass, buggy ones that must be caught)</legend>
          {f.solutions.map((s, i) => (
            <div key={i} class="solution card" data-solution={s.name}>
              <div class="grid-form">
                <label class="field">
                  Solution name <input value={s.name} onInput={(e) => updSolution(i, { name: (e.target as HTMLInputElement).value })} />
                </label>
                <label class="field">
                  Must grade as
                  <select value={s.verdict} onChange={(e) => updSolution(i, { verdict: (e.target as HTMLSelectElement).value as 'pass' })}>
                    <option value="pass">pass (reference)</option>
                    <option value="fail">fail (buggy)</option>
                  </select>
                </label>
                <label class="field">
                  Description <input value={s.description} onInput={(e) => updSolution(i, { description: (e.target as HTMLInputElement).value })} />
                </label>
                <label class="field">
                  Caught by finding kinds <input value={s.kinds} placeholder="kasan, lockdep" onInput={(e) => updSolution(i, { kinds: (e.target as HTMLInputElement).value })} />
                </label>
                <label class="field">
                  Tests that must fail <input value={s.failingTests} onInput={(e) => updSolution(i, { failingTests: (e.target as HTMLInputElement).value })} />
                </label>
                <label class="field">
                  Finding title includes <input value={s.titleIncludes} onInput={(e) => updSolution(i, { titleIncludes: (e.target as HTMLInputElement).value })} />
                </label>
              </div>
              {s.files.map((file, k) => (
                <div key={k} class="file-row">
                  <label>
                    File name{' '}
                    <input value={file.name} onInput={(e) => updSolution(i, { files: s.files.map((x, j) => (j === k ? { ...x, name: (e.target as HTMLInputElement).value } : x)) })} />
                  </label>
                  <label>
                    Source
                    <textarea class="mono" rows={6} value={file.content} onInput={(e) => updSolution(i, { files: s.files.map((x, j) => (j === k ? { ...x, content: (e.target as HTMLTextAreaElement).value } : x)) })} />
                  </label>
                </div>
              ))}
              <div class="actions">
                <button type="button" class="btn" onClick={() => updSolution(i, { files: [...s.files, { name: 'extra.c', content: '' }] })}>
                  Add file
                </button>
                <label class="btn">
                  Load files from disk
                  <input
                    type="file"
                    class="sr-only"
                    multiple
                    accept=".c,.h"
                    onChange={async (e) => {
                      const picked = [...((e.target as HTMLInputElement).files ?? [])];
                      const files = await Promise.all(picked.map(async (p) => ({ name: p.name, content: await p.text() })));
                      updSolution(i, { files });
                    }}
                  />
                </label>
                <button type="button" class="btn btn-ghost" onClick={() => upd({ solutions: f.solutions.filter((_, j) => j !== i) })}>
                  Remove solution
                </button>
              </div>
            </div>
          ))}
          <button type="button" class="btn" onClick={() => upd({ solutions: [...f.solutions, { name: f.solutions.length ? `buggy-${f.solutions.length}` : 'reference', verdict: f.solutions.length ? 'fail' : 'pass', description: '', kinds: '', failingTests: '', titleIncludes: '', files: [{ name: 'driver.c', content: '' }] }] })}>
            Add solution
          </button>
        </fieldset>
        {error && (
          <p class="field-error field-wide" role="alert" data-testid="exercise-error">
            {error}
          </p>
        )}
        {notice && (
          <p class="notice field-wide" role="status">
            {notice}
          </p>
        )}
        <div class="field-wide actions">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {editing ? 'Save draft' : 'Create exercise'}
          </button>
          {editing && (
            <button
              type="button"
              class="btn"
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                if (await save()) {
                  try {
                    const v = await api.publish(props.exerciseId);
                    setNotice(`Version ${v.version} is being checked: its solutions are graded first.`);
                    loaded.reload();
                  } catch (err) {
                    setError(errorText(err));
                  }
                }
                setBusy(false);
              }}
            >
              Publish a new version
            </button>
          )}
        </div>
      </form>
      {ex && <Versions ex={ex} onChange={() => loaded.reload()} />}
    </section>
  );
}

function Versions({ ex, onChange }: { ex: ExerciseOut; onChange: () => void }) {
  const checking = ex.versions.some((v) => v.status === 'checking');
  useEffect(() => {
    if (!checking) return;
    const t = setInterval(onChange, 2000);
    return () => clearInterval(t);
  }, [checking]);
  const [open, setOpen] = useState<number | null>(null);
  const detail = useAsync(() => (open ? api.version(ex.id, open) : Promise.resolve(undefined)), [open, ex.versions.map((v) => v.status).join()]);
  return (
    <section class="card" aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      {ex.versions.length === 0 && <p class="muted">Not published yet.</p>}
      <ul class="versions" data-testid="versions">
        {[...ex.versions].reverse().map((v) => (
          <li key={v.version} data-version={v.version} data-status={v.status}>
            <button type="button" class="btn btn-ghost" onClick={() => setOpen(open === v.version ? null : v.version)} aria-expanded={open === v.version}>
              v{v.version}: {v.status}
            </button>{' '}
            <span class="muted">
              {v.origin === 'seed' ? 'seeded from exercises/' : 'published'} {fmtDate(v.createdAt)}
            </span>
          </li>
        ))}
      </ul>
      {detail.data && <Checks v={detail.data} />}
    </section>
  );
}

function Checks({ v }: { v: ExerciseVersionOut }) {
  return (
    <div class="table-wrap">
      <table data-testid="checks">
        <caption>Solutions of version {v.version}</caption>
        <thead>
          <tr>
            <th scope="col">Solution</th>
            <th scope="col">Check</th>
            <th scope="col">Verdict</th>
            <th scope="col">Broken promises</th>
          </tr>
        </thead>
        <tbody>
          {v.checks.map((c) => (
            <tr key={c.name} data-check={c.name} data-status={c.status}>
              <td class="mono">{c.name}</td>
              <td>{c.status}</td>
              <td>{c.verdict ?? '—'}</td>
              <td>{c.problems.join('; ') || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
