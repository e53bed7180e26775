import { adminMigrations } from '../admin/migrations.ts';
import { eventsMigrations } from '../events/migrations.ts';
import { idempotencyMigrations } from '../idempotency/migrations.ts';
import { paymentsMigrations } from '../payments/migrations.ts';
import { runtimeMigrations } from '../runtime/migrations.ts';
import { leaseMigrations } from '../store/leases/migrations.ts';
import type { MigrationSet } from '../store/migrator.ts';
import { eventLogMigrations } from '../transport/embedded/migrations.ts';
import { services } from './services.ts';

/**
 * Every bounded context's migrations, applied in this order on start and by `paystream migrate`.
 * A new context (a service with its own tables) adds its set here, in the composition root, and
 * touches no other context.
 */
export const migrationSets: readonly MigrationSet[] = [
  leaseMigrations,
  adminMigrations,
  idempotencyMigrations,
  paymentsMigrations,
  eventsMigrations,
  // The embedded log's tables; unused (and empty) on PostgreSQL, where Kafka is the log.
  eventLogMigrations,
  // The consumer runtime: every consumer's inbox and dead letters.
  runtimeMigrations,
  // Each service's own tables.
  ...services.flatMap((service) => (service.migrations ? [service.migrations] : [])),
];
