import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError } from 'fastify';
import { SqliteStore } from '../../store/sqlite/sqlite-store.ts';
import { SandboxApiError } from './errors.ts';
import { HeldAnswers } from './held-answers.ts';
import { SandboxLedger } from './ledger.ts';
import { sandboxMigrationSet } from './migrations.ts';
import { registerSandboxRoutes } from './routes.ts';
import type { SandboxDatabase } from './schema.ts';

export interface SandboxGatewayOptions {
  /** The sandbox's own SQLite file (never paystream's). */
  file: string;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Delay of the first answer for `pm_card_paystream_slow`. */
  slowMs?: number;
  /** Hold of the first answer for `pm_card_paystream_timeout`; longer than any client timeout. */
  holdMs?: number;
  logger?: boolean;
}

export interface SandboxGateway {
  url: string;
  port: number;
  /** For tests and tools that look at the sandbox's book directly. */
  store: SqliteStore<SandboxDatabase>;
  /** Stops listening, drops held answers (without waiting for them), then closes the store. */
  close(): Promise<void>;
}

const defaultSlowMs = 1500;
const defaultHoldMs = 60_000;

/**
 * A card processor stand-in: charges and refunds decided by the test payment method, stored
 * durably in their own SQLite file, idempotent per `Idempotency-Key`. See docs/gateway.md.
 */
export async function startSandboxGateway(options: SandboxGatewayOptions): Promise<SandboxGateway> {
  const store = new SqliteStore<SandboxDatabase>(options.file, { migrations: [sandboxMigrationSet] });
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  const held = new HeldAnswers();
  const app = Fastify({
    logger: options.logger ?? false,
    // Unknown or mistyped parameters are refused, not silently dropped or coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof SandboxApiError) return reply.code(error.status).send(error.toJSON());
    if (error.validation) return reply.code(400).send(validationError(error));
    const status = error.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({ error: { code: 'invalid_request', message: error.message } });
    }
    request.log.error(error);
    return reply.code(500).send({ error: { code: 'api_error', message: 'The sandbox gateway failed.' } });
  });
  // Not `not_found`: that code means "no such object", and a client must never read a wrong URL
  // as "the charge does not exist".
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: { code: 'route_not_found', message: `No route ${request.method} ${request.url}.` },
    }),
  );

  app.get('/health', async (_request, reply) =>
    (await store.ready()) ? { status: 'ok' } : reply.code(503).send({ status: 'not_ready' }),
  );
  registerSandboxRoutes(app, {
    ledger: new SandboxLedger(store),
    held,
    slowMs: options.slowMs ?? defaultSlowMs,
    holdMs: options.holdMs ?? defaultHoldMs,
  });

  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: options.port });
  } catch (error) {
    await app.close();
    await store.close();
    throw error;
  }
  const { port } = app.server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}`,
    port,
    store,
    close() {
      closing ??= (async () => {
        held.releaseAll();
        await app.close();
        await store.close();
      })();
      return closing;
    },
  };
}

function validationError(error: FastifyError) {
  const first = error.validation?.[0];
  const missing = first?.params['missingProperty'];
  const param = (typeof missing === 'string' ? missing : first?.instancePath.slice(1)) || undefined;
  if (error.validationContext === 'headers') {
    return {
      error: {
        code:
          param === 'idempotency-key' && first?.keyword === 'required'
            ? 'idempotency_key_required'
            : 'idempotency_key_invalid',
        message: `Idempotency-Key header: ${error.message}`,
      },
    };
  }
  return { error: { code: 'invalid_request', message: error.message, ...(param ? { param } : {}) } };
}

/** A wildcard listen address is not somewhere a client can connect to. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
