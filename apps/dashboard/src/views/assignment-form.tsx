import type { AssignmentOut } from '@kgrader/schemas';
import { useEffect, useState } from 'preact/hooks';
import { api, type ExerciseInfo } from '../api.js';
import { navigate } from '../router.js';
import { Crumbs, ErrorBox, errorText, Loading, PageTitle, useAsync } from '../ui.js';

/** ISO -> the value of an <input type="datetime-local"> in the browser's time zone. */
function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const fromLocalInput = (v: string): string | null => (v ? new Date(v).toISOString() : null);

interface FormState {
  exerciseSlug: string;
  title: string;
  opensAt: string;
  dueAt: string;
  maxPoints: string;
  rateLimitCount: string;
  rateLimitWindowMinutes: string;
  showTestDetailsBeforeDue: boolean;
  supersedeQueued: boolean;
  lateKind: 'hard' | 'penalty';
  latePercent: string;
  latePer: 'hour' | 'day';
  lateMax: string;
  lateCutoffHours: string;
}

function initial(a?: AssignmentOut): FormState {
  return {
    exerciseSlug: a?.exerciseSlug ?? 'msgbuf',
    title: a?.title ?? '',
    opensAt: toLocalInput(a?.opensAt ?? null),
    dueAt: toLocalInput(a?.dueAt ?? null),
    maxPoints: String(a?.maxPoints ?? 100),
    rateLimitCount: String(a?.rateLimitCount ?? 10),
    rateLimitWindowMinutes: String(Math.round((a?.rateLimitWindowSeconds ?? 3600) / 60)),
    showTestDetailsBeforeDue: a?.showTestDetailsBeforeDue ?? true,
    supersedeQueued: a?.supersedeQueued ?? true,
    lateKind: a?.latePolicy.kind ?? 'hard',
    latePercent: String(a?.latePolicy.kind === 'penalty' ? a.latePolicy.percent : 10),
    latePer: a?.latePolicy.kind === 'penalty' ? a.latePolicy.per : 'day',
    lateMax: String(a?.latePolicy.kind === 'penalty' ? a.latePolicy.maxPercent : 50),
    lateCutoffHours: String(a?.latePolicy.kind === 'penalty' ? a.latePolicy.cutoffHours : 72),
  };
}

export function AssignmentForm(props: { courseId: string } | { assignmentId: string }) {
  const editing = 'assignmentId' in props;
  const existing = useAsync(() => (editing ? api.assignment(props.assignmentId) : Promise.resolve(undefined)), [editing ? props.assignmentId : props.courseId]);
  const exercises = useAsync(async (): Promise<ExerciseInfo[]> => {
    const cid = editing ? (await api.assignment(props.assignmentId)).courseId : props.courseId;
    const list = await api.courseExercises(cid).catch(() => []);
    return list.filter((e) => e.latestPublished !== null).map((e) => ({ slug: e.slug, title: `${e.title} (v${e.latestPublished}${e.courseId ? ', this course' : ''})`, summary: e.summary, maxScore: e.maxScore ?? 0 }));
  }, []);
  const [f, setF] = useState<FormState | null>(editing ? null : initial());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (editing && existing.data && !f) setF(initial(existing.data));
  }, [existing.data]);

  if (existing.error) return <ErrorBox error={existing.error} />;
  if (!f) return <Loading />;
  const courseId = editing ? existing.data?.courseId : props.courseId;
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setF({ ...f, [k]: v });
  const text = (k: keyof FormState) => (e: Event) => set(k, (e.target as HTMLInputElement).value as never);
  const ex: ExerciseInfo[] = exercises.data ?? [];
  const chosen = ex.find((x) => x.slug === f.exerciseSlug);

  return (
    <section>
      <Crumbs
        items={[
          { to: '/', label: 'Courses' },
          ...(courseId ? [{ to: `/courses/${courseId}`, label: 'Course' }] : []),
          ...(editing && existing.data ? [{ to: `/assignments/${existing.data.id}`, label: existing.data.title }] : []),
          { label: editing ? 'Edit' : 'New assignment' },
        ]}
      />
      <PageTitle>{editing ? 'Edit assignment' : 'New assignment'}</PageTitle>
      <form
        class="card grid-form"
        aria-label={editing ? 'Edit assignment' : 'New assignment'}
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          const common = {
            title: f.title.trim(),
            opensAt: fromLocalInput(f.opensAt),
            dueAt: fromLocalInput(f.dueAt),
            maxPoints: Number(f.maxPoints),
            rateLimitCount: Number(f.rateLimitCount),
            rateLimitWindowSeconds: Math.max(1, Math.round(Number(f.rateLimitWindowMinutes) * 60)),
            showTestDetailsBeforeDue: f.showTestDetailsBeforeDue,
            supersedeQueued: f.supersedeQueued,
            latePolicy:
              f.lateKind === 'hard'
                ? ({ kind: 'hard' } as const)
                : ({ kind: 'penalty', percent: Number(f.latePercent), per: f.latePer, maxPercent: Number(f.lateMax), cutoffHours: Number(f.lateCutoffHours) } as const),
          };
          try {
            const a = editing ? await api.updateAssignment(props.assignmentId, common) : await api.createAssignment(props.courseId, { exerciseSlug: f.exerciseSlug, ...common });
            navigate(`/app/assignments/${a.id}`);
          } catch (err) {
            setError(errorText(err));
            setBusy(false);
          }
        }}
      >
        <div class="field">
          <label for="a-exercise">Exercise</label>
          {ex.length > 0 ? (
            <select id="a-exercise" value={f.exerciseSlug} disabled={editing} onChange={text('exerciseSlug')} aria-describedby="a-exercise-help">
              {ex.map((x) => (
                <option key={x.slug} value={x.slug}>
                  {x.slug} — {x.title}
                </option>
              ))}
            </select>
          ) : (
            <input id="a-exercise" value={f.exerciseSlug} disabled={editing} onInput={text('exerciseSlug')} pattern="[a-z][a-z0-9\-]*" required aria-describedby="a-exercise-help" />
          )}
          <small id="a-exercise-help" class="muted">
            {editing ? 'The exercise of an existing assignment cannot change.' : (chosen?.summary ?? 'The exercise slug, e.g. msgbuf.')}
          </small>
        </div>
        <div class="field">
          <label for="a-title">Title</label>
          <input id="a-title" value={f.title} onInput={text('title')} required maxLength={200} />
        </div>
        <div class="field">
          <label for="a-opens">Opens at (optional)</label>
          <input id="a-opens" type="datetime-local" value={f.opensAt} onInput={text('opensAt')} />
        </div>
        <div class="field">
          <label for="a-due">Due at (optional)</label>
          <input id="a-due" type="datetime-local" value={f.dueAt} onInput={text('dueAt')} />
        </div>
        <div class="field">
          <label for="a-points">Maximum points</label>
          <input id="a-points" type="number" min={1} max={10000} value={f.maxPoints} onInput={text('maxPoints')} required />
        </div>
        <div class="field">
          <label for="a-rate">Submissions per student per window</label>
          <input id="a-rate" type="number" min={0} max={10000} value={f.rateLimitCount} onInput={text('rateLimitCount')} required aria-describedby="a-rate-help" />
          <small id="a-rate-help" class="muted">
            0 means no limit
          </small>
        </div>
        <div class="field">
          <label for="a-window">Rate-limit window (minutes)</label>
          <input id="a-window" type="number" min={1} max={43200} value={f.rateLimitWindowMinutes} onInput={text('rateLimitWindowMinutes')} required />
        </div>
        <fieldset class="field field-wide">
          <legend>Late work</legend>
          <div class="grid-form">
            <div class="field">
              <label for="a-late">After the due date</label>
              <select id="a-late" value={f.lateKind} onChange={text('lateKind')}>
                <option value="hard">refuse submissions (hard deadline)</option>
                <option value="penalty">accept with a penalty</option>
              </select>
            </div>
            {f.lateKind === 'penalty' && (
              <>
                <div class="field">
                  <label for="a-late-percent">Penalty (%)</label>
                  <input id="a-late-percent" type="number" min={0.1} max={100} step="any" value={f.latePercent} onInput={text('latePercent')} required />
                </div>
                <div class="field">
                  <label for="a-late-per">Per started</label>
                  <select id="a-late-per" value={f.latePer} onChange={text('latePer')}>
                    <option value="hour">hour</option>
                    <option value="day">day</option>
                  </select>
                </div>
                <div class="field">
                  <label for="a-late-max">At most (%)</label>
                  <input id="a-late-max" type="number" min={0} max={100} step="any" value={f.lateMax} onInput={text('lateMax')} required />
                </div>
                <div class="field">
                  <label for="a-late-cutoff">Accepted until (hours after the due date)</label>
                  <input id="a-late-cutoff" type="number" min={1} max={8784} value={f.lateCutoffHours} onInput={text('lateCutoffHours')} required />
                </div>
              </>
            )}
          </div>
        </fieldset>
        <fieldset class="field field-wide">
          <legend>Options</legend>
          <label class="check">
            <input type="checkbox" checked={f.showTestDetailsBeforeDue} onChange={(e) => set('showTestDetailsBeforeDue', (e.target as HTMLInputElement).checked)} />
            Students see test details before the due date
          </label>
          <label class="check">
            <input type="checkbox" checked={f.supersedeQueued} onChange={(e) => set('supersedeQueued', (e.target as HTMLInputElement).checked)} />
            A new submission cancels the same student's older queued ones
          </label>
        </fieldset>
        {error && (
          <p class="field-error field-wide" role="alert">
            {error}
          </p>
        )}
        <div class="field-wide actions">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {editing ? 'Save changes' : 'Create assignment'}
          </button>
          <button type="button" class="btn btn-ghost" onClick={() => history.back()}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
