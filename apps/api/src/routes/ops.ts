import { withinDeadline } from '@kgrader/db';
import { Health } from '@kgrader/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import client from 'prom-client';
import type { ApiDeps } from '../deps.js';
import { allow } from '../lib/auth.js';

/** Prometheus registry: HTTP, queue depth, submissions by status, verdict counts, stage durations. */
export function createMetrics(deps: ApiDeps) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'kgrader_api_' });
  const http = new client.Histogram({
    name: 'kgrader_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'kgrader_queue_jobs',
    help: 'grading jobs in the queue by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      // Redis away: no queue figures this time, the rest of the metrics still answer at once
      const counts = await withinDeadline(deps.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'), 500).catch(() => null);
      this.reset();
      for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
    },
  });
  new client.Gauge({
    name: 'kgrader_submissions',
    help: 'submissions by status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await deps.db.submission.groupBy({ by: ['status'], _count: { _all: true } });
      for (const r of rows) this.set({ status: r.status }, r._count._all);
    },
  });
  new client.Gauge({
    name: 'kgrader_grading_runs',
    help: 'finished grading runs by verdict (all time)',
    labelNames: ['verdict'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await deps.db.gradingRun.groupBy({ by: ['verdict'], where: { verdict: { not: null } }, _count: { _all: true } });
      for (const r of rows) if (r.verdict) this.set({ verdict: r.verdict }, r._count._all);
    },
  });
  new client.Gauge({
    name: 'kgrader_stage_duration_seconds',
    help: 'grading stage durations over the runs finished in the last 24 h (quantiles)',
    labelNames: ['stage', 'quantile'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await deps.db.$queryRaw<{ stage: string; q50: number | null; q90: number | null; q99: number | null }[]>`
        SELECT s.stage,
          percentile_cont(0.5) WITHIN GROUP (ORDER BY (r.timings->>s.stage)::float8) AS q50,
          percentile_cont(0.9) WITHIN GROUP (ORDER BY (r.timings->>s.stage)::float8) AS q90,
          percentile_cont(0.99) WITHIN GROUP (ORDER BY (r.timings->>s.stage)::float8) AS q99
        FROM "GradingRun" r CROSS JOIN (VALUES ('build'), ('boot'), ('run'), ('analyze'), ('total')) AS s(stage)
        WHERE r."finishedAt" > now() - interval '24 hours' AND r.timings ? s.stage
        GROUP BY s.stage`;
      for (const r of rows) {
        for (const [q, v] of [['0.5', r.q50], ['0.9', r.q90], ['0.99', r.q99]] as const) {
          if (v !== null) this.set({ stage: r.stage, quantile: q }, Number(v));
        }
      }
    },
  });
  new client.Gauge({
    name: 'kgrader_sse_watched_submissions',
    help: 'submissions with at least one open SSE stream on this API process',
    registers: [registry],
    collect() {
      this.set(deps.events.watched);
    },
  });
  return { registry, http };
}

/** /healthz, /readyz, /metrics (outside /api/v1, no auth). */
export const opsPlugin: FastifyPluginAsyncZod<{ deps: ApiDeps; metrics: ReturnType<typeof createMetrics> }> = async (app, { deps, metrics }) => {
  app.addHook('onResponse', async (req, reply) => {
    metrics.http.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.get('/healthz', { config: { access: allow.public() }, schema: { tags: ['ops'], summary: 'The process is up', response: { 200: Health } } }, async () => ({ status: 'ok' as const }));

  app.get(
    '/readyz',
    { config: { access: allow.public() }, schema: { tags: ['ops'], summary: 'PostgreSQL and Redis are reachable', response: { 200: Health, 503: Health } } },
    async (_req, reply) => {
      const timeout = <T>(p: Promise<T>) =>
        Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000).unref())]);
      const checks: Record<string, string> = {};
      await Promise.all([
        timeout(deps.db.$queryRaw`SELECT 1`).then(
          () => (checks['postgres'] = 'ok'),
          (e: Error) => (checks['postgres'] = `down: ${e.message.split('\n')[0]}`),
        ),
        timeout(deps.redis.ping()).then(
          () => (checks['redis'] = 'ok'),
          (e: Error) => (checks['redis'] = `down: ${e.message}`),
        ),
      ]);
      const ok = Object.values(checks).every((v) => v === 'ok');
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks });
    },
  );

  app.get('/metrics', { config: { access: allow.public() }, schema: { tags: ['ops'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } }, async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
};
