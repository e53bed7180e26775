import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ApiKeys } from '../admin/api-keys.ts';
import { requireRole } from '../admin/roles.ts';
import { type AdminRoutesOptions, adminRoutes } from '../admin/routes.ts';
import { eventRoutes } from '../events/routes.ts';
import { requireApiKey } from '../http/auth.ts';
import { createHttpServer } from '../http/server.ts';
import { paymentRoutes } from '../payments/routes.ts';
import type { PaymentService } from '../payments/service.ts';
import type { Config } from '../platform/config.ts';
import { PaystreamError } from '../platform/errors.ts';
import type { Store } from '../store/store.ts';
import { services } from './services.ts';

export interface ApiDeps {
  config: Pick<Config, 'bodyLimitBytes' | 'logLevel'>;
  store: Store;
  apiKeys: ApiKeys;
  payments: PaymentService;
  /** /v1/admin (dead letters, consumers) for admin keys; not served when unset. */
  admin?: Omit<AdminRoutesOptions, 'store' | 'apiKeys'> | undefined;
  /** The process's metrics, served at /metrics. */
  registry?: Registry | undefined;
  /** The environment the services' routes read their settings from. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The HTTP API: probes at the root, everything under /v1 behind a secret key. */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = await createHttpServer({
    bodyLimitBytes: deps.config.bodyLimitBytes,
    logLevel: deps.config.logLevel,
  });
  const probe = {
    type: 'object',
    properties: { status: { type: 'string' } },
  } as const;
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness',
        operationId: 'health',
        description: 'Answers while the process runs; asks nothing of the store.',
        tags: ['probes'],
        security: [],
        response: { 200: probe },
      },
    },
    async () => ({
      status: 'ok',
    }),
  );
  app.get(
    '/ready',
    {
      schema: {
        summary: 'Readiness: store reachable, migrations applied',
        operationId: 'ready',
        description: 'Answers 200 once the store answers and every migration is applied, else 503.',
        tags: ['probes'],
        response: { 200: probe },
      },
    },
    async () => {
      if (!(await deps.store.ready())) {
        throw new PaystreamError('PAYSTREAM_NOT_READY', 'The store is unreachable or not migrated.');
      }
      return { status: 'ready' };
    },
  );
  const registry = deps.registry;
  if (registry) {
    app.get(
      '/metrics',
      {
        schema: {
          summary: 'Metrics in the Prometheus text format',
          operationId: 'metrics',
          description:
            "This process's metrics: the outbox backlog and the relay, consumers (events by outcome, failures, dead letters, handler duration, end-to-end latency, lag), breakers, and the Node.js process. Unauthenticated, like /health: bind the API to a private address or put a proxy in front.",
          tags: ['probes'],
          security: [],
          response: { 200: { type: 'string' } },
        },
      },
      async (_request, reply) => {
        reply.header('content-type', registry.contentType);
        return registry.metrics();
      },
    );
  }
  await app.register(async (v1) => {
    requireApiKey(v1, deps.apiKeys);
    requireRole(v1, 'merchant');
    await v1.register(paymentRoutes, { service: deps.payments, store: deps.store });
    await v1.register(eventRoutes, { store: deps.store });
    for (const service of services) {
      if (service.routes)
        await v1.register(service.routes({ store: deps.store, env: deps.env ?? process.env }));
    }
  });
  if (deps.admin)
    await app.register(adminRoutes, { ...deps.admin, store: deps.store, apiKeys: deps.apiKeys });
  return app;
}
