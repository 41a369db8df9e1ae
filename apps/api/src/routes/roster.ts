// Course rosters (issue 12, item 3): CSV import and LTI NRPS sync, each previewed (dryRun, the
// default) and then applied; see lib/roster.ts for the rules.
import { AgsClient, fetchMemberships, LtiError } from '@kgrader/lti';
import { CourseIdParams, Problem, RosterImport, RosterPlan, RosterSync } from '@kgrader/schemas';
import { guardedFetch } from '@kgrader/webhooks';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { allow, caller, courseOf } from '../lib/auth.js';
import { lmsConfig, ToolKeys } from '../lib/lms.js';
import { candidatesFromCsv, candidatesFromNrps, rosterPlan } from '../lib/roster.js';

const errors = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 413: Problem, 422: Problem, 502: Problem, 503: Problem };

export const rosterPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db } = deps;
  const cfg = lmsConfig(deps.config);
  const keys = new ToolKeys(cfg.toolKeysFile);

  app.post(
    '/courses/:courseId/roster/import',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['courses'],
        summary:
          'Import a roster from CSV (`email`, `name`, `role` columns; instructors). `dryRun: true` (the default) answers what would be added, changed or refused; `false` applies it in one transaction. Never touches other courses, never demotes',
        params: CourseIdParams,
        body: RosterImport,
        response: { 200: RosterPlan, ...errors },
      },
    },
    async (req) => {
      const { candidates, refused } = candidatesFromCsv(req.body.csv);
      const course = courseOf(req);
      return db.$transaction((tx) => rosterPlan(tx, { courseId: course.id, actorId: caller(req).user.id, source: 'csv', candidates, refused, apply: !req.body.dryRun }), { timeout: 60_000 });
    },
  );

  app.get(
    '/courses/:courseId/lti/contexts',
    {
      config: { access: allow.course('instructor', 'read') },
      schema: {
        tags: ['lti'],
        summary: "The LMS courses (LTI contexts) launches came from for this course, and whether they offer a roster (NRPS)",
        params: CourseIdParams,
        response: { 200: z.array(z.object({ platformId: z.uuid(), contextId: z.string(), title: z.string().nullable(), nrps: z.boolean(), lastSyncAt: z.iso.datetime({ offset: true }).nullable() })), ...errors },
      },
    },
    async (req) => {
      const rows = await db.ltiContext.findMany({ where: { courseId: courseOf(req).id, platform: { courseId: courseOf(req).id } }, orderBy: { createdAt: 'asc' } });
      return rows.map((r) => ({ platformId: r.platformId, contextId: r.contextId, title: r.title, nrps: r.membershipsUrl !== null, lastSyncAt: r.lastSyncAt?.toISOString() ?? null }));
    },
  );

  app.post(
    '/courses/:courseId/roster/lti-sync',
    {
      config: { access: allow.course('instructor', 'instructor') },
      schema: {
        tags: ['courses'],
        summary:
          "Sync the roster from the LMS (LTI Names and Role Provisioning Services) of a platform registered for this course (instructors); dryRun as for the CSV import. LMS members are matched by their LTI identity, never by e-mail; nobody is removed or demoted",
        params: CourseIdParams,
        body: RosterSync,
        response: { 200: RosterPlan, ...errors },
      },
    },
    async (req) => {
      const course = courseOf(req);
      const contexts = await db.ltiContext.findMany({
        where: { courseId: course.id, membershipsUrl: { not: null }, platform: { courseId: course.id }, ...(req.body.platformId ? { platformId: req.body.platformId } : {}) },
        include: { platform: true },
      });
      if (contexts.length === 0) throw new HttpError(422, 'no LMS course of this course offers its roster (NRPS): launch from the LMS once, with the names and roles service enabled', { type: '/problems/roster/no-nrps' });
      if (contexts.length > 1) throw new HttpError(422, 'several LMS courses offer a roster: name the platformId', { type: '/problems/roster/ambiguous' });
      const ctx = contexts[0]!;
      const [key] = await keys.get();
      const fetchFn = guardedFetch({ allowPrivate: cfg.ltiAllowPrivateUrls });
      const ags = new AgsClient({ key: key!, fetch: fetchFn, allowInsecureUrls: cfg.ltiAllowInsecureUrls, retry: { maxAttempts: 2 } });
      const platform = { clientId: ctx.platform.clientId, tokenEndpoint: ctx.platform.tokenEndpoint, tokenAudience: ctx.platform.tokenAudience ?? undefined };
      let members;
      try {
        members = await fetchMemberships(ags, platform, ctx.membershipsUrl!, { fetch: fetchFn, allowInsecureUrls: cfg.ltiAllowInsecureUrls });
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new HttpError(err instanceof LtiError && err.status === 422 ? 422 : 502, `the LMS roster could not be read: ${msg}`, { type: '/problems/roster/nrps-failed' });
      }
      const { candidates, refused } = candidatesFromNrps(members, { id: ctx.platformId, issuer: ctx.platform.issuer });
      return db.$transaction(async (tx) => {
        const plan = await rosterPlan(tx, { courseId: course.id, actorId: caller(req).user.id, source: 'lti', candidates, refused, apply: !req.body.dryRun });
        if (!req.body.dryRun) await tx.ltiContext.update({ where: { platformId_contextId: { platformId: ctx.platformId, contextId: ctx.contextId } }, data: { lastSyncAt: new Date() } });
        return plan;
      }, { timeout: 60_000 });
    },
  );
};
