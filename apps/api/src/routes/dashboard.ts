// Serves the dashboard (apps/dashboard, built by Vite into apps/dashboard/dist/web) at /app/ with a
// single-page-app fallback, redirects / to it, and answers the one thing the UI needs that the
// REST API does not have: the list of exercises for the assignment form.
// Register at the root (not under /api/v1): `await app.register(dashboardPlugin, { deps })`.
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExerciseSpec } from '@kgrader/schemas';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { allow, caller } from '../lib/auth.js';

export interface DashboardOptions {
  deps: ApiDeps;
  /** the built assets (default: DASHBOARD_DIR, else apps/dashboard/dist/web of this checkout) */
  root?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Strict: scripts, styles and API calls from this origin only; no framing, no inline script. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

export const defaultDashboardRoot = (): string => fileURLToPath(new URL('../../../../dashboard/dist/web/', import.meta.url));

export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app, opts) => {
  const root = resolve(opts.root ?? opts.deps.config.dashboardDir ?? defaultDashboardRoot());
  const cache = new Map<string, Buffer>();

  async function file(rel: string): Promise<Buffer | null> {
    const abs = normalize(join(root, rel));
    if (abs !== root && !abs.startsWith(root + sep)) return null;
    const hit = cache.get(abs);
    if (hit) return hit;
    try {
      if (!(await stat(abs)).isFile()) return null;
      const buf = await readFile(abs);
      // hashed assets never change; index.html is re-read so a rebuild needs no restart
      if (rel !== 'index.html') cache.set(abs, buf);
      return buf;
    } catch {
      return null;
    }
  }

  async function sendIndex(reply: FastifyReply) {
    const html = await file('index.html');
    securityHeaders(reply).header('cache-control', 'no-cache');
    if (!html) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build -w @kgrader/dashboard` (or `npm run setup`), then reload.');
    }
    return reply.type(TYPES['.html']!).send(html);
  }

  const hide = { hide: true } as const; // keep these out of the OpenAPI document
  const open = { schema: hide, config: { access: allow.public() } };
  app.get('/', open, async (_req, reply) => reply.redirect('/app/', 302));
  app.get('/app', open, async (_req, reply) => reply.redirect('/app/', 302));

  app.get<{ Params: { '*': string } }>('/app/assets/*', open, async (req, reply) => {
    const rel = req.params['*'];
    const buf = await file(join('assets', rel));
    if (!buf) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    // Vite names assets by content hash: safe to cache for ever
    return securityHeaders(reply)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type(TYPES[extname(rel)] ?? 'application/octet-stream')
      .send(buf);
  });

  // every other /app/* path is a client-side route
  app.get('/app/*', open, async (_req, reply) => sendIndex(reply));

  // the shipped exercises' newest published versions (any signed-in user; a course's own exercises
  // are listed by GET /api/v1/courses/:courseId/exercises)
  app.get('/app-api/exercises', { schema: hide, config: { access: allow.user('read') } }, async (req, reply) => {
    caller(req); // fails closed if the guard is not registered
    const rows = await opts.deps.db.exercise.findMany({
      where: { courseId: null },
      orderBy: { slug: 'asc' },
      include: { versions: { where: { status: 'published' }, orderBy: { version: 'desc' }, take: 1 } },
    });
    const list = rows.filter((r) => r.versions[0]).map((r) => ExerciseSpec.parse(r.versions[0]!.spec));
    return reply.header('cache-control', 'private, max-age=300').send(
      list.map((e) => ({
        slug: e.slug,
        title: e.title,
        summary: e.summary,
        maxScore: e.tests.reduce((s, t) => s + t.points, 0),
      })),
    );
  });
};
