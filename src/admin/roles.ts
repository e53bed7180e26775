import type { FastifyInstance } from 'fastify';
import { PaystreamError } from '../platform/errors.ts';
import type { ApiKeyRole } from './tables.ts';

/**
 * Refuses, with 403 PAYSTREAM_FORBIDDEN, every request of `app` (an encapsulated scope) whose key
 * has another role. Register it after `requireApiKey`, which sets `request.caller`.
 */
export function requireRole(app: FastifyInstance, role: ApiKeyRole): void {
  app.addHook('onRequest', async (request) => {
    if (request.caller.role === role) return;
    throw new PaystreamError(
      'PAYSTREAM_FORBIDDEN',
      role === 'admin'
        ? 'This route needs an admin key: `paystream keys create --admin` makes one.'
        : 'An admin key reaches only /v1/admin; use a merchant key for merchant objects.',
    );
  });
}
