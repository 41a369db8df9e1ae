// API tokens: users create, list and revoke their own (never wider than the token they ask with);
// admins (admin-scoped token) issue, list and revoke anyone's. Nobody else mints tokens for others.
import type { ApiToken, Db } from '@kgrader/db';
import { Problem, TOKEN_SCOPE_RANK, TokenCreate, TokenIdParams, TokenIssued, TokenOut, UserIdParams, UserTokenParams } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { forbidden, HttpError, notFound } from '../errors.js';
import { allow, caller, type Principal } from '../lib/auth.js';
import { issueToken, type IssuedToken } from '../lib/tokens.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem };

const tokenOut = (t: ApiToken): TokenOut => ({
  id: t.id,
  name: t.name,
  prefix: t.prefix,
  scope: t.scope,
  courseId: t.courseId,
  issuedById: t.issuedById,
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt?.toISOString() ?? null,
  revokedAt: t.revokedAt?.toISOString() ?? null,
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
});
const issuedOut = (t: IssuedToken): TokenIssued => ({
  id: t.id,
  userId: t.userId,
  token: t.token,
  prefix: t.prefix,
  scope: t.scope,
  courseId: t.courseId,
  expiresAt: t.expiresAt?.toISOString() ?? null,
});

/** The token a caller may create for themselves: no wider scope, no other course, a course they belong to. */
async function checkOwnRequest(db: Db, p: Principal, body: TokenCreate): Promise<string | null> {
  const courseId = body.courseId === undefined ? p.token.courseId : body.courseId;
  if (TOKEN_SCOPE_RANK[body.scope] > TOKEN_SCOPE_RANK[p.token.scope]) {
    throw forbidden(`a token with scope ${p.token.scope} cannot create one with scope ${body.scope}`);
  }
  if (p.token.courseId && courseId !== p.token.courseId) throw forbidden('a course-scoped token can only create tokens for its own course');
  if (body.scope === 'admin' && courseId) throw new HttpError(422, 'an admin-scoped token cannot be limited to a course');
  if (courseId) {
    const m = await db.membership.findUnique({ where: { userId_courseId: { userId: p.user.id, courseId } } });
    if (!m) throw forbidden('you are not a member of that course');
  }
  return courseId;
}

async function revoke(db: Db, actorId: string, t: ApiToken): Promise<void> {
  await db.$transaction([
    db.apiToken.updateMany({ where: { id: t.id, revokedAt: null }, data: { revokedAt: new Date() } }),
    db.auditEvent.create({
      data: { actorId, action: 'token.revoke', courseId: t.courseId, targetType: 'user', targetId: t.userId, data: { tokenId: t.id, prefix: t.prefix } },
    }),
  ]);
}

export const tokensPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;

  app.get(
    '/me/tokens',
    { config: { access: allow.user('read') }, schema: { tags: ['tokens'], summary: 'Your API tokens (never their secrets)', response: { 200: z.array(TokenOut), ...errors } } },
    async (req) => (await db.apiToken.findMany({ where: { userId: caller(req).user.id }, orderBy: { createdAt: 'asc' } })).map(tokenOut),
  );

  app.post(
    '/me/tokens',
    {
      config: { access: allow.user('read') },
      schema: {
        tags: ['tokens'],
        summary: 'Create a token for yourself: its scope at most that of the token you ask with; a course-scoped token creates tokens for its course only (courseId absent: the same limit as the asking token)',
        body: TokenCreate,
        response: { 201: TokenIssued, ...errors },
      },
    },
    async (req, reply) => {
      const p = caller(req);
      const courseId = await checkOwnRequest(db, p, req.body);
      const t = await issueToken(db, { userId: p.user.id, name: req.body.name, scope: req.body.scope, courseId, issuedById: p.user.id, expiresInDays: req.body.expiresInDays });
      return reply.code(201).header('cache-control', 'no-store').send(issuedOut(t));
    },
  );

  app.delete(
    '/me/tokens/:tokenId',
    {
      config: { access: allow.user('read') },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke one of your tokens: the asking one, or one no wider than it (and of its course, for a course-scoped token)',
        params: TokenIdParams,
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      const p = caller(req);
      const t = await db.apiToken.findFirst({ where: { id: req.params.tokenId, userId: p.user.id } });
      if (!t) throw notFound('token');
      if (t.id !== p.token.id) {
        if (TOKEN_SCOPE_RANK[t.scope] > TOKEN_SCOPE_RANK[p.token.scope]) throw forbidden(`a token with scope ${p.token.scope} cannot revoke one with scope ${t.scope}`);
        if (p.token.courseId && t.courseId !== p.token.courseId) throw forbidden('a course-scoped token can only revoke tokens of its own course');
      }
      await revoke(db, p.user.id, t);
      return reply.code(204).send(null);
    },
  );

  // ---- admins -----------------------------------------------------------------------------------

  const userOr404 = async (userId: string) => {
    const u = await db.user.findUnique({ where: { id: userId } });
    if (!u) throw notFound('user');
    return u;
  };

  app.get(
    '/users/:userId/tokens',
    { config: { access: allow.admin() }, schema: { tags: ['tokens'], summary: "A user's API tokens (admins)", params: UserIdParams, response: { 200: z.array(TokenOut), ...errors } } },
    async (req) => {
      const u = await userOr404(req.params.userId);
      return (await db.apiToken.findMany({ where: { userId: u.id }, orderBy: { createdAt: 'asc' } })).map(tokenOut);
    },
  );

  app.post(
    '/users/:userId/tokens',
    {
      config: { access: allow.admin() },
      schema: {
        tags: ['tokens'],
        summary: 'Issue a token for any user (admins): admin scope only for admins, and never limited to a course',
        params: UserIdParams,
        body: TokenCreate,
        response: { 201: TokenIssued, ...errors },
      },
    },
    async (req, reply) => {
      const admin = caller(req);
      const u = await userOr404(req.params.userId);
      const { scope } = req.body;
      const courseId = req.body.courseId ?? null;
      if (scope === 'admin' && !u.isAdmin) throw new HttpError(422, 'only admins may hold admin-scoped tokens');
      if (scope === 'admin' && courseId) throw new HttpError(422, 'an admin-scoped token cannot be limited to a course');
      if (courseId && !(await db.course.findUnique({ where: { id: courseId }, select: { id: true } }))) throw new HttpError(422, 'no such course');
      const t = await issueToken(db, { userId: u.id, name: req.body.name, scope, courseId, issuedById: admin.user.id, expiresInDays: req.body.expiresInDays });
      return reply.code(201).header('cache-control', 'no-store').send(issuedOut(t));
    },
  );

  app.delete(
    '/users/:userId/tokens/:tokenId',
    { config: { access: allow.admin() }, schema: { tags: ['tokens'], summary: "Revoke a user's token (admins)", params: UserTokenParams, response: { 204: z.null(), ...errors } } },
    async (req, reply) => {
      const t = await db.apiToken.findFirst({ where: { id: req.params.tokenId, userId: req.params.userId } });
      if (!t) throw notFound('token');
      await revoke(db, caller(req).user.id, t);
      return reply.code(204).send(null);
    },
  );
};
