// Shared pieces of the LMS service tests (lms-*.test.ts): the real engine as the worker's grader,
// a loopback webhook receiver, the LTI login/launch over HTTP.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { engineConfigFromEnv, engineGrader, WorkerEnv, type Grader } from '@kgrader/worker';

/** The real engine (sandboxed build, QEMU, analysis), configured as the worker configures it. */
export function realGrader(): Grader {
  return engineGrader(engineConfigFromEnv(WorkerEnv.parse(process.env)));
}

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/** A webhook receiver on 127.0.0.1: `plan(path, statuses)` answers those statuses first, then 200. */
export async function startReceiver(): Promise<{ base: string; received: Received[]; plan(path: string, statuses: number[]): void; close(): Promise<void> }> {
  const received: Received[] = [];
  const plans = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const status = plans.get(path)?.shift() ?? 200;
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : `nope ${status}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    plan: (path, statuses) => void plans.set(path, [...statuses]),
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** `GET /lti/login` as the platform's browser redirect would: returns the platform URL, state, nonce, cookie. */
export async function ltiLogin(
  baseUrl: string,
  params: Record<string, string>,
): Promise<{ status: number; location: string; state: string; nonce: string; cookie: string; body: string }> {
  const res = await fetch(`${baseUrl}/lti/login?${new URLSearchParams(params)}`, { redirect: 'manual' });
  const location = res.headers.get('location') ?? '';
  const body = await res.text();
  const q = location ? new URL(location).searchParams : new URLSearchParams();
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return { status: res.status, location, state: q.get('state') ?? '', nonce: q.get('nonce') ?? '', cookie, body };
}

/** `POST /lti/launch` with an HTML form body, as the platform's auto-submitting form does. */
export async function ltiLaunch(
  baseUrl: string,
  form: { id_token: string; state: string },
  cookie?: string,
): Promise<{ status: number; location: string; body: any; contentType: string }> {
  const res = await fetch(`${baseUrl}/lti/launch`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, location: res.headers.get('location') ?? '', body, contentType: res.headers.get('content-type') ?? '' };
}

/** Pulls the hidden inputs out of the platform's auto-submitting form_post page. */
export function formFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    out[m[1]!] = m[2]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&amp;/g, '&');
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (action) out['_action'] = action.replace(/&amp;/g, '&');
  return out;
}

/** The whole browser dance: /lti/login -> the platform's auth endpoint -> form_post to /lti/launch. */
export async function fullLaunch(
  baseUrl: string,
  p: { issuer: string },
  user: { sub: string },
  clientId: string,
  target: string,
): Promise<{ status: number; location: string; body: any; contentType: string }> {
  const l = await ltiLogin(baseUrl, {
    iss: p.issuer,
    login_hint: user.sub,
    target_link_uri: target,
    client_id: clientId,
    lti_message_hint: Buffer.from(JSON.stringify({ target })).toString('base64url'),
  });
  if (l.status !== 302) throw new Error(`login: HTTP ${l.status} ${l.body}`);
  const auth = await fetch(l.location);
  const form = formFields(await auth.text());
  return ltiLaunch(baseUrl, { id_token: form['id_token']!, state: form['state']! }, l.cookie);
}

/**
 * The LMS's "attach an asset processor" flow (Canvas: "Add Document Processing App"): login ->
 * the platform's auth endpoint answering an LtiDeepLinkingRequest -> /lti/launch -> kgrader's
 * exercise picker -> /lti/deep-link -> the signed LtiDeepLinkingResponse posted to the platform.
 * Returns the launch's answer, and after `attach` the processor id the platform received.
 */
export async function deepLinkLaunch(
  baseUrl: string,
  p: { issuer: string; users: Map<string, unknown> },
  user: { sub: string },
  clientId: string,
  activity: { id: string; title: string },
): Promise<{ status: number; contentType: string; text: string }> {
  const target = `${baseUrl}/lti/asset-processor`;
  const l = await ltiLogin(baseUrl, {
    iss: p.issuer,
    login_hint: user.sub,
    target_link_uri: target,
    client_id: clientId,
    lti_message_hint: Buffer.from(JSON.stringify({ target, deepLinking: { activityId: activity.id, activityTitle: activity.title } })).toString('base64url'),
  });
  if (l.status !== 302) throw new Error(`login: HTTP ${l.status} ${l.body}`);
  const form = formFields(await (await fetch(l.location)).text());
  const res = await fetch(`${baseUrl}/lti/launch`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: l.cookie },
    body: new URLSearchParams({ id_token: form['id_token']!, state: form['state']! }).toString(),
  });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** Answers kgrader's exercise picker and posts the signed response to the platform; returns the platform's HTTP status. */
export async function attachExercise(pickerHtml: string, exercise: string, title?: string): Promise<{ status: number; platformStatus: number }> {
  const picker = formFields(pickerHtml);
  const res = await fetch(picker['_action']!, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ state: picker['state']!, exercise, ...(title ? { title } : {}) }).toString(),
  });
  const back = formFields(await res.text());
  if (res.status !== 200) return { status: res.status, platformStatus: 0 };
  const atPlatform = await fetch(back['_action']!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ JWT: back['JWT']! }).toString() });
  await atPlatform.arrayBuffer();
  return { status: res.status, platformStatus: atPlatform.status };
}
