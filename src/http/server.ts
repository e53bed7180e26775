import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import { PaystreamError } from '../platform/errors.ts';
import {
  clientErrorHandler,
  frameworkErrors,
  refuseConnect,
  refuseExpectation,
  refuseWhileClosing,
  requireHost,
} from './edge.ts';
import { registerErrorHandling } from './errors.ts';
import { acceptOnlyUtf8Json } from './json-body.ts';
import { errorSchema } from './schemas.ts';
import { unstorableTextIn } from './text.ts';

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
    // Still a 503 while closing, but in paystream's shape: see refuseWhileClosing.
    return503OnClosing: false,
    // Ids are at most ~34 characters; a longer path parameter is refused (414) before routing.
    routerOptions: { maxParamLength: 200 },
    frameworkErrors,
    clientErrorHandler,
    http: { requireHostHeader: false },
  });
  app.server.on('connect', refuseConnect);
  app.server.on('checkExpectation', refuseExpectation);
  refuseWhileClosing(app);
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
  acceptOnlyUtf8Json(app);
  registerErrorHandling(app);
  // Text the store cannot keep as sent (src/http/text.ts) is refused in one hook for every route,
  // rather than by a `pattern` in each schema: a hook also covers object keys, parameters of
  // routes without a schema, and every route added later, which a forgotten pattern would not.
  app.addHook('preValidation', async (request) => {
    for (const [part, value] of [
      ['params', request.params],
      ['query', request.query],
      ['body', request.body],
    ] as const) {
      const found = unstorableTextIn(value);
      if (found) {
        const param = found.param || undefined;
        throw new PaystreamError(
          'PAYSTREAM_VALIDATION',
          `Invalid ${part === 'query' ? 'query parameter' : 'parameter'} ${param ?? part}: contains ${found.problem}`,
          param,
        );
      }
    }
  });
  if (options.docs !== false) {
    await app.register(swagger, {
      // Shared schemas become components named by their $id (`Error`), not `def-0`: generated
      // clients name their types after these.
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) =>
          typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`,
      },
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
          { name: 'events', description: 'Published events (CloudEvents), kept for the retention period.' },
          {
            name: 'mailbox',
            description: 'The local SMTP sink’s messages (receipts), when no SMTP server is set.',
          },
          { name: 'probes', description: 'Liveness, readiness and metrics, without a key.' },
          { name: 'admin', description: 'The platform’s dead letters and consumers, for admin keys only.' },
        ],
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
