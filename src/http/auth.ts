import type { FastifyInstance } from 'fastify';
import type { ApiKeys, AuthenticatedKey } from '../admin/api-keys.ts';
import { PaystreamError } from '../platform/errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key that signed this request; set on every authenticated route. */
    caller: AuthenticatedKey;
  }
}

/** Requires `Authorization: Bearer sk_...` on every route registered in `app` (an encapsulated scope). */
export function requireApiKey(app: FastifyInstance, apiKeys: ApiKeys): void {
  app.decorateRequest('caller', null as unknown as AuthenticatedKey);
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      throw new PaystreamError(
        'PAYSTREAM_UNAUTHORIZED',
        'Send your secret key as "Authorization: Bearer sk_test_...". `paystream keys create` makes one.',
      );
    }
    const caller = await apiKeys.authenticate(match[1]!);
    if (!caller)
      throw new PaystreamError('PAYSTREAM_UNAUTHORIZED', 'This API key is unknown or has been revoked.');
    request.caller = caller;
  });
}
