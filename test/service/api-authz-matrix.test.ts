// The authorization matrix: every registered route (taken from the app itself, so a new route
// without an entry here fails the test) × every caller (anonymous; an admin; instructors; a
// student; a non-member; a user who teaches both courses) × token scope (read, submit,
// instructor, admin, and course-scoped ones) × the course the request is about (the caller's own
// or another one; for submissions also another student's). The expected answer comes from this
// file's own table of who may do what, not from the routes' declarations: a route that declares
// less than the table says is caught, and so is one that declares more.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '@kgrader/api';
import type { TokenScope } from '@kgrader/db';
import { filesForm, seed, startApi, type Seed, type TestEnv } from './helpers.js';
import { miniDraft } from './stand-in.js';

const RANK: Record<TokenScope, number> = { read: 0, submit: 1, instructor: 2, admin: 3 };

/** Who may call a route, as the product means it. */
type Rule =
  | { kind: 'public' }
  | { kind: 'user'; scope: TokenScope; courseTokens?: boolean }
  | { kind: 'admin' }
  | { kind: 'creator' }
  | { kind: 'course'; role: 'member' | 'instructor' | 'author'; scope: TokenScope };

interface Caller {
  name: string;
  /** null: anonymous */
  user: { id: string; isAdmin: boolean; canCreateCourses: boolean; roles: Record<string, 'student' | 'instructor'> } | null;
  scope?: TokenScope;
  courseId?: string | null;
  token?: string;
}

interface Target {
  name: string;
  courseId: string;
  assignmentId: string;
  /** the shared submission of this target (submission routes) and its author */
  submissionId: string;
  ownerId: string;
}

interface Req {
  path: string;
  json?: unknown;
  form?: FormData;
}

interface Entry {
  rule: Rule;
  /** what the route is about: decides which targets a caller is tried on */
  on: 'none' | 'course' | 'submission';
  /** the request, built fresh per call (destructive routes get their own fixture each time) */
  req: (t: Target, c: Caller) => Promise<Req> | Req;
  /** the answer when allowed */
  ok: number;
}

let env: TestEnv;
let s: Seed;
let n = 0;
const uniq = () => `${process.pid}-${++n}`;
const PUBLIC_IP = '93.184.215.14'; // a public address literal: the SSRF guard accepts it without DNS

// ---- fixtures ------------------------------------------------------------------------------------

async function makeSubmission(assignmentId: string, userId: string, status: 'done' | 'queued' = 'done'): Promise<string> {
  const content = Buffer.from(`int fixture_${uniq().replace('-', '_')};\n`);
  const sha = randomBytes(32).toString('hex');
  await env.db.blob.create({ data: { sha256: sha, size: content.length, content: new Uint8Array(content) } });
  const sub = await env.db.submission.create({
    data: {
      assignmentId,
      userId,
      sha256: sha,
      status,
      ...(status === 'done' ? { verdict: 'pass', score: 100, maxScore: 100, summary: 'ok', finishedAt: new Date() } : {}),
      files: { create: [{ name: 'msgbuf.c', sha256: sha, size: content.length }] },
    },
  });
  if (status === 'done') await env.db.submissionEvent.create({ data: { submissionId: sub.id, type: 'verdict', status: 'done', message: 'graded' } });
  return sub.id;
}

async function makePlatform(courseId: string) {
  const id = uniq();
  return env.db.ltiPlatform.create({
    data: {
      courseId,
      issuer: `https://lms-${id}.example.test`,
      clientId: `client-${id}`,
      authEndpoint: `https://${PUBLIC_IP}/auth`,
      tokenEndpoint: `https://${PUBLIC_IP}/token`,
      jwksUrl: `https://${PUBLIC_IP}/jwks`,
    },
  });
}

async function makeWebhook(courseId: string) {
  return env.db.webhookEndpoint.create({ data: { courseId, url: `https://${PUBLIC_IP}/hook`, events: ['submission.created'], secret: 'whsec_dGVzdA==' } });
}

/** an exercise owned by a course, with a published version 1 */
async function makeExercise(courseId: string) {
  const draft = miniDraft({ slug: `mx-${uniq()}` });
  const e = await env.db.exercise.create({ data: { slug: draft.spec.slug, courseId, draft: JSON.parse(JSON.stringify(draft)) } });
  await env.db.exerciseVersion.create({
    data: { exerciseId: e.id, version: 1, status: 'published', spec: draft.spec as object, handout: '', starterFiles: [], solutions: [], contentHash: randomBytes(8).toString('hex') },
  });
  return e;
}

/** an assignment of a course on msgbuf version 1, which can move to msgbuf version 2 */
async function makeMovableAssignment(courseId: string) {
  const v1 = await env.db.exerciseVersion.findFirstOrThrow({ where: { exercise: { slug: 'msgbuf' }, version: 1 } });
  if (!(await env.db.exerciseVersion.findFirst({ where: { exerciseId: v1.exerciseId, version: 2 } }))) {
    await env.db.exerciseVersion.create({
      data: { exerciseId: v1.exerciseId, version: 2, status: 'published', spec: v1.spec as object, handout: 'v2', starterFiles: [], solutions: v1.solutions as object, contentHash: 'v2' },
    });
  }
  return env.db.assignment.create({ data: { courseId, exerciseSlug: 'msgbuf', title: `movable ${uniq()}`, exerciseVersionId: v1.id } });
}

const ownToken = async (c: Caller) =>
  c.user
    ? (await issueToken(env.db, { userId: c.user.id, name: 'matrix', scope: 'read', courseId: c.courseId ?? null, issuedById: c.user.id })).id
    : '00000000-0000-4000-8000-000000000000';

// ---- the table -----------------------------------------------------------------------------------

const pub = (path: string): Entry => ({ rule: { kind: 'public' }, on: 'none', req: () => ({ path }), ok: 0 });
const course = (role: 'member' | 'instructor', scope: TokenScope, ok: number, req: Entry['req']): Entry => ({ rule: { kind: 'course', role, scope }, on: 'course', req, ok });
const onSubmission = (role: 'author' | 'instructor', scope: TokenScope, ok: number, req: Entry['req']): Entry => ({ rule: { kind: 'course', role, scope }, on: 'submission', req, ok });
const v1 = (p: string) => `/api/v1${p}`;

const ENTRIES: Record<string, Entry> = {
  // public: ops, documentation, the LTI tool endpoints (the signed launch authenticates), the dashboard's files
  'GET /healthz': pub('/healthz'),
  'GET /readyz': pub('/readyz'),
  'GET /metrics': pub('/metrics'),
  'GET /docs': pub('/docs'),
  'HEAD /docs/': pub('/docs/'),
  'GET /docs/static/index.html': pub('/docs/static/index.html'),
  'GET /docs/static/swagger-initializer.js': pub('/docs/static/swagger-initializer.js'),
  'GET /docs/json': pub('/docs/json'),
  'GET /docs/yaml': pub('/docs/yaml'),
  'GET /docs/static/*': pub('/docs/static/swagger-ui.css'),
  'GET /.well-known/jwks.json': pub('/.well-known/jwks.json'),
  'GET /lti/login': pub('/lti/login'),
  'POST /lti/login': { ...pub('/lti/login'), req: () => ({ path: '/lti/login', json: {} }) },
  'POST /lti/launch': { ...pub('/lti/launch'), req: () => ({ path: '/lti/launch', json: {} }) },
  'POST /lti/session': { ...pub('/lti/session'), req: () => ({ path: '/lti/session', json: { code: 'x'.repeat(32) } }) },
  // the signed notice JWTs and the signed deep linking state authenticate these (issue 15)
  'POST /lti/notices': { ...pub('/lti/notices'), req: () => ({ path: '/lti/notices', json: { notices: [{ jwt: 'x.y.z' }] } }) },
  'POST /lti/deep-link': { ...pub('/lti/deep-link'), req: () => ({ path: '/lti/deep-link', json: { state: 'x', exercise: 'msgbuf' } }) },
  'GET /auth/providers': pub('/auth/providers'),
  'GET /auth/login/:providerId': pub('/auth/login/none'),
  'GET /auth/callback/:providerId': pub('/auth/callback/none?state=x&code=y'),
  'GET /': pub('/'),
  'GET /app': pub('/app'),
  'GET /app/assets/*': pub('/app/assets/none.js'),
  'GET /app/*': pub('/app/courses'),

  // any signed-in user
  'GET /app-api/exercises': { rule: { kind: 'user', scope: 'read' }, on: 'none', req: () => ({ path: '/app-api/exercises' }), ok: 200 },
  'GET /api/v1/me': { rule: { kind: 'user', scope: 'read' }, on: 'none', req: () => ({ path: v1('/me') }), ok: 200 },
  'GET /api/v1/courses': { rule: { kind: 'user', scope: 'read' }, on: 'none', req: () => ({ path: v1('/courses') }), ok: 200 },
  // a bearer token is not a session: 409 for every caller the guard lets through (signin.test.ts signs out sessions)
  'DELETE /api/v1/me/session': { rule: { kind: 'user', scope: 'read' }, on: 'none', req: () => ({ path: v1('/me/session') }), ok: 409 },
  'GET /api/v1/me/tokens': { rule: { kind: 'user', scope: 'read' }, on: 'none', req: () => ({ path: v1('/me/tokens') }), ok: 200 },
  'POST /api/v1/me/tokens': { rule: { kind: 'user', scope: 'read' }, on: 'none', req: () => ({ path: v1('/me/tokens'), json: { scope: 'read' } }), ok: 201 },
  'DELETE /api/v1/me/tokens/:tokenId': { rule: { kind: 'user', scope: 'read' }, on: 'none', req: async (_t, c) => ({ path: v1(`/me/tokens/${await ownToken(c)}`) }), ok: 204 },
  'POST /api/v1/courses': {
    rule: { kind: 'creator' },
    on: 'none',
    req: () => ({ path: v1('/courses'), json: { code: `m-${uniq()}`, title: 'matrix' } }),
    ok: 201,
  },

  // admins (admin-scoped token)
  'GET /api/v1/users/:userId/tokens': { rule: { kind: 'admin' }, on: 'none', req: () => ({ path: v1(`/users/${s.users.student1.id}/tokens`) }), ok: 200 },
  'POST /api/v1/users/:userId/tokens': { rule: { kind: 'admin' }, on: 'none', req: () => ({ path: v1(`/users/${s.users.student1.id}/tokens`), json: { scope: 'read' } }), ok: 201 },
  'DELETE /api/v1/users/:userId/tokens/:tokenId': {
    rule: { kind: 'admin' },
    on: 'none',
    req: async () => {
      const t = await issueToken(env.db, { userId: s.users.student1.id, name: 'victim', scope: 'read', issuedById: null });
      return { path: v1(`/users/${s.users.student1.id}/tokens/${t.id}`) };
    },
    ok: 204,
  },

  // a course's members and instructors
  'GET /api/v1/courses/:courseId': course('member', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}`) })),
  'GET /api/v1/courses/:courseId/members': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/members`) })),
  'POST /api/v1/courses/:courseId/members': course('instructor', 'instructor', 200, (t) => ({
    path: v1(`/courses/${t.courseId}/members`),
    json: { email: `m-${uniq()}@t.test`, role: 'student' },
  })),
  'POST /api/v1/courses/:courseId/assignments': course('instructor', 'instructor', 201, (t) => ({
    path: v1(`/courses/${t.courseId}/assignments`),
    json: { exerciseSlug: 'msgbuf', title: 'matrix' },
  })),
  'GET /api/v1/courses/:courseId/assignments': course('member', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/assignments`) })),
  'GET /api/v1/assignments/:assignmentId': course('member', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}`) })),
  'PATCH /api/v1/assignments/:assignmentId': course('instructor', 'instructor', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}`), json: { title: `edited ${uniq()}` } })),
  'GET /api/v1/assignments/:assignmentId/submissions': course('member', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/submissions`) })),
  'POST /api/v1/assignments/:assignmentId/regrade': course('instructor', 'instructor', 202, (t) => ({ path: v1(`/assignments/${t.assignmentId}/regrade`), json: { scope: 'latest' } })),
  'GET /api/v1/assignments/:assignmentId/stats': course('instructor', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/stats`) })),
  // the live rows of the instructors' table: never ends by itself (the matrix reads its status only)
  'GET /api/v1/assignments/:assignmentId/events': course('instructor', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/events`) })),
  'POST /api/v1/assignments/:assignmentId/submissions': course('member', 'submit', 202, (t) => ({
    path: v1(`/assignments/${t.assignmentId}/submissions`),
    form: filesForm([{ name: 'msgbuf.c', content: `int matrix_${uniq().replace('-', '_')};\n` }]),
  })),
  'PUT /api/v1/assignments/:assignmentId/score-policy': course('instructor', 'instructor', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/score-policy`), json: { scorePolicy: 'best' } })),
  'POST /api/v1/courses/:courseId/lti/platforms': course('instructor', 'instructor', 201, (t) => {
    const id = uniq();
    return {
      path: v1(`/courses/${t.courseId}/lti/platforms`),
      json: {
        issuer: `https://lms-${id}.example.test`,
        clientId: `client-${id}`,
        authEndpoint: `https://${PUBLIC_IP}/auth`,
        tokenEndpoint: `https://${PUBLIC_IP}/token`,
        jwksUrl: `https://${PUBLIC_IP}/jwks`,
        deploymentIds: ['d1'],
      },
    };
  }),
  'GET /api/v1/courses/:courseId/lti/platforms': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/lti/platforms`) })),
  'DELETE /api/v1/courses/:courseId/lti/platforms/:platformId': course('instructor', 'instructor', 204, async (t) => ({
    path: v1(`/courses/${t.courseId}/lti/platforms/${(await makePlatform(t.courseId)).id}`),
  })),
  'GET /api/v1/courses/:courseId/lti/asset-processors': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/lti/asset-processors`) })),
  'GET /api/v1/courses/:courseId/lti/notices': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/lti/notices`) })),
  'GET /api/v1/courses/:courseId/lti/service-calls': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/lti/service-calls`) })),
  'POST /api/v1/courses/:courseId/lti/service-calls/:callId/retry': course('instructor', 'instructor', 202, async (t) => {
    const p = await makePlatform(t.courseId);
    const c = await env.db.ltiServiceCall.create({
      data: { platformId: p.id, kind: 'asset_report', method: 'POST', url: `https://${PUBLIC_IP}/reports`, scope: 'https://purl.imsglobal.org/spec/lti/scope/report', body: {}, subject: `s-${uniq()}`, status: 'failed' },
    });
    return { path: v1(`/courses/${t.courseId}/lti/service-calls/${c.id}/retry`) };
  }),
  'POST /api/v1/courses/:courseId/webhooks': course('instructor', 'instructor', 201, (t) => ({
    path: v1(`/courses/${t.courseId}/webhooks`),
    json: { url: `https://${PUBLIC_IP}/hook`, events: ['submission.graded'] },
  })),
  'GET /api/v1/courses/:courseId/webhooks': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/webhooks`) })),
  'PATCH /api/v1/courses/:courseId/webhooks/:webhookId': course('instructor', 'instructor', 200, async (t) => ({
    path: v1(`/courses/${t.courseId}/webhooks/${(await makeWebhook(t.courseId)).id}`),
    json: { description: 'edited' },
  })),
  'DELETE /api/v1/courses/:courseId/webhooks/:webhookId': course('instructor', 'instructor', 204, async (t) => ({
    path: v1(`/courses/${t.courseId}/webhooks/${(await makeWebhook(t.courseId)).id}`),
  })),
  'GET /api/v1/courses/:courseId/webhooks/:webhookId/deliveries': course('instructor', 'read', 200, async (t) => ({
    path: v1(`/courses/${t.courseId}/webhooks/${(await makeWebhook(t.courseId)).id}/deliveries`),
  })),
  'POST /api/v1/courses/:courseId/webhooks/:webhookId/deliveries/:messageId/redeliver': course('instructor', 'instructor', 202, async (t) => {
    const e = await makeWebhook(t.courseId);
    const m = await env.db.webhookMessage.create({
      data: { id: `msg_${randomBytes(8).toString('hex')}`, endpointId: e.id, eventType: 'submission.created', payload: '{}', status: 'failed' },
    });
    return { path: v1(`/courses/${t.courseId}/webhooks/${e.id}/deliveries/${m.id}/redeliver`) };
  }),

  // exercises (issue 12): a course's instructors; shipped exercises are tested in exercises.test.ts
  'GET /api/v1/courses/:courseId/exercises': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/exercises`) })),
  'POST /api/v1/courses/:courseId/exercises': course('instructor', 'instructor', 201, (t) => ({ path: v1(`/courses/${t.courseId}/exercises`), json: miniDraft({ slug: `mc-${uniq()}` }) })),
  'GET /api/v1/exercises/:exerciseId': course('instructor', 'read', 200, async (t) => ({ path: v1(`/exercises/${(await makeExercise(t.courseId)).id}`) })),
  'PUT /api/v1/exercises/:exerciseId/draft': course('instructor', 'instructor', 200, async (t) => {
    const e = await makeExercise(t.courseId);
    return { path: v1(`/exercises/${e.id}/draft`), json: miniDraft({ slug: e.slug }) };
  }),
  'POST /api/v1/exercises/:exerciseId/versions': course('instructor', 'instructor', 202, async (t) => ({ path: v1(`/exercises/${(await makeExercise(t.courseId)).id}/versions`) })),
  'GET /api/v1/exercises/:exerciseId/versions/:version': course('instructor', 'read', 200, async (t) => ({ path: v1(`/exercises/${(await makeExercise(t.courseId)).id}/versions/1`) })),
  'GET /api/v1/assignments/:assignmentId/handout': course('member', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/handout`) })),
  'POST /api/v1/assignments/:assignmentId/exercise-version': course('instructor', 'instructor', 202, async (t) => ({
    path: v1(`/assignments/${(await makeMovableAssignment(t.courseId)).id}/exercise-version`),
    json: { version: 2 },
  })),
  'GET /api/v1/assignments/:assignmentId/version-moves': course('instructor', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/version-moves`) })),
  'GET /api/v1/assignments/:assignmentId/version-moves/:moveId': course('instructor', 'read', 200, async (t) => {
    const a = await env.db.assignment.findUniqueOrThrow({ where: { id: t.assignmentId } });
    const m = await env.db.versionMove.create({ data: { assignmentId: t.assignmentId, toVersionId: a.exerciseVersionId ?? (await env.db.exerciseVersion.findFirstOrThrow({ where: { version: 1, exercise: { slug: 'msgbuf' } } })).id } });
    return { path: v1(`/assignments/${t.assignmentId}/version-moves/${m.id}`) };
  }),

  // rosters: a dry-run CSV import; the NRPS sync of a course without an LMS roster answers 422 once allowed
  'POST /api/v1/courses/:courseId/roster/import': course('instructor', 'instructor', 200, (t) => ({ path: v1(`/courses/${t.courseId}/roster/import`), json: { csv: 'email\nmatrix@t.test\n', dryRun: true } })),
  'POST /api/v1/courses/:courseId/roster/lti-sync': course('instructor', 'instructor', 422, (t) => ({ path: v1(`/courses/${t.courseId}/roster/lti-sync`), json: { dryRun: true } })),
  'GET /api/v1/courses/:courseId/lti/contexts': course('instructor', 'read', 200, (t) => ({ path: v1(`/courses/${t.courseId}/lti/contexts`) })),

  // similarity: the course's instructors only (students never see results)
  'POST /api/v1/assignments/:assignmentId/similarity': course('instructor', 'instructor', 202, async (t) => {
    const a = await env.db.assignment.create({ data: { courseId: t.courseId, exerciseSlug: 'msgbuf', title: `similarity ${uniq()}` } });
    return { path: v1(`/assignments/${a.id}/similarity`), json: { threshold: 0.5 } };
  }),
  'GET /api/v1/assignments/:assignmentId/similarity': course('instructor', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/similarity`) })),
  'GET /api/v1/assignments/:assignmentId/similarity/:runId': course('instructor', 'read', 200, async (t) => {
    const r = await env.db.similarityRun.create({ data: { assignmentId: t.assignmentId, trigger: 'manual', threshold: 0.5, status: 'done' } });
    return { path: v1(`/assignments/${t.assignmentId}/similarity/${r.id}`) };
  }),
  'GET /api/v1/assignments/:assignmentId/similarity/:runId/pairs/:pairId': course('instructor', 'read', 200, async (t) => {
    const r = await env.db.similarityRun.create({ data: { assignmentId: t.assignmentId, trigger: 'manual', threshold: 0.5, status: 'done' } });
    const p = await env.db.similarityPair.create({ data: { runId: r.id, leftSubmissionId: t.submissionId, rightSubmissionId: t.submissionId, similarity: 0.9, longest: 10, overlap: 20, fragments: [] } });
    return { path: v1(`/assignments/${t.assignmentId}/similarity/${r.id}/pairs/${p.id}`) };
  }),

  // late work: extensions for a student of the course (the target's student)
  'GET /api/v1/assignments/:assignmentId/extensions': course('instructor', 'read', 200, (t) => ({ path: v1(`/assignments/${t.assignmentId}/extensions`) })),
  'PUT /api/v1/assignments/:assignmentId/extensions/:userId': course('instructor', 'instructor', 200, (t) => ({
    path: v1(`/assignments/${t.assignmentId}/extensions/${t.ownerId}`),
    json: { dueAt: new Date(Date.now() + 86_400_000).toISOString() },
  })),
  'DELETE /api/v1/assignments/:assignmentId/extensions/:userId': course('instructor', 'instructor', 204, async (t) => {
    await env.db.extension.upsert({
      where: { assignmentId_userId: { assignmentId: t.assignmentId, userId: t.ownerId } },
      create: { assignmentId: t.assignmentId, userId: t.ownerId, dueAt: new Date(Date.now() + 86_400_000) },
      update: {},
    });
    return { path: v1(`/assignments/${t.assignmentId}/extensions/${t.ownerId}`) };
  }),

  // a submission: its author and the course's instructors
  'GET /api/v1/submissions/:submissionId': onSubmission('author', 'read', 200, (t) => ({ path: v1(`/submissions/${t.submissionId}`) })),
  'GET /api/v1/submissions/:submissionId/logs': onSubmission('author', 'read', 200, (t) => ({ path: v1(`/submissions/${t.submissionId}/logs`) })),
  'GET /api/v1/submissions/:submissionId/files': onSubmission('author', 'read', 200, (t) => ({ path: v1(`/submissions/${t.submissionId}/files`) })),
  'GET /api/v1/submissions/:submissionId/files/:name': onSubmission('author', 'read', 200, (t) => ({ path: v1(`/submissions/${t.submissionId}/files/msgbuf.c`) })),
  'GET /api/v1/submissions/:submissionId/events': onSubmission('author', 'read', 200, async (t) => ({
    // a finished submission of the same author: the stream replays its verdict and closes
    path: v1(`/submissions/${await makeSubmission(t.assignmentId, t.ownerId)}/events`),
  })),
  'POST /api/v1/submissions/:submissionId/regrade': onSubmission('instructor', 'instructor', 202, async (t) => ({
    path: v1(`/submissions/${await makeSubmission(t.assignmentId, t.ownerId)}/regrade`),
  })),
  'POST /api/v1/submissions/:submissionId/passback': onSubmission('instructor', 'instructor', 202, async (t) => {
    const sid = await makeSubmission(t.assignmentId, t.ownerId);
    const p = await makePlatform(t.courseId);
    const link = await env.db.ltiResourceLink.create({ data: { platformId: p.id, resourceLinkId: `rl-${uniq()}`, deploymentId: 'd1', assignmentId: t.assignmentId } });
    await env.db.ltiPassback.create({ data: { submissionId: sid, resourceLinkId: link.id, ltiUserId: 'sub-1', status: 'failed' } });
    return { path: v1(`/submissions/${sid}/passback`) };
  }),
};

// ---- what the table means --------------------------------------------------------------------------

function allowed(rule: Rule, c: Caller, t: Target | null): boolean {
  if (rule.kind === 'public') return true;
  const u = c.user;
  if (!u) return false;
  const scope = c.scope!;
  const asAdmin = u.isAdmin && scope === 'admin';
  switch (rule.kind) {
    case 'user':
      return RANK[scope] >= RANK[rule.scope] && (rule.courseTokens !== false || !c.courseId);
    case 'admin':
      return asAdmin;
    case 'creator':
      return asAdmin || (u.canCreateCourses && !c.courseId && RANK[scope] >= RANK.instructor);
    case 'course': {
      if (c.courseId && c.courseId !== t!.courseId) return false;
      const role = asAdmin ? 'instructor' : u.roles[t!.courseId];
      if (!role) return false;
      if (rule.role === 'instructor' && role !== 'instructor') return false;
      if (rule.role === 'author' && role !== 'instructor' && t!.ownerId !== u.id) return false;
      return RANK[scope] >= RANK[rule.scope];
    }
  }
}

async function call(method: string, r: Req, c: Caller): Promise<number> {
  const headers: Record<string, string> = {};
  if (c.token) headers['authorization'] = `Bearer ${c.token}`;
  let body: string | FormData | undefined;
  if (r.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(r.json);
  } else if (r.form) body = r.form;
  const res = await fetch(`${env.baseUrl}${r.path}`, { method, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000), ...(body !== undefined ? { body } : {}) });
  // the whole answer (a submission's SSE stream closes on its verdict); an assignment's stream
  // never ends by itself: its status and headers are the answer
  if (res.status === 200 && res.headers.get('content-type')?.startsWith('text/event-stream') && /\/assignments\/[^/]+\/events$/.test(r.path)) await res.body?.cancel();
  else await res.arrayBuffer();
  return res.status;
}

// ---- the callers and the targets -------------------------------------------------------------------

const callers: Caller[] = [];
const targets: { course: Target[]; submission: Target[] } = { course: [], submission: [] };

before(async () => {
  env = await startApi('authz_matrix');
  s = await seed(env.db);
  const A = s.courseId;
  const B = s.otherCourseId;
  // a user teaching both courses, to show that a course-scoped token stays in its course
  const both = await env.db.user.create({ data: { email: 'both@t.test', name: 'both' } });
  await env.db.membership.createMany({ data: [{ userId: both.id, courseId: A, role: 'instructor' }, { userId: both.id, courseId: B, role: 'instructor' }] });
  const studentB = await env.db.user.create({ data: { email: 'studentb@t.test', name: 'studentb' } });
  await env.db.membership.create({ data: { userId: studentB.id, courseId: B, role: 'student' } });

  const people = {
    admin: { id: s.users.admin.id, isAdmin: true, canCreateCourses: true, roles: {} },
    instructor: { id: s.users.instructor.id, isAdmin: false, canCreateCourses: false, roles: { [A]: 'instructor' as const } },
    both: { id: both.id, isAdmin: false, canCreateCourses: false, roles: { [A]: 'instructor' as const, [B]: 'instructor' as const } },
    student: { id: s.users.student1.id, isAdmin: false, canCreateCourses: false, roles: { [A]: 'student' as const } },
    otherInstructor: { id: s.users.otherInstructor.id, isAdmin: false, canCreateCourses: false, roles: { [B]: 'instructor' as const } },
    outsider: { id: s.users.outsider.id, isAdmin: false, canCreateCourses: false, roles: {} },
  };
  await env.db.user.update({ where: { id: s.users.instructor.id }, data: { canCreateCourses: true } });
  people.instructor.canCreateCourses = true;
  const grid: [keyof typeof people, TokenScope, string | null][] = [
    ['admin', 'admin', null],
    ['admin', 'instructor', null],
    ['admin', 'read', null],
    ['instructor', 'instructor', null],
    ['instructor', 'submit', null],
    ['instructor', 'read', null],
    ['instructor', 'instructor', A],
    ['both', 'instructor', null],
    ['both', 'instructor', A],
    ['both', 'read', A],
    ['student', 'instructor', null],
    ['student', 'submit', null],
    ['student', 'read', null],
    ['student', 'submit', A],
    ['otherInstructor', 'instructor', null],
    ['outsider', 'instructor', null],
  ];
  callers.push({ name: 'anonymous', user: null });
  for (const [who, scope, courseId] of grid) {
    const user = people[who];
    const t = await issueToken(env.db, { userId: user.id, name: 'matrix', scope, courseId, issuedById: null });
    callers.push({ name: `${who}:${scope}${courseId ? `@${courseId === A ? 'A' : 'B'}` : ''}`, user, scope, courseId, token: t.token });
  }

  const own = await makeSubmission(s.assignmentId, s.users.student1.id);
  const other = await makeSubmission(s.assignmentId, s.users.student2.id);
  const inB = await makeSubmission(s.otherAssignmentId, studentB.id);
  const a = { courseId: A, assignmentId: s.assignmentId };
  const b = { courseId: B, assignmentId: s.otherAssignmentId };
  targets.course.push({ name: 'course A', ...a, submissionId: own, ownerId: s.users.student1.id }, { name: 'course B', ...b, submissionId: inB, ownerId: studentB.id });
  targets.submission.push(
    { name: "course A, student1's submission", ...a, submissionId: own, ownerId: s.users.student1.id },
    { name: "course A, student2's submission", ...a, submissionId: other, ownerId: s.users.student2.id },
    { name: 'course B submission', ...b, submissionId: inB, ownerId: studentB.id },
  );
});
after(() => env?.close());

describe('authorization matrix', () => {
  let cells = 0;

  it('every registered route has an entry in the matrix, and every entry a route', () => {
    const keys = new Set(env.app.registeredRoutes.map((r) => `${r.method} ${r.url}`));
    const routes = [...keys].filter((k) => !k.startsWith('HEAD ') || !keys.has(`GET ${k.slice(5)}`)); // HEAD goes with its GET
    const missing = routes.filter((k) => !ENTRIES[k]);
    assert.deepEqual(missing, [], `routes without an authorization matrix entry:\n${missing.join('\n')}`);
    const stale = Object.keys(ENTRIES).filter((k) => !keys.has(k));
    assert.deepEqual(stale, [], `matrix entries without a route:\n${stale.join('\n')}`);
  });

  for (const [key, entry] of Object.entries(ENTRIES)) {
    const [method, url] = key.split(' ') as [string, string];
    it(`${key}: ${entry.rule.kind === 'public' ? 'public' : JSON.stringify(entry.rule)}`, { timeout: 120_000 }, async () => {
      const wrong: string[] = [];
      if (entry.rule.kind === 'public') {
        // a public route does not look at tokens: every caller gets what the anonymous one gets
        const r = await entry.req(targets.course[0]!, callers[0]!);
        const base = await call(method, r, callers[0]!);
        assert.ok(base >= 200 && base < 600, `${key} anonymous: ${base}`);
        for (const c of callers) {
          const got = await call(method, await entry.req(targets.course[0]!, c), c);
          cells++;
          if (got !== base) wrong.push(`${c.name}: ${got}, anonymous got ${base}`);
        }
      } else {
        const ts = entry.on === 'none' ? [null] : targets[entry.on];
        for (const c of callers) {
          for (const t of ts) {
            const ok = allowed(entry.rule, c, t);
            const expected = ok ? entry.ok : c.user ? 403 : 401;
            const got = await call(method, await entry.req(t ?? targets.course[0]!, c), c);
            cells++;
            if (got !== expected) wrong.push(`${c.name}${t ? ` on ${t.name}` : ''}: expected ${expected}, got ${got}`);
          }
        }
        // HEAD of a protected GET: refused without a token as well
        if (method === 'GET' && env.app.registeredRoutes.some((r) => r.method === 'HEAD' && r.url === url)) {
          const got = await call('HEAD', await entry.req(ts[0] ?? targets.course[0]!, callers[0]!), callers[0]!);
          cells++;
          if (got !== 401) wrong.push(`HEAD anonymous: expected 401, got ${got}`);
        }
      }
      assert.deepEqual(wrong, [], `${key}:\n${wrong.join('\n')}`);
    });
  }

  it('covered every cell', () => {
    // 1 anonymous + 16 tokens; 2 courses, 3 submissions: keep this in view when the grid changes
    assert.ok(cells > 1000, `${cells} cells`);
    console.log(`# authorization matrix: ${Object.keys(ENTRIES).length} routes, ${callers.length} callers, ${cells} cells`);
  });
});
