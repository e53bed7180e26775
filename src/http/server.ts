import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import { PaystreamError } from '../platform/errors.ts';
import { clientErrorHandler, frameworkErrors, refuseConnect, requireHost } from './edge.ts';
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
    // Ids are at most ~34 characters; a longer path parameter is refused (414) before routing.
    routerOptions: { maxParamLength: 200 },
    frameworkErrors,
    clientErrorHandler,
    http: { requireHostHeader: false },
  });
  app.server.on('connect', refuseConnect);
  app.addHook('onRequest', requireHost);
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
  app.addHook('preValidation', async (request) => {
    // PostgreSQL text cannot hold U+0000 (it fails the statement: a 500), and no identifier,
    // amount or description needs it; refuse it anywhere a client can put text, as a 400.
    for (const [part, value] of [
      ['params', request.params],
      ['query', request.query],
      ['body', request.body],
    ] as const) {
      const at = nulAt(value);
      if (at !== undefined) {
        throw new PaystreamError(
          'PAYSTREAM_VALIDATION',
          `Invalid ${part === 'query' ? 'query parameter' : 'parameter'} ${at || part}: contains a NUL character`,
          at || undefined,
        );
      }
    }
  });
  if (options.docs !== false) {
    await app.register(swagger, {
      openapi: {
        // 3.1: its schemas are JSON Schema 2020-12, which the routes' schemas are written in
        // (`type: ['string', 'null']`, `propertyNames`); 3.0 tools reject those.
        openapi: '3.1.0',
        info: {
          title: 'paystream API',
          version: '1',
          contact: { name: 'paystream maintainers' },
          description:
            'Idempotent payments with a transactional outbox. Every POST needs an Idempotency-Key.',
        },
        servers: [{ url: '/', description: 'This paystream API' }],
        tags: [
          { name: 'payments', description: 'Payments: charge a payment method, list, retrieve.' },
          { name: 'refunds', description: 'Refunds of succeeded payments.' },
          { name: 'probes', description: 'Liveness and readiness, without a key.' },
        ],
        components: { securitySchemes: { secretKey: { type: 'http', scheme: 'bearer' } } },
        security: [{ secretKey: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }
  return app;
}

/**
 * Where the first NUL character is in a parsed JSON value, as a Stripe-style parameter name
 * (`metadata[order]`; '' for the value itself), or undefined when there is none.
 */
export function nulAt(value: unknown, name = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? name : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const childName = name === '' ? key : `${name}[${key}]`;
    if (key.includes('\u0000')) return childName;
    const found = nulAt(child, childName);
    if (found !== undefined) return found;
  }
  return undefined;
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
