// LTI 1.3 tool endpoints (outside /api/v1 and its bearer auth: the launch is the authentication):
//   GET  /.well-known/jwks.json   our public keys (AGS client assertions are checked against them)
//   GET|POST /lti/login           OIDC third-party login initiation -> 302 to the platform
//   POST /lti/launch              id_token form_post -> user, membership, resource link, audit;
//                                 303 to /app/assignments/<id>#lti_session=<one-time code>
//   POST /lti/session             exchanges the one-time code for a short-lived API token
// Register at the root: `await app.register(ltiPlugin, { deps })`.
import { createHash, randomBytes } from 'node:crypto';
import { isUniqueViolation, PrismaLoginStateStore, PrismaNonceStore, PrismaRegistrationStore, type Tx } from '@kgrader/db';
import { LtiTool, publicJwks, type LaunchContext } from '@kgrader/lti';
import { LtiSession, LtiSessionExchange, Problem } from '@kgrader/schemas';
import { guardedFetch } from '@kgrader/webhooks';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { allow } from '../lib/auth.js';
import { lmsConfig, ltiProblem, readCookie, ToolKeys } from '../lib/lms.js';
import { hashToken, issueToken } from '../lib/tokens.js';

const STATE_COOKIE = 'lti_state';
const HANDOFF_TTL_MS = 120_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const LoginParams = z.object({
  iss: z.string().optional(),
  login_hint: z.string().optional(),
  target_link_uri: z.string().optional(),
  lti_message_hint: z.string().optional(),
  client_id: z.string().optional(),
  lti_deployment_id: z.string().optional(),
});
const LaunchBody = z.object({ id_token: z.string().optional(), state: z.string().optional() }).loose();

export interface LtiPluginOptions {
  deps: ApiDeps;
  /** shared with the admin routes (one key load per process) */
  keys?: ToolKeys;
}

export const ltiPlugin: FastifyPluginAsyncZod<LtiPluginOptions> = async (app, { deps, keys: sharedKeys }) => {
  const { db } = deps;
  const cfg = lmsConfig(deps.config);
  const keys = sharedKeys ?? new ToolKeys(cfg.toolKeysFile);
  const registrations = new PrismaRegistrationStore(db);
  const states = new PrismaLoginStateStore(db);
  const nonces = new PrismaNonceStore(db);
  // publicUrl is final once the server listens (tests set it after listen): build the tool lazily
  let tool: { url: string; tool: LtiTool } | undefined;
  const getTool = async (): Promise<LtiTool> => {
    await keys.get(); // 503 when LTI is off
    const url = deps.config.publicUrl;
    if (tool?.url !== url) {
      tool = {
        url,
        tool: new LtiTool({
          launchUrl: `${url}/lti/launch`,
          registrations,
          states,
          nonces,
          allowInsecureUrls: cfg.ltiAllowInsecureUrls,
          // the platform's JWKS URL is SSRF-checked on every fetch too, not only when registered
          jwks: { cooldownMs: 5_000, fetch: guardedFetch({ allowPrivate: cfg.ltiAllowPrivateUrls }) },
        }),
      };
    }
    return tool.tool;
  };

  // the OIDC steps post HTML forms
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 422: Problem, 502: Problem, 503: Problem };

  app.get(
    '/.well-known/jwks.json',
    { config: { access: allow.public() }, schema: { tags: ['lti'], summary: "kgrader's public keys as an LTI tool (JWKS)", security: [], response: { 200: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }), 503: Problem } } },
    async (_req, reply) => {
      const jwks = publicJwks(await keys.get());
      return reply.header('cache-control', 'public, max-age=300').send(jwks);
    },
  );

  const login = async (params: z.infer<typeof LoginParams>, reply: FastifyReply) => {
    const t = await getTool();
    const r = await t.initiateLogin(params).catch((e: unknown) => {
      throw ltiProblem(e);
    });
    const secure = deps.config.publicUrl.startsWith('https:');
    reply.header(
      'set-cookie',
      `${STATE_COOKIE}=${encodeURIComponent(r.state)}; Path=/lti; Max-Age=600; HttpOnly; ${secure ? 'Secure; SameSite=None' : 'SameSite=Lax'}`,
    );
    return reply.redirect(r.redirectUrl, 302);
  };
  app.get('/lti/login', { config: { access: allow.public() }, schema: { tags: ['lti'], summary: 'OIDC login initiation (query)', security: [], querystring: LoginParams, response: errors } }, async (req, reply) =>
    login(req.query, reply),
  );
  app.post('/lti/login', { config: { access: allow.public() }, schema: { tags: ['lti'], summary: 'OIDC login initiation (form)', security: [], body: LoginParams, response: errors } }, async (req, reply) =>
    login(req.body, reply),
  );

  app.post(
    '/lti/launch',
    { config: { access: allow.public() }, schema: { tags: ['lti'], summary: 'LTI 1.3 resource link launch (id_token form_post)', security: [], body: LaunchBody, response: errors } },
    async (req, reply) => {
      const t = await getTool();
      const ctx = await t
        .validateLaunch({ idToken: req.body.id_token, state: req.body.state, cookieState: readCookie(req.headers.cookie, STATE_COOKIE) })
        .catch((e: unknown) => {
          throw ltiProblem(e);
        });
      if (!ctx.courseId) throw new HttpError(403, 'this LMS deployment is not bound to a kgrader course', { type: '/problems/lti/deployment-not-bound' });
      if (!ctx.role) throw new HttpError(403, 'none of your LMS roles gives access to kgrader (Learner or Instructor expected)', { type: '/problems/lti/no-role' });
      const code = randomBytes(32).toString('base64url');
      const run = () => db.$transaction((tx) => applyLaunch(tx, ctx, ctx.courseId!, ctx.role!, code, deps.config.publicUrl));
      const landed = await run().catch((e: unknown) => (isUniqueViolation(e) ? run() : Promise.reject(e))); // two first launches at once
      reply.header('set-cookie', `${STATE_COOKIE}=; Path=/lti; Max-Age=0; HttpOnly`);
      reply.header('cache-control', 'no-store');
      req.log.info({ userId: landed.userId, courseId: ctx.courseId, assignmentId: landed.assignmentId, role: landed.role }, 'LTI launch');
      // the code travels in the fragment: never sent to a server, not in logs or Referer
      return reply.redirect(`${deps.config.publicUrl}/app/assignments/${landed.assignmentId}#lti_session=${code}`, 303);
    },
  );

  app.post(
    '/lti/session',
    {
      config: { access: allow.public() },
      schema: {
        tags: ['lti'],
        summary: 'Exchange the one-time code of an LTI launch (URL fragment `lti_session`) for a short-lived API token',
        security: [],
        body: LtiSessionExchange,
        response: { 200: LtiSession, 400: Problem, 401: Problem },
      },
    },
    async (req, reply) => {
      const rows = await db.$queryRaw<{ userId: string; courseId: string | null; assignmentId: string | null }[]>`
        DELETE FROM "LtiSessionHandoff" WHERE "codeHash" = ${hashToken(req.body.code)} AND "expiresAt" > ${new Date().toISOString()}::timestamp(3)
        RETURNING "userId"::text AS "userId", "courseId"::text AS "courseId", "assignmentId"::text AS "assignmentId"`;
      const h = rows[0];
      if (!h) throw new HttpError(401, 'the session code is unknown, already used or expired: launch again from the LMS', { type: '/problems/lti/invalid-session-code' });
      // the session is what the launch proved: the launch's course only, with the role held there
      // (a student submits, an instructor manages); never the user's other courses or admin rights
      const m = h.courseId ? await db.membership.findUnique({ where: { userId_courseId: { userId: h.userId, courseId: h.courseId } } }) : null;
      if (!h.courseId || !m) throw new HttpError(401, 'the launch no longer matches a course membership: launch again from the LMS', { type: '/problems/lti/invalid-session-code' });
      const t = await issueToken(db, {
        userId: h.userId,
        name: 'lti-session',
        scope: m.role === 'instructor' ? 'instructor' : 'submit',
        courseId: h.courseId,
        issuedById: null,
        expiresInDays: cfg.sessionHours / 24,
      });
      return reply.header('cache-control', 'no-store').send({
        token: t.token,
        expiresAt: t.expiresAt!.toISOString(),
        userId: h.userId,
        courseId: h.courseId,
        assignmentId: h.assignmentId,
      });
    },
  );
};

const syntheticEmail = (ctx: LaunchContext): string =>
  `lti-${createHash('sha256').update(`${ctx.issuer}\n${ctx.user.sub}`).digest('hex').slice(0, 20)}@${new URL(ctx.issuer).hostname}.lti.invalid`;

/** The launch's writes, in one transaction: user + identity, membership, resource link, audit, handoff code. */
async function applyLaunch(tx: Tx, ctx: LaunchContext, courseId: string, role: 'student' | 'instructor', code: string, publicUrl: string) {
  const platformId = ctx.registrationId;
  // 1. the kgrader user of this LMS user (never matched by e-mail: the LMS does not prove it)
  const identity = await tx.ltiIdentity.findUnique({ where: { platformId_sub: { platformId, sub: ctx.user.sub } } });
  let userId = identity?.userId;
  if (!userId) {
    const email = ctx.user.email && !(await tx.user.findUnique({ where: { email: ctx.user.email }, select: { id: true } })) ? ctx.user.email : syntheticEmail(ctx);
    const name = ctx.user.name ?? ([ctx.user.givenName, ctx.user.familyName].filter(Boolean).join(' ') || ctx.user.sub);
    const user = await tx.user.create({ data: { email, name } });
    await tx.ltiIdentity.create({ data: { platformId, sub: ctx.user.sub, userId: user.id } });
    userId = user.id;
  }
  // 2. membership with the mapped role; a launch never downgrades an instructor
  const m = await tx.membership.findUnique({ where: { userId_courseId: { userId, courseId } } });
  let effectiveRole = m?.role ?? role;
  if (!m) await tx.membership.create({ data: { userId, courseId, role } });
  else if (m.role === 'student' && role === 'instructor') {
    await tx.membership.update({ where: { userId_courseId: { userId, courseId } }, data: { role } });
    effectiveRole = 'instructor';
  }
  // 3. the assignment: a known resource link, else the target link URI, else the custom parameter
  const link = await tx.ltiResourceLink.findUnique({
    where: { platformId_resourceLinkId: { platformId, resourceLinkId: ctx.resourceLink.id } },
    include: { assignment: { select: { courseId: true } } },
  });
  let assignmentId = link && link.assignment.courseId === courseId ? link.assignmentId : undefined;
  if (!assignmentId) {
    let fromTarget: string | undefined;
    try {
      fromTarget = /\/lti\/assignments\/([^/]+)\/?$/.exec(new URL(ctx.targetLinkUri).pathname)?.[1];
    } catch {
      /* validated by the tool */
    }
    const named = fromTarget ?? ctx.custom['assignment'] ?? ctx.custom['assignment_id'];
    if (named) {
      const a = UUID.test(named)
        ? await tx.assignment.findFirst({ where: { id: named, courseId }, select: { id: true } })
        : await tx.assignment.findFirst({ where: { exerciseSlug: named, courseId }, orderBy: { createdAt: 'asc' }, select: { id: true } });
      assignmentId = a?.id;
    }
    if (!assignmentId)
      throw new HttpError(
        404,
        `this LMS link names no assignment of the course: set the custom parameter assignment=<assignment id or exercise slug>, or the target link URI ${publicUrl}/lti/assignments/<assignment id>`,
        { type: '/problems/lti/unknown-assignment' },
      );
  }
  const ags = { lineitemUrl: ctx.ags?.lineitem ?? null, agsScopes: ctx.ags?.scopes ?? [] };
  const saved = await tx.ltiResourceLink.upsert({
    where: { platformId_resourceLinkId: { platformId, resourceLinkId: ctx.resourceLink.id } },
    create: { platformId, resourceLinkId: ctx.resourceLink.id, deploymentId: ctx.deploymentId, contextId: ctx.context?.id ?? null, assignmentId, ...ags },
    update: { deploymentId: ctx.deploymentId, contextId: ctx.context?.id ?? null, assignmentId, ...ags },
  });
  // the LMS course (context) and its Names and Role Provisioning Services URL, for roster syncs
  if (ctx.context) {
    const context = { courseId, title: ctx.context.title ?? null, membershipsUrl: ctx.nrps?.contextMembershipsUrl ?? null };
    await tx.ltiContext.upsert({ where: { platformId_contextId: { platformId, contextId: ctx.context.id } }, create: { platformId, contextId: ctx.context.id, ...context }, update: context });
  }
  // 4. audit and the one-time session handoff
  await tx.auditEvent.create({
    data: {
      actorId: userId,
      action: 'lti.launch',
      courseId,
      targetType: 'assignment',
      targetId: assignmentId,
      data: { platformId, issuer: ctx.issuer, deploymentId: ctx.deploymentId, sub: ctx.user.sub, roles: ctx.roles, role: effectiveRole, resourceLinkId: saved.id, lineitem: ags.lineitemUrl },
    },
  });
  await tx.ltiSessionHandoff.create({ data: { codeHash: hashToken(code), userId, courseId, assignmentId, expiresAt: new Date(Date.now() + HANDOFF_TTL_MS) } });
  return { userId, assignmentId, role: effectiveRole };
}
