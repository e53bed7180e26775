import type { FastifyInstance } from 'fastify';
import type { ApiKeys } from '../admin/api-keys.ts';
import { eventRoutes } from '../events/routes.ts';
import { requireApiKey } from '../http/auth.ts';
import { createHttpServer } from '../http/server.ts';
import { paymentRoutes } from '../payments/routes.ts';
import type { PaymentService } from '../payments/service.ts';
import type { Config } from '../platform/config.ts';
import { PaystreamError } from '../platform/errors.ts';
import type { Store } from '../store/store.ts';

export interface ApiDeps {
  config: Pick<Config, 'bodyLimitBytes' | 'logLevel'>;
  store: Store;
  apiKeys: ApiKeys;
  payments: PaymentService;
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
  await app.register(async (v1) => {
    requireApiKey(v1, deps.apiKeys);
    await v1.register(paymentRoutes, { service: deps.payments, store: deps.store });
    await v1.register(eventRoutes, { store: deps.store });
  });
  return app;
}
