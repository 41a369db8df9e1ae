// One HTTP delivery of a webhook: SSRF-checked, pinned to the checked address, short timeout,
// no redirects, response body capped.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { assertDeliverableUrl, SsrfError, type Resolver } from './ssrf.js';

export interface DeliveryRequest {
  url: string;
  /** the exact bytes that were signed */
  body: string;
  headers: Record<string, string>;
  /** default 10 s */
  timeoutMs?: number;
  allowPrivate?: boolean;
  resolve?: Resolver;
  /** response body bytes kept for the attempt log (default 2048) */
  maxResponseBytes?: number;
}

export type DeliveryErrorKind = 'blocked' | 'dns' | 'timeout' | 'network';

export interface DeliveryResult {
  /** HTTP status, undefined when no response came */
  status?: number | undefined;
  durationMs: number;
  /** start of the response body, for the attempt log */
  responseBody?: string | undefined;
  error?: { kind: DeliveryErrorKind; message: string } | undefined;
}

export type DeliverFn = (req: DeliveryRequest) => Promise<DeliveryResult>;

export const deliver: DeliverFn = async (req) => {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let target;
  try {
    target = await assertDeliverableUrl(req.url, { allowPrivate: req.allowPrivate === true, ...(req.resolve ? { resolve: req.resolve } : {}) });
  } catch (e) {
    if (e instanceof SsrfError) return { durationMs: elapsed(), error: { kind: e.code === 'dns' ? 'dns' : 'blocked', message: e.message } };
    throw e;
  }
  const pinned = target.addresses[0]!;
  // connect to the address that was checked, whatever a second DNS answer would say (rebinding)
  const lookup: LookupFunction = (_host, options, cb) => {
    if (options.all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [pinned]);
    else cb(null, pinned.address, pinned.family);
  };
  const timeoutMs = req.timeoutMs ?? 10_000;
  const max = req.maxResponseBytes ?? 2048;
  const body = Buffer.from(req.body, 'utf8');
  const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise<DeliveryResult>((resolve) => {
    let settled = false;
    const done = (r: DeliveryResult) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(r);
      }
    };
    const r = send(
      {
        protocol: target.url.protocol,
        hostname: target.hostname,
        port: target.url.port || undefined,
        path: `${target.url.pathname}${target.url.search}`,
        method: 'POST',
        agent: false,
        lookup,
        headers: {
          ...req.headers,
          'content-type': 'application/json',
          'content-length': String(body.length),
          'user-agent': 'kgrader-webhooks/1',
        },
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < max) chunks.push(c.subarray(0, max - size));
          size += c.length;
          if (size >= max) res.destroy();
        });
        const finish = () =>
          done({ status: res.statusCode, durationMs: elapsed(), responseBody: Buffer.concat(chunks).toString('utf8') });
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      },
    );
    const timer = setTimeout(() => {
      r.destroy();
      done({ durationMs: elapsed(), error: { kind: 'timeout', message: `no response within ${timeoutMs} ms` } });
    }, timeoutMs);
    r.on('error', (e) => done({ durationMs: elapsed(), error: { kind: 'network', message: e.message } }));
    r.end(body);
  });
};
