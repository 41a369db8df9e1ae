import type { FindingOut, Frame, Me, SubmissionDetail, SubmissionStreamEvent } from '@kgrader/schemas';
import { explainFinding } from '@kgrader/verdict';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, followSubmission } from '../api.js';
import { Link } from '../router.js';
import { Crumbs, ErrorBox, errorText, fmtDate, fmtDuration, fmtLate, fmtScore, Loading, PageTitle, STAGES, StatusBadge, TestStatusBadge, useAsync, VerdictBadge } from '../ui.js';

const TERMINAL = ['done', 'error', 'cancelled'];

export function SubmissionPage({ me, submissionId }: { me: Me; submissionId: string }) {
  const detail = useAsync(() => api.submission(submissionId), [submissionId]);
  const ctx = useAsync(async () => {
    const d = await api.submission(submissionId);
    const a = await api.assignment(d.assignmentId);
    const c = await api.course(a.courseId);
    return { a, c };
  }, [submissionId]);
  const files = useAsync(() => api.files(submissionId), [submissionId]);
  const [events, setEvents] = useState<SubmissionStreamEvent[]>([]);
  const d = detail.data;
  const live = d ? !TERMINAL.includes(d.status) : false;

  useEffect(() => {
    if (!live) return;
    setEvents([]);
    return followSubmission(
      submissionId,
      (ev) => {
        setEvents((prev) => [...prev, ev]);
        detail.set((p) => p && { ...p, status: ev.status });
        if (ev.type === 'verdict') detail.reload();
      },
      () => detail.reload(),
    );
  }, [submissionId, live, d?.attemptCount, d?.runs.length]);

  if (detail.error) return <ErrorBox error={detail.error} />;
  if (!d) return <Loading />;
  const instructor = ctx.data ? ctx.data.c.role === 'instructor' || me.user.isAdmin : false;
  const mine = d.userId === me.user.id;
  const a = ctx.data?.a;

  return (
    <section>
      <Crumbs
        items={[
          { to: '/', label: 'Courses' },
          ...(ctx.data ? [{ to: `/courses/${ctx.data.c.id}`, label: ctx.data.c.code }, { to: `/assignments/${ctx.data.a.id}`, label: ctx.data.a.title }] : []),
          { label: `Submission ${d.id.slice(0, 8)}` },
        ]}
      />
      <PageTitle sub={<>{mine ? 'Your submission' : `${d.userName ?? ''} ${d.userEmail ? `(${d.userEmail})` : ''}`} · submitted {fmtDate(d.createdAt)}</>}>
        Submission {d.id.slice(0, 8)}
      </PageTitle>

      <div class="summary-bar card" data-testid="summary">
        <div>
          <div class="label">Status</div>
          <StatusBadge status={d.status} />
        </div>
        <div>
          <div class="label">Verdict</div>
          <VerdictBadge verdict={d.verdict} />
        </div>
        <div>
          <div class="label">Score</div>
          <strong class="num" data-testid="score">
            {fmtScore(d.score, d.maxScore)}
          </strong>
        </div>
        {d.late && (
          <div data-testid="late">
            <div class="label">Late</div>
            {fmtLate(d.late.lateSeconds)} · −{d.late.penaltyPercent}%{d.late.finalScore !== null ? <> → <strong class="num">{fmtScore(d.late.finalScore, d.maxScore)}</strong></> : null}
          </div>
        )}
        <div>
          <div class="label">Grading time</div>
          {fmtDuration(d.startedAt, d.finishedAt)}
        </div>
        <div class="summary-actions">
          {instructor && <RegradeButton id={d.id} disabled={live} onDone={() => detail.reload()} />}
          {mine && a && (
            <Link to={`/assignments/${a.id}`} class="btn">
              Submit again
            </Link>
          )}
        </div>
      </div>
      {d.summary && (
        <p class={`verdict-summary verdict-${d.verdict ?? 'none'}`} data-testid="verdict-summary">
          {d.summary}
        </p>
      )}

      {(live || events.length > 0) && <Progress status={d.status} events={events} live={live} />}

      {d.run?.infrastructureError && (
        <div class="notice" role="note">
          <strong>kgrader's own infrastructure failed</strong> (not your fault; it is retried automatically): {d.run.infrastructureError}
        </div>
      )}

      {!live && (
        <>
          <Findings findings={d.findings} files={files.data?.files ?? []} instructor={instructor} hiddenTests={d.hiddenTests ?? 0} />
          <Tests d={d} />
        </>
      )}
      <Sources d={d} files={files.data?.files} error={files.error} findings={d.findings} />
      {!live && <Logs id={d.id} attempt={d.run?.attempt ?? null} instructor={instructor} />}
      {d.runs.length > 1 && (
        <section aria-labelledby="runs-title" class="card">
          <h2 id="runs-title">Grading runs</h2>
          <ul class="plain">
            {d.runs.map((r) => (
              <li key={r.id}>
                attempt {r.attempt} · {r.reason} · {r.status} · <VerdictBadge verdict={r.verdict} /> · {fmtDate(r.startedAt)}
              </li>
            ))}
          </ul>
        </section>
      )}
    </section>
  );
}

function RegradeButton({ id, disabled, onDone }: { id: string; disabled: boolean; onDone: () => void }) {
  const [msg, setMsg] = useState<string | null>(null);
  return (
    <>
      <button
        type="button"
        class="btn"
        disabled={disabled}
        onClick={async () => {
          setMsg(null);
          try {
            await api.regrade(id);
            setMsg('Queued for regrading.');
            onDone();
          } catch (err) {
            setMsg(errorText(err));
          }
        }}
      >
        Regrade
      </button>
      {msg && (
        <span role="status" class="small muted">
          {msg}
        </span>
      )}
    </>
  );
}

/** The stage stepper with the latest progress messages. */
function Progress({ status, events, live }: { status: string; events: SubmissionStreamEvent[]; live: boolean }) {
  const idx = STAGES.indexOf(status as (typeof STAGES)[number]);
  const last = events[events.length - 1];
  return (
    <section aria-labelledby="progress-title" class="card" data-testid="progress">
      <h2 id="progress-title">Progress</h2>
      <ol class="stepper">
        {STAGES.map((s, i) => {
          const state = status === 'error' || status === 'cancelled' ? (i === 0 ? 'done' : 'todo') : i < idx ? 'done' : i === idx ? (s === 'done' ? 'done' : 'current') : 'todo';
          return (
            <li key={s} class={`step step-${state}`} aria-current={state === 'current' ? 'step' : undefined} data-stage={s} data-state={state}>
              <span class="dot" aria-hidden="true">
                {state === 'done' ? '✓' : i + 1}
              </span>
              <span>{s}</span>
            </li>
          );
        })}
      </ol>
      <p role="status" aria-live="polite" class="muted" data-testid="progress-message">
        {live ? (last ? last.message : 'waiting for the grader…') : 'Graded: the results are below.'}
      </p>
      {events.length > 0 && (
        <details>
          <summary>Event log ({events.length})</summary>
          <ol class="event-log mono small">
            {events.map((e, i) => (
              <li key={i}>
                <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> {e.status}: {e.message}
              </li>
            ))}
          </ol>
        </details>
      )}
    </section>
  );
}

function Tests({ d }: { d: SubmissionDetail }) {
  if (d.tests === null)
    return (
      <section class="card" aria-labelledby="tests-title">
        <h2 id="tests-title">Tests</h2>
        <p class="muted">Test details are shown after the due date for this assignment.</p>
      </section>
    );
  const hidden = d.hiddenTests ?? 0;
  const note = hidden > 0 && (
    <p class="muted" data-testid="hidden-note">
      {hidden} test{hidden === 1 ? ' is' : 's are'} hidden from you for now; the verdict and score are withheld until you can see every test.
    </p>
  );
  if (d.tests.length === 0)
    return note ? (
      <section class="card" aria-labelledby="tests-title">
        <h2 id="tests-title">Tests</h2>
        {note}
      </section>
    ) : null;
  return (
    <section class="card" aria-labelledby="tests-title">
      <h2 id="tests-title">Tests</h2>
      {note}
      <div class="table-wrap table-wrap-cards">
        <table class="cards" data-testid="tests-table">
          <thead>
            <tr>
              <th scope="col">Test</th>
              <th scope="col">Result</th>
              <th scope="col" class="num">
                Points
              </th>
              <th scope="col">Output</th>
            </tr>
          </thead>
          <tbody>
            {d.tests.map((t) => (
              <tr key={t.name} data-test={t.name}>
                <td class="mono" data-label="Test">
                  {t.name}
                </td>
                <td data-label="Result">
                  <TestStatusBadge status={t.status} />
                </td>
                <td class="num" data-label="Points">
                  {t.points} / {t.maxPoints}
                </td>
                <td data-label="Output" class="test-output">
                  {t.output ? (
                    <details>
                      <summary class="small">{t.output.split('\n')[0]!.slice(0, 80) || 'output'}</summary>
                      <pre class="log small">{t.output}</pre>
                    </details>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const isStudentFrame = (f: Frame) => !!f.file || !!f.module;

function Findings({ findings, files, instructor, hiddenTests = 0 }: { findings: FindingOut[]; files: { name: string; content: string }[]; instructor: boolean; hiddenTests?: number }) {
  if (findings.length === 0) return null;
  return (
    <section aria-labelledby="findings-title">
      <h2 id="findings-title">
        Kernel findings <span class="count">{findings.length}</span>
      </h2>
      {findings.map((f, i) => (
        <article class="card finding" key={i} aria-labelledby={`finding-${i}`} data-testid="finding" data-kind={f.kind}>
          <header class="finding-head">
            <span class={`kind kind-${f.kind}`}>{f.kind}</span>
            <h3 id={`finding-${i}`} class="mono">
              {f.title}
            </h3>
          </header>
          <p class="muted small">
            {f.test ? (
              <>
                during test <span class="mono">{f.test}</span>
              </>
            ) : hiddenTests > 0 ? (
              'outside any test, or during a test hidden from you'
            ) : (
              'outside any test'
            )}
            {f.count > 1 ? ` · seen ${f.count} times` : ''}
            {f.truncated ? ' · the report was cut off' : ''}
            {f.advisory ? ' · for your information: it costs no points' : ''}
          </p>
          {f.consequenceOf !== undefined && findings[f.consequenceOf] && (
            <p class="small" data-testid="consequence-of">
              Follows from finding {f.consequenceOf + 1} (<span class="mono">{findings[f.consequenceOf]!.title}</span>): fix that one first; this one is not counted as a bug of its own.
            </p>
          )}
          <div class="finding-body">
            <div class="explain" data-testid="explanation">
              <h4>What this means</h4>
              <p>{explainFinding(f.kind)}</p>
            </div>
            {f.sourceLines.length > 0 && (
              <div class="finding-source">
                <h4>{instructor ? 'Where in the code' : 'Where in your code'}</h4>
                {f.suspect && !f.frames.some((fr) => fr.file) && (
                  <p class="small" data-testid="suspect">
                    The kernel's stack does not pass through the module; most likely from here ({f.suspect.confidence} confidence): {f.suspect.why}
                  </p>
                )}
                {f.sourceLines.slice(0, 3).map((sl, j) => {
                  const file = files.find((x) => x.name === sl.file || x.name === sl.file.split('/').pop());
                  return (
                    <div key={j}>
                      <p class="small">
                        {j === 0 ? 'Here:' : 'called from:'}{' '}
                        <a class="mono" href={`#src-${cssId(sl.file)}-L${sl.line}`}>
                          {sl.file}:{sl.line}
                        </a>{' '}
                        in <span class="mono">{sl.function}()</span>
                      </p>
                      {j === 0 && file && <SourceExcerpt content={file.content} line={sl.line} name={sl.file} />}
                      {j === 0 && !file && sl.source && <pre class="code-line hit mono">{sl.source}</pre>}
                    </div>
                  );
                })}
              </div>
            )}
          </div>
          <Stack label="Call stack (innermost first)" frames={f.frames} open />
          {f.stacks?.map((s, k) => <Stack key={k} label={s.label} frames={s.frames} />)}
          <details>
            <summary>Raw kernel report</summary>
            <pre class="log small">{f.raw}</pre>
          </details>
          {!instructor && <p class="muted small">Fix the line above, test locally if you can, and submit again.</p>}
        </article>
      ))}
    </section>
  );
}

const cssId = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');

function SourceExcerpt({ content, line, name }: { content: string; line: number; name: string }) {
  const lines = content.split('\n');
  const from = Math.max(1, line - 4);
  const to = Math.min(lines.length, line + 3);
  return (
    <pre class="code excerpt" aria-label={`${name} lines ${from} to ${to}, line ${line} marked`}>
      {lines.slice(from - 1, to).map((text, i) => {
        const n = from + i;
        return (
          <span key={n} class={n === line ? 'code-line hit' : 'code-line'} data-line={n} data-testid={n === line ? 'excerpt-hit' : undefined}>
            <span class="ln" aria-hidden="true">
              {n}
            </span>
            {n === line && <span class="sr-only">offending line: </span>}
            {text || ' '}
          </span>
        );
      })}
    </pre>
  );
}

function Stack({ label, frames, open = false }: { label: string; frames: Frame[]; open?: boolean }) {
  return (
    <details open={open} class="stack">
      <summary>{label}</summary>
      <ol class="frames mono small">
        {frames.map((fr, i) => {
          const own = isStudentFrame(fr);
          return (
            <li key={i} class={own ? 'frame own' : 'frame'} data-own={own ? 'true' : undefined}>
              {own && <span class="sr-only">your code: </span>}
              <span class="fn">{fr.function}</span>
              {fr.module && <span class="muted"> [{fr.module}]</span>}
              {fr.file && (
                <>
                  {' '}
                  <a href={`#src-${cssId(fr.file)}-L${fr.line ?? 1}`}>
                    {fr.file}:{fr.line}
                  </a>
                </>
              )}
              {fr.source && <div class="frame-src">{fr.source.trim()}</div>}
            </li>
          );
        })}
      </ol>
    </details>
  );
}

/** The student's files with every line a finding points at marked. */
function Sources({ d, files, error, findings }: { d: SubmissionDetail; files: { name: string; content: string }[] | undefined; error: unknown; findings: FindingOut[] }) {
  const marks = useMemo(() => {
    const m = new Map<string, Map<number, FindingOut[]>>();
    for (const f of findings) {
      const sl = f.sourceLines[0];
      if (!sl) continue;
      const base = sl.file.split('/').pop()!;
      const byLine = m.get(base) ?? new Map<number, FindingOut[]>();
      byLine.set(sl.line, [...(byLine.get(sl.line) ?? []), f]);
      m.set(base, byLine);
    }
    return m;
  }, [findings]);
  const [shown, setShown] = useState<string | null>(null);
  const preRef = useRef<HTMLPreElement>(null);
  useEffect(() => {
    // scroll the file (not the page) so the first marked line is in view
    const pre = preRef.current;
    const hit = pre?.querySelector<HTMLElement>('.code-line.hit');
    if (pre && hit) pre.scrollTop = Math.max(0, hit.offsetTop - pre.offsetTop - pre.clientHeight / 3);
  }, [files, shown, marks]);
  useEffect(() => {
    // jump to a line anchor (links from the findings)
    const h = location.hash;
    if (h.startsWith('#src-')) document.getElementById(h.slice(1))?.scrollIntoView({ block: 'center' });
  }, [files]);
  if (error) return <ErrorBox error={error} title="Could not load the source files" />;
  if (!files) return null;
  const current = files.find((f) => f.name === shown) ?? files.find((f) => marks.has(f.name)) ?? files[0];
  if (!current) return null;
  const fileMarks = marks.get(current.name);
  return (
    <section class="card" aria-labelledby="src-title">
      <div class="section-head">
        <h2 id="src-title">Source</h2>
        {files.length > 1 && (
          <div role="group" aria-label="Files" class="tabs">
            {files.map((f) => (
              <button key={f.name} type="button" aria-pressed={f.name === current.name} class="tab mono" onClick={() => setShown(f.name)}>
                {f.name}
                {marks.has(f.name) ? ' •' : ''}
              </button>
            ))}
          </div>
        )}
      </div>
      <p class="muted small">
        <span class="mono">{current.name}</span> · {d.files.find((f) => f.name === current.name)?.size ?? current.content.length} bytes
        {fileMarks ? ` · ${fileMarks.size} marked line${fileMarks.size === 1 ? '' : 's'}` : ''}
      </p>
      <pre class="code source" data-testid="source" data-file={current.name} ref={preRef} tabIndex={0} aria-label={`${current.name}, full source`}>
        {current.content.split('\n').map((text, i) => {
          const n = i + 1;
          const hits = fileMarks?.get(n);
          return (
            <span key={n} id={`src-${cssId(current.name)}-L${n}`} class={hits ? 'code-line hit' : 'code-line'} data-line={n} data-testid={hits ? 'source-hit' : undefined}>
              <span class="ln" aria-hidden="true">
                {n}
              </span>
              {text || ' '}
              {hits && (
                <span class="line-note" role="note">
                  {hits.map((h) => h.title).join('; ')}
                </span>
              )}
            </span>
          );
        })}
      </pre>
    </section>
  );
}

const CONSOLE_LINES_SHOWN = 400;
const CONSOLE_MATCHES_SHOWN = 300;

function Logs({ id, attempt, instructor }: { id: string; attempt: number | null; instructor: boolean }) {
  const logs = useAsync(() => api.logs(id), [id, attempt]);
  const [q, setQ] = useState('');
  const consoleLines = useMemo(() => (logs.data?.console ?? '').split('\n'), [logs.data]);
  const matches = useMemo(() => {
    const s = q.trim().toLowerCase();
    if (!s) return null;
    const out: number[] = [];
    for (let i = 0; i < consoleLines.length && out.length < CONSOLE_MATCHES_SHOWN + 1; i++) if (consoleLines[i]!.toLowerCase().includes(s)) out.push(i);
    return out;
  }, [q, consoleLines]);
  if (logs.error) return <ErrorBox error={logs.error} title="Could not load the logs" />;
  if (!logs.data) return null;
  const l = logs.data;
  return (
    <section class="card" aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2>
      <details open={!!l.buildLog && /error/i.test(l.buildLog) && !instructor}>
        <summary>Build log</summary>
        <pre class="log small" data-testid="build-log">
          {l.buildLog || '(empty)'}
        </pre>
      </details>
      <details open={instructor}>
        <summary>
          Kernel console {l.consoleTruncatedBytes ? `(capped: ${l.consoleTruncatedBytes} bytes cut from the middle)` : ''}
        </summary>
        {l.console ? (
          <>
            <div class="field console-search">
              <label for="console-q">Search the console</label>
              <input id="console-q" type="search" value={q} placeholder="e.g. KASAN, msgbuf_read, kgrader: test" onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
              <span class="muted small" role="status" aria-live="polite" data-testid="console-matches">
                {matches ? `${matches.length > CONSOLE_MATCHES_SHOWN ? `${CONSOLE_MATCHES_SHOWN}+` : matches.length} matching line${matches.length === 1 ? '' : 's'}` : `${consoleLines.length} lines`}
              </span>
            </div>
            <pre class="log small console" data-testid="console">
              {(matches ? matches.slice(0, CONSOLE_MATCHES_SHOWN) : consoleLines.slice(0, CONSOLE_LINES_SHOWN).map((_, i) => i)).map((i) => (
                <span key={i} class="code-line">
                  <span class="ln" aria-hidden="true">
                    {i + 1}
                  </span>
                  {matches ? <Highlight text={consoleLines[i]!} q={q.trim()} /> : consoleLines[i]}
                </span>
              ))}
              {!matches && consoleLines.length > CONSOLE_LINES_SHOWN && <span class="muted">… {consoleLines.length - CONSOLE_LINES_SHOWN} more lines: search to find them</span>}
            </pre>
          </>
        ) : (
          <p class="muted">No console output (the VM did not run).</p>
        )}
      </details>
    </section>
  );
}

function Highlight({ text, q }: { text: string; q: string }) {
  const i = text.toLowerCase().indexOf(q.toLowerCase());
  if (i < 0 || !q) return <>{text}</>;
  return (
    <>
      {text.slice(0, i)}
      <mark>{text.slice(i, i + q.length)}</mark>
      {text.slice(i + q.length)}
    </>
  );
}
