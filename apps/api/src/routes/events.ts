import { withinDeadline, type PublishedEvent } from '@kgrader/db';
import { Problem, sourceLinesOf, Stage, SubmissionIdParams, TERMINAL_STATUSES, type Finding, type SubmissionStreamEvent } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { allow, assignmentOf, callerRole, submissionOf } from '../lib/auth.js';
import { studentProgressLine, studentSummary, viewOf } from '../lib/visibility.js';

const errors = { 401: Problem, 403: Problem, 404: Problem, 503: Problem };

/** Live status over Server-Sent Events: replays what happened, streams the rest, closes on the verdict. */
export const eventsPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { db, events } = deps;

  app.get(
    '/submissions/:submissionId/events',
    {
      config: { access: allow.submission('author-or-instructor', 'read') },
      schema: {
        tags: ['submissions'],
        summary: 'Server-Sent Events: one `status` event per stage, `log` progress lines, a final `verdict` event, then the stream closes',
        description: 'Each event carries `id:` (resume with Last-Event-ID) and a JSON SubmissionStreamEvent in `data:`.',
        params: SubmissionIdParams,
        headers: z.object({ 'last-event-id': z.string().regex(/^\d+$/).optional() }),
        produces: ['text/event-stream'],
        response: { ...errors },
      },
    },
    async (req, reply) => {
      const sid = submissionOf(req).id;
      let lastSent = BigInt(req.headers['last-event-id'] ?? '0');
      // a student's stream leaves out what they may not see of the tests (hidden tests' progress
      // lines, the verdict and score while any test is hidden from them)
      const view = await viewOf(db, assignmentOf(req), callerRole(req), submissionOf(req).userId);
      const verdictSummary = async (): Promise<string | null> => {
        const s = await db.submission.findUnique({ where: { id: sid } });
        if (!s) return null;
        const runId = s.currentRunId;
        const [tests, findings] = runId
          ? await Promise.all([
              db.testResult.findMany({ where: { runId }, orderBy: { position: 'asc' }, select: { name: true, status: true } }),
              db.finding.findMany({ where: { runId }, orderBy: { position: 'asc' }, select: { title: true, data: true } }),
            ])
          : [[], []];
        return studentSummary(s.summary, view, tests, findings.map((f) => ({ title: f.title, sourceLines: sourceLinesOf(f.data as unknown as Finding) })));
      };
      const forCaller = async (ev: SubmissionStreamEvent): Promise<SubmissionStreamEvent | null> => {
        if (view.hidden.size === 0) return ev;
        if (ev.type === 'verdict') {
          const summary = ev.status === 'done' ? await verdictSummary() : null;
          return { ...ev, verdict: null, score: null, maxScore: null, message: summary ?? ev.message };
        }
        const message = studentProgressLine(ev.message, view);
        return message === null ? null : { ...ev, message };
      };

      // subscribe first, buffering, so nothing published while we replay from the database is lost
      const buffered: PublishedEvent[] = [];
      let live: ((ev: PublishedEvent) => void) | null = null;
      const subscribing = events.subscribe(sid, (ev) => (live ? live(ev) : buffered.push(ev)));
      const unsubscribe = await withinDeadline(subscribing, 2_000).catch(() => {
        void subscribing.then((u) => u(), () => {});
        throw new HttpError(503, 'live events are unavailable right now (Redis); the submission is not affected: try again shortly', { headers: { 'retry-after': '5' } });
      });

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': kgrader submission events\nretry: 3000\n\n');

      let closed = false;
      const heartbeat = setInterval(() => res.write(': keepalive\n\n'), 15_000);
      const maxAge = setTimeout(() => close(), deps.config.sseMaxSeconds * 1000);
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        clearTimeout(maxAge);
        void unsubscribe();
        res.end();
      };
      req.raw.on('close', close);

      // events are written in order, each after the caller's view of it is ready
      let writing = Promise.resolve();
      const send = (id: string, raw: SubmissionStreamEvent) => {
        writing = writing.then(async () => {
          if (closed) return;
          const n = BigInt(id);
          if (n <= lastSent) return;
          lastSent = n;
          const ev = await forCaller(raw);
          if (closed || ev === null) return;
          res.write(`id: ${id}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
          if (ev.type === 'verdict') close();
        }).catch((err: unknown) => {
          req.log.warn({ err }, 'SSE event failed');
          close();
        });
      };

      // replay: a finished submission gets its whole history; one in flight only its current round
      const fresh = await db.submission.findUnique({ where: { id: sid } });
      const terminal = !!fresh && TERMINAL_STATUSES.includes(fresh.status);
      const rows = await db.submissionEvent.findMany({ where: { submissionId: sid }, orderBy: { id: 'asc' } });
      let start = 0;
      if (!terminal) {
        for (let i = rows.length - 1; i >= 0; i--) {
          if (rows[i]!.type === 'verdict') {
            start = i + 1;
            break;
          }
        }
      }
      const replay = rows.slice(start);
      let lastVerdictIdx = -1;
      replay.forEach((r, i) => r.type === 'verdict' && (lastVerdictIdx = i));
      for (const [i, r] of replay.entries()) {
        // only the final verdict of a finished submission closes the stream
        const type = r.type === 'verdict' && !(terminal && i === lastVerdictIdx) ? 'status' : (r.type as SubmissionStreamEvent['type']);
        const stage = Stage.safeParse(r.status);
        const isFinal = type === 'verdict';
        send(r.id.toString(), {
          type,
          submissionId: sid,
          status: r.status ?? 'queued',
          ...(stage.success ? { stage: stage.data } : {}),
          message: r.message,
          attempt: r.attempt,
          at: r.createdAt.toISOString(),
          ...(isFinal && fresh ? { verdict: fresh.verdict, score: fresh.score, maxScore: fresh.maxScore } : {}),
        });
      }
      await writing;
      if (terminal && !closed && fresh) {
        // finished before any verdict event was stored (should not happen): synthesise one
        send(String(lastSent + 1n), {
          type: 'verdict',
          submissionId: sid,
          status: fresh.status,
          message: fresh.summary ?? fresh.status,
          attempt: fresh.attemptCount,
          at: (fresh.finishedAt ?? fresh.updatedAt).toISOString(),
          verdict: fresh.verdict,
          score: fresh.score,
          maxScore: fresh.maxScore,
        });
      }
      for (const ev of buffered) send(ev.id, ev);
      buffered.length = 0;
      live = (ev) => send(ev.id, ev);
    },
  );
};
