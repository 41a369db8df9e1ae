// Dashboard sign-in with OpenID Connect (issue 12, item 2): the providers, the redirect to one,
// its callback (a session cookie, then back to the dashboard), and ending the session. Public:
// the provider's signed ID token is what authenticates here.
import { Problem } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { sendProblem } from '../errors.js';
import { allow, caller } from '../lib/auth.js';
import { finishLogin, OidcClients, SignInRefused, startLogin } from '../lib/oidc.js';
import { clearSessionCookie, createSession, setSessionCookie } from '../lib/sessions.js';

const STATUS: Record<SignInRefused['code'], number> = {
  'unknown-provider': 404,
  'bad-state': 400,
  'provider-error': 502,
  'token-rejected': 401,
  'account-exists': 403,
  'provisioning-off': 403,
  'email-unverified': 403,
  'email-domain': 403,
};

export const authRoutesPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;
  const auth = deps.config.auth ?? { providers: [], allowInsecure: false, sessionHours: 12 };
  const clients = new OidcClients(auth);
  const secure = () => deps.config.publicUrl.startsWith('https:');
  const callbackUrl = (id: string) => `${deps.config.publicUrl}/auth/callback/${id}`;
  /** a browser is sent back to the dashboard with the reason; an API client gets problem+json */
  const refuse = (req: Parameters<typeof sendProblem>[1], reply: Parameters<typeof sendProblem>[0], err: SignInRefused) => {
    if ((req.headers.accept ?? '').includes('text/html')) {
      return reply.redirect(`/app/#signin_error=${encodeURIComponent(err.message)}`, 303);
    }
    return sendProblem(reply, req, STATUS[err.code], err.message, { type: `/problems/signin/${err.code}` });
  };

  app.get(
    '/auth/providers',
    {
      config: { access: allow.public() },
      schema: { tags: ['sign-in'], summary: 'The OpenID Connect providers the dashboard can sign in with', security: [], response: { 200: z.array(z.object({ id: z.string(), name: z.string() })) } },
    },
    async () => auth.providers.map((p) => ({ id: p.id, name: p.name })),
  );

  app.get(
    '/auth/login/:providerId',
    {
      config: { access: allow.public() },
      schema: {
        tags: ['sign-in'],
        summary: 'Starts a sign-in: 302 to the provider (authorization code with PKCE); `returnTo`: a dashboard path to come back to',
        security: [],
        params: z.object({ providerId: z.string().max(40) }),
        querystring: z.object({ returnTo: z.string().max(500).optional() }),
        response: { 400: Problem, 404: Problem, 502: Problem },
      },
    },
    async (req, reply) => {
      try {
        const url = await startLogin(db, clients, req.params.providerId, callbackUrl(req.params.providerId), req.query.returnTo ?? '/app/');
        return reply.header('cache-control', 'no-store').redirect(url.href, 302);
      } catch (err) {
        if (err instanceof SignInRefused) return refuse(req, reply, err);
        throw err;
      }
    },
  );

  app.get(
    '/auth/callback/:providerId',
    {
      config: { access: allow.public() },
      schema: {
        tags: ['sign-in'],
        summary: "The provider's redirect back: checks the code, PKCE, state, nonce and ID token, signs the user in (session cookie) and 303s to the dashboard",
        security: [],
        params: z.object({ providerId: z.string().max(40) }),
        response: { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 502: Problem },
      },
    },
    async (req, reply) => {
      try {
        const url = new URL(callbackUrl(req.params.providerId));
        url.search = new URL(req.url, 'http://x').search;
        const signed = await finishLogin(db, clients, req.params.providerId, url);
        const { secret } = await createSession(db, signed.user.id, signed.issuer, auth.sessionHours);
        setSessionCookie(reply, secret, secure(), auth.sessionHours);
        req.log.info({ userId: signed.user.id, issuer: signed.issuer, created: signed.created }, 'signed in');
        return reply.header('cache-control', 'no-store').redirect(signed.returnTo, 303);
      } catch (err) {
        if (err instanceof SignInRefused) {
          req.log.warn({ code: err.code, msg: err.message }, 'sign-in refused');
          return refuse(req, reply, err);
        }
        throw err;
      }
    },
  );

  app.delete(
    '/api/v1/me/session',
    {
      config: { access: allow.user('read') },
      schema: { tags: ['sign-in'], summary: "Signs out: ends the dashboard session of this request's cookie (409 for a bearer token)", response: { 204: z.null(), 401: Problem, 403: Problem, 409: Problem } },
    },
    async (req, reply) => {
      const { token } = caller(req);
      if (token.kind !== 'session') return sendProblem(reply, req, 409, 'this request is not made with a session (a bearer token is revoked with DELETE /me/tokens/:id)');
      await db.session.updateMany({ where: { id: token.id, revokedAt: null }, data: { revokedAt: new Date() } });
      clearSessionCookie(reply, secure());
      return reply.code(204).send(null);
    },
  );
};
