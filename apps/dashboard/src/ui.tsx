import type { SubmissionStatus, Verdict } from '@kgrader/schemas';
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { Link } from './router.js';

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (fn: (prev: T | undefined) => T | undefined) => void;
}

/** Runs `fn` when `deps` change; keeps the previous data while reloading (no flicker on refresh). */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): Async<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const n = ++seq.current;
    setLoading(true);
    fn().then(
      (d) => {
        if (n !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (n !== seq.current) return;
        setError(e);
        setLoading(false);
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, set: (f) => setData((p) => f(p)) };
}

/** `value`, once it stopped changing for `ms` (a search box asks the server when typing pauses). */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403) return `Not allowed: ${err.message}`;
    if (err.status === 404) return `Not found: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export function ErrorBox({ error, title = 'Something went wrong' }: { error: unknown; title?: string }) {
  const forbidden = error instanceof ApiError && error.status === 403;
  return (
    <div class="notice notice-error" role="alert" data-testid={forbidden ? 'forbidden' : 'error'}>
      <strong>{forbidden ? 'Access denied' : title}</strong>
      <p>{errorText(error)}</p>
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> {what}…
    </p>
  );
}

const VERDICT_LABEL: Record<Verdict, string> = { pass: 'Pass', fail: 'Fail', error: 'Error' };
export function VerdictBadge({ verdict }: { verdict: Verdict | null | undefined }) {
  if (!verdict) return <span class="badge badge-none">—</span>;
  const icon = verdict === 'pass' ? '✓' : verdict === 'fail' ? '✗' : '!';
  return (
    <span class={`badge badge-${verdict}`} data-verdict={verdict}>
      <span aria-hidden="true">{icon}</span> {VERDICT_LABEL[verdict]}
    </span>
  );
}

export const STAGES = ['queued', 'building', 'booting', 'running', 'analyzing', 'done'] as const;
export function StatusBadge({ status }: { status: SubmissionStatus }) {
  const live = !['done', 'error', 'cancelled'].includes(status);
  return (
    <span class={`badge status status-${status}`} data-status={status}>
      {live && <span class="pulse" aria-hidden="true" />}
      {status}
    </span>
  );
}

export function TestStatusBadge({ status }: { status: string }) {
  const icon = status === 'pass' ? '✓' : status === 'fail' ? '✗' : status === 'skip' ? '–' : '!';
  return (
    <span class={`badge badge-${status === 'pass' ? 'pass' : status === 'skip' ? 'none' : status === 'fail' ? 'fail' : 'error'}`}>
      <span aria-hidden="true">{icon}</span> {status}
    </span>
  );
}

export function fmtDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
export function fmtRelative(iso: string | null | undefined): string {
  if (!iso) return '—';
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return fmtDate(iso);
}
export function fmtScore(score: number | null | undefined, max: number | null | undefined): string {
  if (score === null || score === undefined) return '—';
  const r = (n: number) => (Math.round(n * 10) / 10).toString();
  return max !== null && max !== undefined ? `${r(score)} / ${r(max)}` : r(score);
}
export function fmtDuration(a: string | null, b: string | null): string {
  if (!a || !b) return '—';
  const s = (new Date(b).getTime() - new Date(a).getTime()) / 1000;
  return s < 90 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function Crumbs({ items }: { items: { to?: string; label: string }[] }) {
  return (
    <nav aria-label="Breadcrumb" class="crumbs">
      <ol>
        {items.map((it, i) => (
          <li key={i}>{it.to && i < items.length - 1 ? <Link to={it.to}>{it.label}</Link> : <span aria-current={i === items.length - 1 ? 'page' : undefined}>{it.label}</span>}</li>
        ))}
      </ol>
    </nav>
  );
}

/** The page title: focused after navigation so screen readers and keyboard users land on it. */
export function PageTitle({ children, sub }: { children: ComponentChildren; sub?: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement?.closest('nav')) ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <header class="page-head">
      <h1 tabIndex={-1} ref={ref}>
        {children}
      </h1>
      {sub && <p class="muted">{sub}</p>}
    </header>
  );
}

export function download(name: string, mime: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function csv(rows: (string | number | null | undefined)[][]): string {
  const cell = (v: string | number | null | undefined) => {
    const s = v === null || v === undefined ? '' : String(v);
    // quote, and defuse spreadsheet formulas (a student's name could start with =)
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** How late: "3 h 12 min", "2 d 4 h". */
export function fmtLate(seconds: number): string {
  const m = Math.ceil(seconds / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
