import { withinDeadline, type PublishedEvent } from '@kgrader/db';
import { AssignmentIdParams, Problem, sourceLinesOf, Stage, SubmissionIdParams, TERMINAL_STATUSES, type Finding, type SubmissionRowUpdate, type SubmissionStreamEvent } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '@kgrader/db';
import type { ApiDeps } from '../deps.js';
import { HttpError } from '../errors.js';
import { allow, assignmentOf, callerRole, submissionOf } from '../lib/auth.js';
import { studentProgressLine, studentSummary, viewOf } from '../lib/visibility.js';

const errors = { 401: Problem, 403: Problem, 404: Problem, 503: Problem };

/**
 * Live status over Server-Sent Events: a submission's stream replays what happened, streams the
 * rest and closes on the verdict; an assignment's stream (instructors) pushes a row update of the
 * submissions table whenever one of its submissions changes status or gets its verdict.
 */
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
  app.get(
    '/assignments/:assignmentId/events',
    {
      // instructors only: the rows carry verdicts and scores, which hidden tests withhold from students
      config: { access: allow.assignment('instructor', 'read') },
      schema: {
        tags: ['assignments'],
        summary: "Server-Sent Events for the instructors' submissions table: `ready` once subscribed, then a `row` event per status change or verdict of any submission of the assignment",
        description:
          'Each `row` event carries a SubmissionRowUpdate (read from the database when sent). Nothing is replayed: on `ready` (after every reconnect) reload the page you show. Instructors only (403 for students).',
        params: AssignmentIdParams,
        produces: ['text/event-stream'],
        response: { ...errors },
      },
    },
    async (req, reply) => {
      const aid = assignmentOf(req).id;
      let closed = false;
      // submissions with news not sent yet: coalesced, read from the database in one query per batch
      const pending = new Set<string>();
      let flushing = false;
      let res: typeof reply.raw | null = null;
      const flush = async () => {
        if (flushing || !res) return;
        flushing = true;
        try {
          while (pending.size > 0 && !closed) {
            const ids = [...pending];
            pending.clear();
            for (const row of await rowUpdates(db, aid, ids)) {
              if (closed) break;
              res.write(`event: row\ndata: ${JSON.stringify(row)}\n\n`);
            }
          }
        } catch (err) {
          req.log.warn({ err }, 'assignment SSE row update failed');
          close();
        } finally {
          flushing = false;
        }
      };
      const subscribing = events.subscribeAssignment(aid, (ev) => {
        if (ev.type === 'log') return; // progress lines change nothing in the table
        pending.add(ev.submissionId);
        void flush();
      });
      const unsubscribe = await withinDeadline(subscribing, 2_000).catch(() => {
        void subscribing.then((u) => u(), () => {});
        throw new HttpError(503, 'live events are unavailable right now (Redis); reload to see the latest state', { headers: { 'retry-after': '5' } });
      });

      reply.hijack();
      res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': kgrader assignment events\nretry: 3000\n\n');
      res.write(`event: ready\ndata: ${JSON.stringify({ assignmentId: aid, at: new Date().toISOString() })}\n\n`);
      const heartbeat = setInterval(() => res?.write(': keepalive\n\n'), 15_000);
      const maxAge = setTimeout(() => close(), deps.config.sseMaxSeconds * 1000);
      function close() {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        clearTimeout(maxAge);
        void unsubscribe();
        res?.end();
      }
      req.raw.on('close', close);
      void flush(); // what arrived between the subscription and the headers
    },
  );
};

/** The table's view of some submissions of an assignment (others are ignored), as they are now. */
async function rowUpdates(db: Db, assignmentId: string, ids: string[]): Promise<SubmissionRowUpdate[]> {
  const rows = await db.submission.findMany({
    where: { id: { in: ids }, assignmentId },
    select: { id: true, status: true, verdict: true, score: true, maxScore: true, currentRunId: true, reason: true, attemptCount: true, updatedAt: true },
  });
  const runIds = rows.map((r) => r.currentRunId).filter((x): x is string => !!x);
  const firsts = runIds.length ? await db.finding.findMany({ where: { runId: { in: runIds }, position: 0 }, select: { runId: true, title: true } }) : [];
  const top = new Map(firsts.map((f) => [f.runId, f.title]));
  return rows.map((r) => ({
    id: r.id,
    status: r.status,
    verdict: r.verdict,
    score: r.score,
    maxScore: r.maxScore,
    topFinding: r.currentRunId ? (top.get(r.currentRunId) ?? null) : null,
    reason: r.reason,
    attemptCount: r.attemptCount,
    updatedAt: r.updatedAt.toISOString(),
  }));
}
