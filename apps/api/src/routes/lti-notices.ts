// The notice handler of the LTI Platform Notification Service (issue 15), outside /api/v1 and its
// bearer auth: each notice is a JWT signed by the platform, verified against the platform's JWKS
// (issuer, audience, deployment, expiry, one-time jti). A batch is answered at once: a submission
// notice is stored in the notice inbox (once per notice id: the same notice again is a
// `duplicate`, graded once) with a `Processing` Asset Report per asset queued in the same
// transaction; the worker fetches the assets and grades. LtiHelloWorldNotice is answered; other
// types are acknowledged and ignored.
//   POST /lti/notices   { notices: [{ jwt }] } -> 200 (every notice taken), 207 (some refused),
//                       or the refusal's 4xx problem+json when every notice was refused
import { queueAssetReports, type Prisma } from '@kgrader/db';
import { LtiError, NOTICE_TYPE, parseSubmissionNotice, processingReport, type NoticeContext } from '@kgrader/lti';
import { LtiNoticeBatch, LtiNoticeBatchResult, Problem } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { HttpError, sendProblem } from '../errors.js';
import { allow } from '../lib/auth.js';
import { checkPlatformUrl, lmsConfig, ltiToolGetter, ToolKeys } from '../lib/lms.js';

type NoticeResult = z.infer<typeof LtiNoticeBatchResult>['notices'][number];

export const ltiNoticesPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps; keys: ToolKeys }> = async (app, { deps, keys }) => {
  const { db } = deps;
  const cfg = lmsConfig(deps.config);
  const getTool = ltiToolGetter(deps, keys);

  /** Stores a verified notice; 'duplicate' when its id was already received from this platform. */
  const store = async (ctx: NoticeContext, status: 'received' | 'answered' | 'ignored', extra: Partial<Prisma.LtiNoticeUncheckedCreateInput>, after?: (tx: Prisma.TransactionClient, id: string) => Promise<unknown>) =>
    db.$transaction(async (tx) => {
      const at = ctx.notice.timestamp ? new Date(ctx.notice.timestamp) : null;
      const created = await tx.ltiNotice.createManyAndReturn({
        data: [
          {
            platformId: ctx.registrationId,
            deploymentId: ctx.deploymentId,
            noticeId: ctx.notice.id,
            type: ctx.notice.type,
            noticeAt: at && !Number.isNaN(at.getTime()) ? at : null,
            status,
            claims: ctx.claims as Prisma.InputJsonValue,
            toolUrl: deps.config.publicUrl,
            ...extra,
          },
        ],
        skipDuplicates: true,
        select: { id: true },
      });
      if (created.length === 0) {
        await tx.ltiNotice.updateMany({ where: { platformId: ctx.registrationId, noticeId: ctx.notice.id }, data: { duplicates: { increment: 1 } } });
        return 'duplicate' as const;
      }
      await after?.(tx, created[0]!.id);
      return 'stored' as const;
    });

  const one = async (jwt: string, index: number): Promise<NoticeResult> => {
    const tool = await getTool();
    let ctx: NoticeContext | undefined;
    try {
      ctx = await tool.validateNotice(jwt);
      const base = { index, noticeId: ctx.notice.id, type: ctx.notice.type };
      if (ctx.notice.type === NOTICE_TYPE.assetProcessorSubmission) {
        const notice = parseSubmissionNotice(ctx.claims);
        // every URL kgrader will call for this notice passes the SSRF guard now, so a refusal is seen at once
        await checkPlatformUrl(notice.reportUrl, 'assetreport.report_url', cfg);
        for (const a of notice.assets) await checkPlatformUrl(a.url, `the URL of asset ${a.assetId}`, cfg);
        const at = new Date();
        const assets = notice.assets.map((a) => ({ assetId: a.assetId, url: a.url, name: a.name ?? null, size: a.size ?? null, contentType: a.contentType ?? null, sha256: a.sha256 ?? null }));
        const r = await store(
          ctx,
          'received',
          { assets, reportUrl: notice.reportUrl, reportScope: notice.reportScope, ltiUserId: notice.userId, ltiSubmissionId: notice.submissionId ?? null },
          // `Processing` at once, in the notice's transaction
          (tx, id) => queueAssetReports(tx, { id, platformId: ctx!.registrationId, reportUrl: notice.reportUrl, reportScope: notice.reportScope, assets }, (assetId) => processingReport(assetId, at, 'kgrader'), at),
        );
        return { ...base, outcome: r === 'duplicate' ? 'duplicate' : 'accepted', status: r === 'duplicate' ? 200 : 202 };
      }
      if (ctx.notice.type === NOTICE_TYPE.helloWorld) {
        const r = await store(ctx, 'answered', {});
        return { ...base, outcome: r === 'duplicate' ? 'duplicate' : 'answered', status: 200 };
      }
      const r = await store(ctx, 'ignored', {});
      return { ...base, outcome: r === 'duplicate' ? 'duplicate' : 'ignored', status: 200 };
    } catch (e) {
      if (e instanceof LtiError || e instanceof HttpError) {
        const status = e instanceof LtiError ? e.status : e.statusCode;
        const type = e instanceof LtiError ? `/problems/lti/${e.code}` : (e.opts.type ?? 'about:blank');
        return { index, noticeId: ctx?.notice.id ?? null, type: ctx?.notice.type ?? null, outcome: 'refused', status, problem: { type, detail: e.message } };
      }
      throw e;
    }
  };

  app.post(
    '/lti/notices',
    {
      config: { access: allow.public() },
      schema: {
        tags: ['lti'],
        summary: 'LTI Platform Notification Service notice handler: a batch of notice JWTs signed by the platform',
        security: [],
        body: LtiNoticeBatch,
        response: { 200: LtiNoticeBatchResult, 207: LtiNoticeBatchResult, 400: Problem, 401: Problem, 403: Problem, 422: Problem, 502: Problem, 503: Problem },
      },
    },
    async (req, reply) => {
      await keys.get(); // 503 while LTI is off
      const results: NoticeResult[] = [];
      for (const [i, n] of req.body.notices.entries()) results.push(await one(n.jwt, i));
      const refused = results.filter((r) => r.outcome === 'refused');
      for (const r of refused) req.log.warn({ index: r.index, noticeId: r.noticeId, problem: r.problem }, 'LTI notice refused');
      if (refused.length === results.length) {
        const first = refused[0]!;
        return sendProblem(reply, req, first.status, first.problem!.detail, { type: first.problem!.type, title: 'LTI notice refused', extensions: { notices: results } });
      }
      return reply.code(refused.length ? 207 : 200).send({ notices: results });
    },
  );
};
