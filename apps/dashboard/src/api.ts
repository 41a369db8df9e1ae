// The dashboard's only way to the server: /api/v1 with the bearer token the user pasted in.
// The token lives in sessionStorage (gone when the tab closes); nothing secret is in the bundle.
import type {
  AssignmentCreate,
  AssignmentOut,
  AssignmentStats,
  AssignmentUpdate,
  CourseOut,
  Me,
  MemberOut,
  Problem,
  RegradeAccepted,
  SubmissionAccepted,
  SubmissionDetail,
  SubmissionList,
  SubmissionFiles,
  SubmissionLogs,
  SubmissionRowUpdate,
  SubmissionSort,
  SubmissionStreamEvent,
  SubmissionSummary,
  SortDirection,
  AssignmentHandout,
  ExerciseDraftInput,
  ExerciseOut,
  ExerciseSummary,
  ExerciseVersionOut,
  VersionMoveOut,
  TokenIssued,
  TokenOut,
  TokenScope,
  ExtensionOut,
  RosterPlan,
  SimilarityPairOut,
  SimilarityRunOut,
} from '@kgrader/schemas';

const TOKEN_KEY = 'kgrader.token';

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An API error with the problem+json detail, safe to show. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problem: Partial<Problem> | null,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called when the server rejects the token (expired, revoked): the app goes back to sign-in. */
export function onUnauthorized(fn: Listener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

function authHeaders(token = getToken()): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function toError(res: Response): Promise<ApiError> {
  let problem: Partial<Problem> | null = null;
  try {
    problem = (await res.json()) as Partial<Problem>;
  } catch {
    /* not JSON */
  }
  const ra = Number(res.headers.get('retry-after'));
  const msg = problem?.detail ?? problem?.title ?? `HTTP ${res.status}`;
  return new ApiError(res.status, msg, problem, Number.isFinite(ra) && ra > 0 ? ra : null);
}

export async function request<T>(method: string, path: string, opts: { json?: unknown; body?: BodyInit; headers?: Record<string, string>; token?: string; signal?: AbortSignal; /** a 401 is an answer, not a lost session */ quiet?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(opts.token ?? getToken()), ...(opts.headers ?? {}) };
  let body: BodyInit | undefined = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(`/api/v1${path}`, { method, headers, ...(body !== undefined ? { body } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  if (!res.ok) {
    const err = await toError(res);
    if (res.status === 401 && !opts.token && !opts.quiet) for (const l of unauthorizedListeners) l();
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

const qs = (q: Record<string, string | number | boolean | undefined | null>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

export interface ListFilters {
  verdict?: string;
  status?: string;
  findingKind?: string;
  userId?: string;
  latest?: boolean;
  /** the student's name or e-mail contains this */
  q?: string;
  sort?: SubmissionSort;
  dir?: SortDirection;
}

export const api = {
  /** the signed-in user: with a pasted token, else the stored one or the session cookie (a 401 then just means signed out) */
  me: (token?: string) => request<Me>('GET', '/me', token ? { token } : { quiet: true }),
  courses: () => request<CourseOut[]>('GET', '/courses'),
  course: (id: string) => request<CourseOut>('GET', `/courses/${id}`),
  createCourse: (body: { code: string; title: string }) => request<CourseOut>('POST', '/courses', { json: body }),
  members: (courseId: string) => request<MemberOut[]>('GET', `/courses/${courseId}/members`),
  addMember: (courseId: string, body: { email: string; name?: string; role: 'student' | 'instructor' }) =>
    request<MemberOut>('POST', `/courses/${courseId}/members`, { json: body }),
  assignments: (courseId: string) => request<AssignmentOut[]>('GET', `/courses/${courseId}/assignments`),
  assignment: (id: string) => request<AssignmentOut>('GET', `/assignments/${id}`),
  createAssignment: (courseId: string, body: Partial<AssignmentCreate>) => request<AssignmentOut>('POST', `/courses/${courseId}/assignments`, { json: body }),
  updateAssignment: (id: string, body: AssignmentUpdate) => request<AssignmentOut>('PATCH', `/assignments/${id}`, { json: body }),
  submissions: (assignmentId: string, f: ListFilters & { limit?: number; cursor?: string }) =>
    request<SubmissionList>('GET', `/assignments/${assignmentId}/submissions${qs({ ...f })}`),
  stats: (assignmentId: string) => request<AssignmentStats>('GET', `/assignments/${assignmentId}/stats`),
  regradeAll: (assignmentId: string, scope: 'latest' | 'all') => request<RegradeAccepted>('POST', `/assignments/${assignmentId}/regrade`, { json: { scope } }),
  submission: (id: string) => request<SubmissionDetail>('GET', `/submissions/${id}`),
  logs: (id: string) => request<SubmissionLogs>('GET', `/submissions/${id}/logs`),
  /** the files as text for display; a file that is not UTF-8 (sent base64) is shown with replacement characters */
  files: async (id: string) => {
    const r = await request<SubmissionFiles>('GET', `/submissions/${id}/files`);
    const asText = (f: SubmissionFiles['files'][number]) =>
      f.encoding === 'base64' ? new TextDecoder('utf-8').decode(Uint8Array.from(atob(f.content), (c) => c.charCodeAt(0))) : f.content;
    return { files: r.files.map((f) => ({ name: f.name, size: f.size, content: asText(f) })) };
  },
  regrade: (id: string) => request<RegradeAccepted>('POST', `/submissions/${id}/regrade`),
  submit: (assignmentId: string, files: File[], idempotencyKey: string) => {
    const fd = new FormData();
    for (const f of files) fd.append('files', f, f.name);
    return request<SubmissionAccepted>('POST', `/assignments/${assignmentId}/submissions`, { body: fd, headers: { 'idempotency-key': idempotencyKey } });
  },
  signOut: () => request<void>('DELETE', '/me/session'),
  tokens: () => request<TokenOut[]>('GET', '/me/tokens'),
  createToken: (body: { name: string; scope: TokenScope; courseId?: string | null; expiresInDays?: number }) => request<TokenIssued>('POST', '/me/tokens', { json: body }),
  revokeToken: (id: string) => request<void>('DELETE', `/me/tokens/${id}`),
  extensions: (assignmentId: string) => request<ExtensionOut[]>('GET', `/assignments/${assignmentId}/extensions`),
  grantExtension: (assignmentId: string, userId: string, dueAt: string, reason?: string) =>
    request<ExtensionOut>('PUT', `/assignments/${assignmentId}/extensions/${userId}`, { json: { dueAt, ...(reason ? { reason } : {}) } }),
  withdrawExtension: (assignmentId: string, userId: string) => request<void>('DELETE', `/assignments/${assignmentId}/extensions/${userId}`),
  rosterImport: (courseId: string, csv: string, dryRun: boolean) => request<RosterPlan>('POST', `/courses/${courseId}/roster/import`, { json: { csv, dryRun } }),
  rosterSync: (courseId: string, dryRun: boolean) => request<RosterPlan>('POST', `/courses/${courseId}/roster/lti-sync`, { json: { dryRun } }),
  ltiContexts: (courseId: string) => request<{ platformId: string; contextId: string; title: string | null; nrps: boolean; lastSyncAt: string | null }[]>('GET', `/courses/${courseId}/lti/contexts`),
  similarityRuns: (assignmentId: string) => request<SimilarityRunOut[]>('GET', `/assignments/${assignmentId}/similarity`),
  startSimilarity: (assignmentId: string, threshold: number) => request<SimilarityRunOut>('POST', `/assignments/${assignmentId}/similarity`, { json: { threshold } }),
  similarityPair: (assignmentId: string, runId: string, pairId: string) => request<SimilarityPairOut>('GET', `/assignments/${assignmentId}/similarity/${runId}/pairs/${pairId}`),
  courseExercises: (courseId: string) => request<ExerciseSummary[]>('GET', `/courses/${courseId}/exercises`),
  createExercise: (courseId: string, draft: ExerciseDraftInput) => request<ExerciseOut>('POST', `/courses/${courseId}/exercises`, { json: draft }),
  exercise: (id: string) => request<ExerciseOut>('GET', `/exercises/${id}`),
  saveDraft: (id: string, draft: ExerciseDraftInput) => request<ExerciseOut>('PUT', `/exercises/${id}/draft`, { json: draft }),
  publish: (id: string) => request<ExerciseVersionOut>('POST', `/exercises/${id}/versions`),
  version: (id: string, version: number) => request<ExerciseVersionOut>('GET', `/exercises/${id}/versions/${version}`),
  handout: (assignmentId: string) => request<AssignmentHandout>('GET', `/assignments/${assignmentId}/handout`),
  moveVersion: (assignmentId: string, version: number) => request<VersionMoveOut>('POST', `/assignments/${assignmentId}/exercise-version`, { json: { version } }),
  versionMoves: (assignmentId: string) => request<VersionMoveOut[]>('GET', `/assignments/${assignmentId}/version-moves`),
  exercises: async (): Promise<ExerciseInfo[]> => {
    const res = await fetch('/app-api/exercises', { headers: authHeaders() });
    if (!res.ok) return [];
    return (await res.json()) as ExerciseInfo[];
  },
};

export interface ExerciseInfo {
  slug: string;
  title: string;
  summary: string;
  maxScore: number;
}

/** Every submission matching the filters, in their order (pages of 200, at most `cap`): for exports and charts. */
export async function allSubmissions(assignmentId: string, f: ListFilters, cap = 5000): Promise<{ items: SubmissionSummary[]; capped: boolean }> {
  const items: SubmissionSummary[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await api.submissions(assignmentId, { ...f, limit: 200, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    if (!page.nextCursor) return { items, capped: false };
    if (items.length >= cap) return { items, capped: true };
    cursor = page.nextCursor;
  }
}

interface SseEvent {
  event: string;
  id: string;
  data: string;
}

/**
 * Reads one Server-Sent Events response to its end. EventSource cannot send an Authorization
 * header, so this is fetch and a small parser; the session cookie goes along too.
 */
async function readStream(path: string, headers: Record<string, string>, signal: AbortSignal, onEvent: (ev: SseEvent) => void): Promise<void> {
  const res = await fetch(`/api/v1${path}`, { headers: { accept: 'text/event-stream', ...authHeaders(), ...headers }, signal });
  if (!res.ok || !res.body) throw await toError(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i: number;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev: SseEvent = { event: 'message', id: '', data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('data:')) ev.data += line.slice(5).trimStart();
        else if (line.startsWith('id:')) ev.id = line.slice(3).trim();
        else if (line.startsWith('event:')) ev.event = line.slice(6).trim();
      }
      if (ev.data) onEvent(ev);
    }
  }
}

const backoff = (failures: number) => new Promise((r) => setTimeout(r, Math.min(10_000, 1000 * 2 ** Math.min(failures, 4))));

/**
 * Follows GET /submissions/:id/events; it reconnects with Last-Event-ID until the verdict event
 * arrives or `stop()` is called.
 */
export function followSubmission(id: string, onEvent: (ev: SubmissionStreamEvent) => void, onEnd?: (reason: 'verdict' | 'error', err?: unknown) => void): () => void {
  const ctrl = new AbortController();
  let lastId = '';
  let done = false;
  let failures = 0;
  const run = async () => {
    while (!done && !ctrl.signal.aborted) {
      try {
        await readStream(`/submissions/${id}/events`, lastId ? { 'last-event-id': lastId } : {}, ctrl.signal, (raw) => {
          failures = 0;
          if (done) return;
          if (raw.id) lastId = raw.id;
          const ev = JSON.parse(raw.data) as SubmissionStreamEvent;
          onEvent(ev);
          if (ev.type === 'verdict') {
            done = true;
            onEnd?.('verdict');
          }
        });
      } catch (err) {
        if (ctrl.signal.aborted) return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          done = true;
          onEnd?.('error', err);
          return;
        }
        failures++;
      }
      if (!done && !ctrl.signal.aborted) await backoff(failures);
    }
  };
  void run();
  return () => {
    done = true;
    ctrl.abort();
  };
}

/**
 * Follows GET /assignments/:id/events (instructors): `onReady` once subscribed, again after every
 * reconnect (nothing is replayed: reload what is shown), `onRow` per row update. Reconnects until
 * `stop()`; a 4xx ends it with `onError`.
 */
export function followAssignment(id: string, on: { onRow: (row: SubmissionRowUpdate) => void; onReady: () => void; onError?: (err: unknown) => void }): () => void {
  const ctrl = new AbortController();
  let failures = 0;
  const run = async () => {
    while (!ctrl.signal.aborted) {
      try {
        await readStream(`/assignments/${id}/events`, {}, ctrl.signal, (raw) => {
          if (ctrl.signal.aborted) return;
          if (raw.event === 'ready') {
            failures = 0;
            on.onReady();
          } else if (raw.event === 'row') on.onRow(JSON.parse(raw.data) as SubmissionRowUpdate);
        });
      } catch (err) {
        if (ctrl.signal.aborted) return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
          on.onError?.(err);
          return;
        }
        failures++;
      }
      if (!ctrl.signal.aborted) await backoff(failures);
    }
  };
  void run();
  return () => ctrl.abort();
}
