import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import { registerErrorHandling } from './errors.ts';
import { errorSchema } from './schemas.ts';

export interface HttpServerOptions {
  bodyLimitBytes: number;
  logLevel: string;
  /** Serve the OpenAPI document and its UI at /docs. */
  docs?: boolean;
}

/**
 * A Fastify instance with paystream's HTTP conventions: bodies validated strictly (no type coercion:
 * "100" is not an amount; unknown fields are refused, not dropped), query strings with coercion
 * (they are text), every error mapped onto the catalogue, OpenAPI at /docs.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
    bodyLimit: options.bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // One log line per request costs more than the request on the hot path; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false });
  const coercing = new Ajv({
    coerceTypes: 'array',
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  for (const ajv of [strict, coercing]) ajv.addSchema(errorSchema);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object),
  );
  app.addSchema(errorSchema);
  // Only JSON bodies: anything else is a 415, not a body that fails validation.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  if (options.docs !== false) {
    await app.register(swagger, {
      openapi: {
        info: {
          title: 'paystream API',
          version: '1',
          description:
            'Idempotent payments with a transactional outbox. Every POST needs an Idempotency-Key.',
        },
        components: { securitySchemes: { secretKey: { type: 'http', scheme: 'bearer' } } },
        security: [{ secretKey: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }
  return app;
}

/** Sends a body that is already JSON text (a stored idempotent response is replayed byte for byte). */
export function sendJson(reply: FastifyReply, status: number, body: string, replayed = false): FastifyReply {
  if (replayed) reply.header('idempotent-replayed', 'true');
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .serializer((p: unknown) => p as string)
    .send(body);
}
