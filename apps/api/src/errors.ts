import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';

/** A client error whose message is safe to show: rendered as RFC 9457 problem+json. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly opts: { type?: string; title?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (msg: string, type?: string) => new HttpError(400, msg, type ? { type } : {});
export const unauthorized = (msg = 'a valid bearer token is required') =>
  new HttpError(401, msg, { headers: { 'www-authenticate': 'Bearer realm="kgrader"' } });
export const forbidden = (msg = 'you may not access this resource') => new HttpError(403, msg);
export const notFound = (what: string) => new HttpError(404, `${what} not found`);
export const conflict = (msg: string, type?: string) => new HttpError(409, msg, type ? { type } : {});

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function sendProblem(
  reply: FastifyReply,
  req: FastifyRequest,
  status: number,
  detail: string | undefined,
  extra: { type?: string; title?: string; errors?: { path: string; message: string }[]; /** RFC 9457 extension members */ extensions?: Record<string, unknown> } = {},
) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: extra.type ?? 'about:blank',
        title: extra.title ?? TITLES[status] ?? 'Error',
        status,
        ...(detail ? { detail } : {}),
        instance: req.url,
        ...(extra.errors ? { errors: extra.errors } : {}),
        ...(extra.extensions ?? {}),
      }),
    );
}

/**
 * The one error handler: 4xx carry their message to the client, 5xx are logged with the error
 * and answered generically.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError | Error, req, reply) => {
    if (err instanceof HttpError) {
      for (const [k, v] of Object.entries(err.opts.headers ?? {})) reply.header(k, v);
      return sendProblem(reply, req, err.statusCode, err.message, {
        ...(err.opts.type ? { type: err.opts.type } : {}),
        ...(err.opts.title ? { title: err.opts.title } : {}),
      });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const errors = err.validation.map((v) => ({
        path: `${err.validationContext ?? 'request'}${v.instancePath || ''}`,
        message: v.message ?? 'invalid',
      }));
      return sendProblem(reply, req, 400, `request ${err.validationContext ?? ''} is invalid`.replace('  ', ' '), {
        errors,
      });
    }
    if (isResponseSerializationError(err)) {
      req.log.error({ err, issues: err.cause.issues }, 'response did not match its schema');
      return sendProblem(reply, req, 500, undefined);
    }
    const status = (err as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return sendProblem(reply, req, status, err.message);
    }
    req.log.error({ err }, 'request failed');
    return sendProblem(reply, req, 500, undefined);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, req, 404, `no route ${req.method} ${req.url.split('?')[0]}`));
}
