// The one auth guard of the API. Every route declares what it requires in `config.access`
// (`allow.*` below); a route registered without a declaration makes the app refuse to boot. The
// guard authenticates the bearer token (onRequest: 401 before anything else is read), then, once
// the parameters are validated, resolves the course the request is about (from the course,
// assignment or submission id), and checks, in this order:
//   1. the resource exists (404);
//   2. a course-scoped token is used on its own course only (403);
//   3. the user's right: course role (admins count as instructors only with an admin-scoped
//      token), admin, or course creator (403);
//   4. the token's scope covers the action: read < submit < instructor < admin (403).
// The effective right is the lesser of the user's and the token's. Handlers read what the guard
// loaded with `caller(req)`, `courseOf(req)`, `assignmentOf(req)`, `submissionOf(req)`.
import type { Assignment, Course, Db, Exercise, Role, Submission, TokenScope, User } from '@kgrader/db';
import { TOKEN_SCOPE_RANK } from '@kgrader/schemas';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { forbidden, HttpError, notFound, unauthorized } from '../errors.js';
import { cookieName, csrfProblem, readCookie, sessionOf } from './sessions.js';
import { hashToken } from './tokens.js';

export interface TokenInfo {
  /** the ApiToken's id, or the Session's for a dashboard session */
  id: string;
  /** `session`: a dashboard session cookie (instructor scope: the user's course rights, never admin rights) */
  kind?: 'token' | 'session';
  scope: TokenScope;
  /** a course-scoped token reaches this course only */
  courseId: string | null;
  expiresAt: Date | null;
}

export interface Principal {
  user: User;
  token: TokenInfo;
}

/** Where a course-level route finds its course. */
type CourseSource = 'courseId' | 'assignmentId' | 'submissionId' | 'exerciseId';

/**
 * What a route requires.
 * - `public`: no token needed, none looked at (ops, LTI, the dashboard's files);
 * - `user`: any signed-in user whose token has `scope`; `courseTokens: false` refuses course-scoped tokens;
 * - `admin`: an admin with an admin-scoped token;
 * - `courseCreator`: a course creator (unscoped token, scope instructor) or an admin (admin scope);
 * - `course`: a member (`member`), an instructor (`instructor`), or for a submission its author or
 *   an instructor (`author-or-instructor`) of the course the route's id belongs to, with `scope`.
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'user'; scope: TokenScope; courseTokens: boolean }
  | { kind: 'admin' }
  | { kind: 'courseCreator' }
  | { kind: 'course'; from: CourseSource; role: 'member' | 'instructor' | 'author-or-instructor'; scope: TokenScope };

type CourseRole = 'member' | 'instructor';

/** The access declarations routes use: `{ config: { access: allow.course('instructor', 'instructor') } }`. */
export const allow = {
  public: (): Access => ({ kind: 'public' }),
  user: (scope: TokenScope = 'read', opts: { courseTokens?: boolean } = {}): Access => ({ kind: 'user', scope, courseTokens: opts.courseTokens ?? true }),
  admin: (): Access => ({ kind: 'admin' }),
  courseCreator: (): Access => ({ kind: 'courseCreator' }),
  /** by `:courseId` */
  course: (role: CourseRole, scope: TokenScope): Access => ({ kind: 'course', from: 'courseId', role, scope }),
  /** by `:assignmentId` */
  assignment: (role: CourseRole, scope: TokenScope): Access => ({ kind: 'course', from: 'assignmentId', role, scope }),
  /** by `:submissionId`; `author-or-instructor`: students reach only their own submissions */
  submission: (role: CourseRole | 'author-or-instructor', scope: TokenScope): Access => ({ kind: 'course', from: 'submissionId', role, scope }),
  /**
   * by `:exerciseId`: the instructors of the course that owns the exercise; a shipped exercise (no
   * course) is read by the instructors of any course and changed by admins only
   */
  exercise: (scope: TokenScope): Access => ({ kind: 'course', from: 'exerciseId', role: 'instructor', scope }),
};

/** What the guard established about a request; read it through the accessors below. */
export interface Resolved {
  principal: Principal;
  /** the caller's role in the route's course (admins with an admin token: instructor) */
  role?: Role;
  course?: Course;
  assignment?: Assignment;
  submission?: Submission;
  exercise?: Exercise;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    resolved: Resolved | null;
  }
  interface FastifyContextConfig {
    access?: Access;
  }
}

const rank = (s: TokenScope) => TOKEN_SCOPE_RANK[s];
/** The caller acts with admin rights: an admin user and an admin-scoped token. */
export const actsAsAdmin = (p: Principal) => p.user.isAdmin && p.token.scope === 'admin';

function requireScope(p: Principal, scope: TokenScope): void {
  if (rank(p.token.scope) < rank(scope)) {
    throw forbidden(`this token's scope (${p.token.scope}) does not allow this: it needs ${scope}`);
  }
}

function requireTokenCourse(p: Principal, courseId: string): void {
  if (p.token.courseId && p.token.courseId !== courseId) throw forbidden('this token is limited to another course');
}

/** Looks a bearer token up: the principal, or null when the token is unknown, revoked or expired. */
export async function authenticate(db: Db, token: string): Promise<Principal | null> {
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  const now = new Date();
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= now)) return null;
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000) {
    db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } }).catch(() => {});
  }
  return { user: row.user, token: { id: row.id, scope: row.scope, courseId: row.courseId, expiresAt: row.expiresAt } };
}

/** The caller's role in a course: admins acting as admins are instructors everywhere. */
export async function courseRole(db: Db, p: Principal, courseId: string): Promise<Role | null> {
  if (actsAsAdmin(p)) return 'instructor';
  const m = await db.membership.findUnique({ where: { userId_courseId: { userId: p.user.id, courseId } } });
  return m?.role ?? null;
}

async function loadCourseOf(db: Db, from: CourseSource, params: Record<string, string>): Promise<Pick<Resolved, 'course' | 'assignment' | 'submission' | 'exercise'> & { courseId: string | null }> {
  if (from === 'exerciseId') {
    const exercise = await db.exercise.findUnique({ where: { id: params['exerciseId']! } });
    if (!exercise) throw notFound('exercise');
    return { exercise, courseId: exercise.courseId };
  }
  if (from === 'courseId') {
    const course = await db.course.findUnique({ where: { id: params['courseId']! } });
    if (!course) throw notFound('course');
    return { course, courseId: course.id };
  }
  if (from === 'assignmentId') {
    const assignment = await db.assignment.findUnique({ where: { id: params['assignmentId']! }, include: { exerciseVersion: { select: { version: true } } } });
    if (!assignment) throw notFound('assignment');
    return { assignment, courseId: assignment.courseId };
  }
  const row = await db.submission.findUnique({ where: { id: params['submissionId']! }, include: { assignment: true } });
  if (!row) throw notFound('submission');
  const { assignment, ...submission } = row;
  return { assignment, submission, courseId: assignment.courseId };
}

/** Applies a route's declaration to an authenticated request; throws 403/404 problems. */
export async function authorize(db: Db, access: Access, p: Principal, params: Record<string, string>): Promise<Resolved> {
  switch (access.kind) {
    case 'public':
      return { principal: p };
    case 'user':
      if (!access.courseTokens && p.token.courseId) throw forbidden('a course-scoped token cannot do this');
      requireScope(p, access.scope);
      return { principal: p };
    case 'admin':
      if (!p.user.isAdmin) throw forbidden('only admins may do this');
      if (p.token.scope !== 'admin') throw forbidden('this needs a token with the admin scope');
      return { principal: p };
    case 'courseCreator':
      if (actsAsAdmin(p)) return { principal: p };
      if (!p.user.canCreateCourses) throw forbidden('you may not create courses');
      if (p.token.courseId) throw forbidden('a course-scoped token cannot create courses');
      requireScope(p, 'instructor');
      return { principal: p };
    case 'course': {
      const loaded = await loadCourseOf(db, access.from, params);
      if (loaded.courseId === null) {
        // a shipped exercise: any course's instructors read it, admins change it
        const { courseId: _, ...rest } = loaded;
        if (actsAsAdmin(p)) return { principal: p, role: 'instructor', ...rest };
        if (rank(access.scope) > rank('read')) throw forbidden('shipped exercises are changed by admins only');
        const teaches = await db.membership.findFirst({ where: { userId: p.user.id, role: 'instructor', ...(p.token.courseId ? { courseId: p.token.courseId } : {}) } });
        if (!teaches) throw forbidden('only instructors may see exercises');
        requireScope(p, access.scope);
        return { principal: p, role: 'instructor', ...rest };
      }
      requireTokenCourse(p, loaded.courseId);
      const role = await courseRole(db, p, loaded.courseId);
      if (!role) throw forbidden('you are not a member of this course');
      if (access.role === 'instructor' && role !== 'instructor') throw forbidden('only the course instructors may do this');
      if (access.role === 'author-or-instructor' && role !== 'instructor' && loaded.submission?.userId !== p.user.id) {
        throw forbidden('you may not see this submission');
      }
      requireScope(p, access.scope);
      const { courseId: _, ...rest } = loaded;
      return { principal: p, role, ...rest };
    }
  }
}

/**
 * The guard (register it at the root, before the routes): every route registered after it must
 * declare `config.access`; the token is checked on request, the declaration after validation.
 */
export const authPlugin = fp<{ db: Db; /** read per request (tests set it after listening) */ publicUrl: () => string }>(async (app: FastifyInstance, { db, publicUrl }) => {
  app.decorateRequest('principal', null);
  app.decorateRequest('resolved', null);
  app.addHook('onRoute', (route) => {
    if (!route.config?.access) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access (config.access: allow.*)`);
    }
  });
  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config.access;
    if (!access || access.kind === 'public') return; // public routes and the not-found handler
    const header = req.headers.authorization;
    if (!header) {
      // the dashboard's session cookie (OpenID Connect sign-in), with the CSRF rule of lib/sessions.ts
      const secure = publicUrl().startsWith('https:');
      const secret = readCookie(req, cookieName(secure));
      if (!secret) throw unauthorized();
      const s = await sessionOf(db, secret);
      if (!s) throw unauthorized('the session expired or was ended: sign in again');
      const csrf = csrfProblem(req, publicUrl());
      if (csrf) throw new HttpError(403, csrf, { type: '/problems/csrf' });
      req.principal = { user: s.user, token: { id: s.id, kind: 'session', scope: 'instructor', courseId: null, expiresAt: s.expiresAt } };
      return;
    }
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw unauthorized('Authorization must be "Bearer <token>"');
    const p = await authenticate(db, m[1]!);
    if (!p) throw unauthorized('the token is unknown, revoked or expired');
    req.principal = p;
  });
  app.addHook('preHandler', async (req) => {
    const access = req.routeOptions.config.access;
    if (!access || access.kind === 'public' || !req.principal) return;
    req.resolved = await authorize(db, access, req.principal, (req.params ?? {}) as Record<string, string>);
  });
});

function resolved(req: FastifyRequest): Resolved {
  if (!req.resolved) throw new Error(`no access was resolved for ${req.method} ${req.url}: the route declares none`);
  return req.resolved;
}

/** The authenticated caller of a non-public route. */
export const caller = (req: FastifyRequest): Principal => resolved(req).principal;
export const callerRole = (req: FastifyRequest): Role => {
  const r = resolved(req).role;
  if (!r) throw new Error('not a course route');
  return r;
};
export function courseOf(req: FastifyRequest): Course {
  const c = resolved(req).course;
  if (!c) throw new Error('not a course route');
  return c;
}
export function assignmentOf(req: FastifyRequest): Assignment {
  const a = resolved(req).assignment;
  if (!a) throw new Error('not an assignment or submission route');
  return a;
}
export function exerciseOf(req: FastifyRequest): Exercise {
  const e = resolved(req).exercise;
  if (!e) throw new Error('not an exercise route');
  return e;
}
export function submissionOf(req: FastifyRequest): Submission {
  const s = resolved(req).submission;
  if (!s) throw new Error('not a submission route');
  return s;
}
