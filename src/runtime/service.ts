import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '../platform/clock.ts';
import type { VariableDoc } from '../platform/config.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Logger } from '../platform/logger.ts';
import type { MigrationSet } from '../store/migrator.ts';
import type { Store } from '../store/store.ts';
import type { ConsumerDefinition } from './consumer.ts';

/**
 * A paystream service (receipts, notifications, fraud, ...): its own folder under src/services,
 * its own tables, its consumers, and optionally API routes. It imports the runtime, the event
 * catalogue and the platform, never the payment core. The composition root (src/app) lists the
 * services; `paystream worker <consumer...>` runs some of their consumers, `paystream start` all.
 */
export interface Service {
  /** `[a-z0-9-]+`, unique. */
  readonly name: string;
  /** The service's own PAYSTREAM_* settings (read from `ServiceContext.env`; listed in the README). */
  readonly variables?: readonly VariableDoc[];
  /** Its tables; applied with every other context's on start and by `paystream migrate`. */
  readonly migrations?: MigrationSet;
  /**
   * Routes the API serves for it under /v1, behind the secret key (`request.caller` is set): e.g.
   * `GET /v1/mailbox`. Registered by every API process, whether or not it runs the consumers.
   */
  readonly routes?: (deps: ServiceRouteDeps) => FastifyPluginAsync;
  /** The names of the consumers `start` returns, known without starting anything (for the CLI). */
  readonly consumerNames: readonly string[];
  /** Starts what the service needs in a process that runs its consumers, and returns them. */
  start(context: ServiceContext): Promise<RunningService>;
}

export interface ServiceRouteDeps {
  readonly store: Store;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface ServiceContext {
  /** The process environment: a service reads its own variables from it. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly mode: 'embedded' | 'distributed';
  /** Where the embedded mode keeps its files (a service may keep its own there). */
  readonly dataDir: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly log: Logger;
}

export interface RunningService {
  readonly consumers: readonly ConsumerDefinition[];
  /** Stops what `start` started (after its consumers have stopped). */
  close(): Promise<void>;
}
