// LTI 1.3 tool endpoints (outside /api/v1 and its bearer auth: the launch is the authentication):
//   GET  /.well-known/jwks.json   our public keys (AGS client assertions are checked against them)
//   GET|POST /lti/login           OIDC third-party login initiation -> 302 to the platform
//   POST /lti/launch              id_token form_post -> user, membership, resource link, audit;
//                                 303 to /app/assignments/<id>#lti_session=<one-time code>
//   POST /lti/session             exchanges the one-time code for a short-lived API token
// Register at the root: `await app.register(ltiPlugin, { deps })`.
import { randomBytes } from 'node:crypto';
import { ensureLtiUser, isUniqueViolation, PrismaNonceStore, type Tx } from '@kgrader/db';
import { listExercises } from '@kgrader/exercises';
import {
  ASSET_PROCESSOR_ITEM,
  LtiError,
  publicJwks,
  signDeepLinkingResponse,
  signToolState,
  verifyToolState,
  type AssetProcessorItem,
  type DeepLinkingContext,
  type LaunchContext,
} from '@kgrader/lti';
import { LtiSession, LtiSessionExchange, Problem } from '@kgrader/schemas';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { allow } from '../lib/auth.js';
import { lmsConfig, ltiProblem, ltiToolGetter, queueNoticeHandlers, readCookie, ToolKeys } from '../lib/lms.js';
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
  const getTool = ltiToolGetter(deps, keys);
  const handlerUrl = () => `${deps.config.publicUrl}/lti/notices`;

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
      const msg = await t
        .validateLaunchMessage({ idToken: req.body.id_token, state: req.body.state, cookieState: readCookie(req.headers.cookie, STATE_COOKIE) })
        .catch((e: unknown) => {
          throw ltiProblem(e);
        });
      if (!msg.courseId) throw new HttpError(403, 'this LMS deployment is not bound to a kgrader course', { type: '/problems/lti/deployment-not-bound' });
      if (!msg.role) throw new HttpError(403, 'none of your LMS roles gives access to kgrader (Learner or Instructor expected)', { type: '/problems/lti/no-role' });
      reply.header('set-cookie', `${STATE_COOKIE}=; Path=/lti; Max-Age=0; HttpOnly`);
      if (msg.messageType === 'LtiDeepLinkingRequest') return deepLinkingPicker(msg, reply);
      const ctx = msg;
      const code = randomBytes(32).toString('base64url');
      const run = () => db.$transaction((tx) => applyLaunch(tx, ctx, ctx.courseId!, ctx.role!, code, deps.config.publicUrl, handlerUrl()));
      const landed = await run().catch((e: unknown) => (isUniqueViolation(e) ? run() : Promise.reject(e))); // two first launches at once
      reply.header('cache-control', 'no-store');
      req.log.info({ userId: landed.userId, courseId: ctx.courseId, assignmentId: landed.assignmentId, role: landed.role }, 'LTI launch');
      // the code travels in the fragment: never sent to a server, not in logs or Referer
      return reply.redirect(`${deps.config.publicUrl}/app/assignments/${landed.assignmentId}#lti_session=${code}`, 303);
    },
  );

  // ---- deep linking: an instructor attaches kgrader to an LMS assignment as its asset processor ----

  const nonces = new PrismaNonceStore(db);

  /** The page of an LtiDeepLinkingRequest: choose the kgrader exercise the LMS assignment is graded with. */
  const deepLinkingPicker = async (ctx: DeepLinkingContext, reply: FastifyReply) => {
    if (ctx.role !== 'instructor') throw new HttpError(403, 'only instructors attach kgrader to an assignment', { type: '/problems/lti/not-instructor' });
    if (!ctx.deepLinking.acceptTypes.includes(ASSET_PROCESSOR_ITEM))
      throw new HttpError(400, `kgrader is attached to an assignment as an asset processor (${ASSET_PROCESSOR_ITEM}); this request accepts ${ctx.deepLinking.acceptTypes.join(', ') || 'nothing'}`, {
        type: '/problems/lti/invalid_deep_linking',
      });
    const courseId = ctx.courseId!;
    const { userId } = await db.$transaction(async (tx) => {
      const u = await ensureLtiUser(tx, { platformId: ctx.registrationId, issuer: ctx.issuer, sub: ctx.user.sub, name: ctx.user.name, email: ctx.user.email }, courseId, 'instructor');
      await queueNoticeHandlers(tx, { platformId: ctx.registrationId, deploymentId: ctx.deploymentId, pns: ctx.pns, handlerUrl: handlerUrl() });
      return u;
    });
    const [key] = await keys.get();
    const state = await signToolState(key!, {
      kind: 'deep-link',
      userId,
      courseId,
      platformId: ctx.registrationId,
      deploymentId: ctx.deploymentId,
      returnUrl: ctx.deepLinking.returnUrl,
      data: ctx.deepLinking.data ?? null,
      activityId: ctx.activity?.id ?? null,
      activityTitle: ctx.activity?.title ?? null,
      contextId: ctx.context?.id ?? null,
    });
    const exercises = await listExercises(deps.config.exercisesDir);
    const bound = ctx.activity ? await db.ltiAssetProcessor.findUnique({ where: { platformId_activityId: { platformId: ctx.registrationId, activityId: ctx.activity.id } } }) : null;
    const options = exercises
      .map(
        (e, i) =>
          `<label><input type="radio" name="exercise" value="${esc(e.slug)}"${(bound ? bound.exerciseSlug === e.slug : i === 0) ? ' checked' : ''}> <b>${esc(e.title)}</b> <code>${esc(e.slug)}</code><br><small>${esc(e.summary ?? '')}</small></label>`,
      )
      .join('\n');
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action *")
      .send(
        page(
          'Attach kgrader',
          `<h1>Grade this assignment with kgrader</h1>
<p>Students submit their driver (<code>.c</code>/<code>.h</code> files or one <code>.tar.gz</code>) in the LMS assignment${ctx.activity?.title ? ` <b>${esc(ctx.activity.title)}</b>` : ''}; kgrader grades each submission and reports back.</p>
<form method="post" action="${esc(deps.config.publicUrl)}/lti/deep-link">
<input type="hidden" name="state" value="${esc(state)}">
<fieldset><legend>Exercise</legend>${options}</fieldset>
<p><label>Title <input name="title" maxlength="200" value="${esc(bound?.title ?? ctx.activity?.title ?? '')}"></label></p>
<p><button type="submit">Attach</button></p>
</form>`,
        ),
      );
  };

  app.post(
    '/lti/deep-link',
    {
      config: { access: allow.public() },
      schema: {
        tags: ['lti'],
        summary: 'Deep linking answer: attaches kgrader with the chosen exercise to the LMS assignment and posts the signed LtiDeepLinkingResponse back to the LMS',
        security: [],
        body: z.object({ state: z.string().optional(), exercise: z.string().optional(), title: z.string().max(200).optional() }).loose(),
        response: errors,
      },
    },
    async (req, reply) => {
      const keyList = await keys.get();
      const st = await verifyToolState(keyList, req.body.state ?? '').catch((e: unknown) => {
        throw ltiProblem(e);
      });
      if (st['kind'] !== 'deep-link') throw ltiProblem(new LtiError('invalid_state', 'this is not a deep linking form', 401));
      // a bad choice leaves the form usable: the state is spent only by a valid answer
      const slug = req.body.exercise ?? '';
      const exercise = /^[a-z0-9][a-z0-9_-]*$/.test(slug) ? await deps.catalog.get(slug) : null;
      if (!exercise) throw new HttpError(422, `unknown exercise ${JSON.stringify(slug.slice(0, 80))}`, { type: '/problems/lti/unknown-exercise' });
      if (!(await nonces.consume(`dl:${st.jti}`, st.exp * 1000 + 60_000))) throw ltiProblem(new LtiError('invalid_state', 'this form was already sent: attach kgrader again from the LMS', 401));
      const s = st as unknown as { userId: string; courseId: string; platformId: string; deploymentId: string; returnUrl: string; data: string | null; activityId: string | null; activityTitle: string | null; contextId: string | null };
      const platform = await db.ltiPlatform.findUnique({ where: { id: s.platformId } });
      if (!platform) throw new HttpError(404, 'the LMS registration was removed', { type: '/problems/lti/unknown_issuer' });
      const title = (req.body.title?.trim() || s.activityTitle || exercise.title).slice(0, 200);
      const processor = await db.$transaction(async (tx) => {
        const existing = s.activityId ? await tx.ltiAssetProcessor.findUnique({ where: { platformId_activityId: { platformId: s.platformId, activityId: s.activityId } } }) : null;
        // an exercise is fixed for an assignment's life: another exercise means another kgrader assignment
        let assignmentId = existing && existing.exerciseSlug === exercise.slug ? existing.assignmentId : undefined;
        if (!assignmentId) {
          const a = await tx.assignment.create({
            // the LMS assignment governs dates and attempts: no kgrader rate limit, nothing superseded
            data: { courseId: s.courseId, exerciseSlug: exercise.slug, title, rateLimitCount: 0, supersedeQueued: false },
          });
          assignmentId = a.id;
        }
        const data = { deploymentId: s.deploymentId, activityTitle: s.activityTitle, contextId: s.contextId, assignmentId, exerciseSlug: exercise.slug, title, createdById: s.userId };
        const p = existing
          ? await tx.ltiAssetProcessor.update({ where: { id: existing.id }, data })
          : await tx.ltiAssetProcessor.create({ data: { platformId: s.platformId, activityId: s.activityId, ...data } });
        await tx.auditEvent.create({
          data: { actorId: s.userId, action: 'lti.asset_processor.attach', courseId: s.courseId, targetType: 'assignment', targetId: assignmentId, data: { processorId: p.id, activityId: s.activityId, exercise: exercise.slug } },
        });
        return p;
      });
      const item: AssetProcessorItem = {
        type: ASSET_PROCESSOR_ITEM,
        title: `kgrader: ${title}`,
        text: `kgrader builds and stress-tests the driver (${exercise.title}) in a sanitizer kernel and reports the score and the kernel's findings.`,
        custom: { kgrader_processor: processor.id, kgrader_exercise: exercise.slug },
      };
      const jwt = await signDeepLinkingResponse(keyList[0]!, {
        clientId: platform.clientId,
        platformIssuer: platform.issuer,
        deploymentId: s.deploymentId,
        data: s.data ?? undefined,
        items: [item],
      });
      req.log.info({ processorId: processor.id, assignmentId: processor.assignmentId, exercise: exercise.slug }, 'asset processor attached');
      return (reply as FastifyReply)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; form-action *")
        .send(
          page(
            'kgrader attached',
            `<p>kgrader grades this assignment with <b>${esc(exercise.title)}</b>. Returning to the LMS…</p>
<form method="post" action="${esc(s.returnUrl)}"><input type="hidden" name="JWT" value="${esc(jwt)}"><button type="submit">Continue</button></form>
<script>document.forms[0].submit()</script>`,
          ),
        );
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

/** The launch's writes, in one transaction: user + identity, membership, resource link, audit, handoff code. */
async function applyLaunch(tx: Tx, ctx: LaunchContext, courseId: string, role: 'student' | 'instructor', code: string, publicUrl: string, handlerUrl: string) {
  const platformId = ctx.registrationId;
  // 1-2. the kgrader user of this LMS user (never matched by e-mail: the LMS does not prove it) and
  // their membership with the mapped role (a launch never downgrades an instructor)
  const name = ctx.user.name ?? ([ctx.user.givenName, ctx.user.familyName].filter(Boolean).join(' ') || ctx.user.sub);
  const { userId, role: effectiveRole } = await ensureLtiUser(tx, { platformId, issuer: ctx.issuer, sub: ctx.user.sub, name, email: ctx.user.email }, courseId, role);
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
  // 4. the notice handler, when the platform offers its Platform Notification Service (issue 15)
  await queueNoticeHandlers(tx, { platformId, deploymentId: ctx.deploymentId, pns: ctx.pns, handlerUrl });
    // the LMS course (context) and its Names and Role Provisioning Services URL, for roster syncs
  if (ctx.context) {
    const context = { courseId, title: ctx.context.title ?? null, membershipsUrl: ctx.nrps?.contextMembershipsUrl ?? null };
    await tx.ltiContext.upsert({ where: { platformId_contextId: { platformId, contextId: ctx.context.id } }, create: { platformId, contextId: ctx.context.id, ...context }, update: context });
  }
  // 5. audit and the one-time session handoff
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

const esc = (v: string): string => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const page = (title: string, body: string): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>` +
  `<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}label{display:block;margin:.4rem 0}fieldset{border:1px solid #ccc}</style>` +
  `</head><body>${body}</body></html>`;
