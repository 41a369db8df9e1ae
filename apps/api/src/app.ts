import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiDeps } from './deps.js';
import { installErrorHandler } from './errors.js';
import { authPlugin } from './lib/auth.js';
import { assignmentsPlugin } from './routes/assignments.js';
import { coursesPlugin } from './routes/courses.js';
import { eventsPlugin } from './routes/events.js';
import { ltiPlugin } from './routes/lti.js';
import { ltiAdminPlugin } from './routes/lti-admin.js';
import { ltiAssetsPlugin } from './routes/lti-assets.js';
import { ltiNoticesPlugin } from './routes/lti-notices.js';
import { lmsConfig, ToolKeys } from './lib/lms.js';
import { createMetrics, opsPlugin } from './routes/ops.js';
import { submissionsPlugin } from './routes/submissions.js';
import { tokensPlugin } from './routes/tokens.js';
import { webhooksPlugin } from './routes/webhooks.js';
import { dashboardPlugin } from './routes/dashboard.js';
import { authRoutesPlugin } from './routes/auth.js';
import { exercisesPlugin } from './routes/exercises.js';
import { versionMovesPlugin } from './routes/version-moves.js';
import { extensionsPlugin } from './routes/extensions.js';
import { rosterPlugin } from './routes/roster.js';
import { similarityPlugin } from './routes/similarity.js';

/** A route as registered: what the authorization matrix test enumerates. */
export interface RegisteredRoute {
  method: string;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** every route of the app, in registration order (HEAD routes included) */
    registeredRoutes: readonly RegisteredRoute[];
  }
}

export interface BuildAppOptions {
  deps: ApiDeps;
  logger: FastifyBaseLogger | false;
}

/** Builds the API (not listening): used by main.ts and by the tests. */
export async function buildApp({ deps, logger }: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    trustProxy: true,
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();
  const routes: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'kgrader API',
        version: '1.0.0',
        description:
          'Grades Linux kernel-driver exercises. Authenticate with `Authorization: Bearer <token>`. Errors are RFC 9457 problem+json.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(multipart, { throwFileSizeLimit: true });
  // the one auth guard: every route registered from here on declares its access (config.access)
  await app.register(authPlugin, { db: deps.db, publicUrl: () => deps.config.publicUrl });

  const metrics = createMetrics(deps);
  await app.register(opsPlugin, { deps, metrics });
  const toolKeys = new ToolKeys(lmsConfig(deps.config).toolKeysFile); // one key load per process
  await app.register(ltiPlugin, { deps, keys: toolKeys }); // LTI 1.3 tool endpoints: /.well-known/jwks.json, /lti/*
  await app.register(ltiNoticesPlugin, { deps, keys: toolKeys }); // PNS notice handler: /lti/notices
  await app.register(authRoutesPlugin, { deps }); // OpenID Connect sign-in: /auth/*
  await app.register(
    async (v1) => {
      await v1.register(coursesPlugin, { deps });
      await v1.register(tokensPlugin, { deps });
      await v1.register(assignmentsPlugin, { deps });
      await v1.register(submissionsPlugin, { deps });
      await v1.register(eventsPlugin, { deps });
      await v1.register(ltiAdminPlugin, { deps });
      await v1.register(ltiAssetsPlugin, { deps });
      await v1.register(webhooksPlugin, { deps });
      await v1.register(exercisesPlugin, { deps });
      await v1.register(versionMovesPlugin, { deps });
      await v1.register(extensionsPlugin, { deps });
      await v1.register(rosterPlugin, { deps });
      await v1.register(similarityPlugin, { deps });
    },
    { prefix: '/api/v1' },
  );
  await app.register(dashboardPlugin, { deps }); // the web UI at /app/
  return app;
}
