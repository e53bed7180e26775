/** The reference phase: the same SQL work run directly on the store, without HTTP or a gateway. */

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { ApiKeys } from '../../src/admin/api-keys.ts';
import { migrationSets } from '../../src/app/migrations.ts';
import { OutboxWriter } from '../../src/events/outbox.ts';
import { requestFingerprint } from '../../src/idempotency/fingerprint.ts';
import { newProcessingPayment } from '../../src/payments/payment.ts';
import { paymentWritesFor } from '../../src/payments/payment-writes.ts';
import { PaymentService } from '../../src/payments/service.ts';
import { systemClock } from '../../src/platform/clock.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { IdGenerator } from '../../src/platform/ids.ts';
import { openStore } from '../../src/store/open.ts';
import { noGateway } from './api-phase.ts';
import { drive, type Op } from './load.ts';
import {
  concurrency,
  log,
  measureSeconds,
  runId,
  sharedSettings,
  vacuumIntervalMs,
  warmupSeconds,
} from './options.ts';
import { countsOfStore, type Mode, type PhaseResult, paymentBody, sanityOf } from './phases-support.ts';
import { createDatabase, dropDatabase, Vacuumer, withDatabase } from './postgres.ts';

export async function referencePhase(mode: Mode, pgAdminUrl: string): Promise<PhaseResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `paystream-bench-ref-${mode}-`));
  const dbName = mode === 'postgres' ? await createDatabase(pgAdminUrl, '_ref') : undefined;
  const databaseUrl = dbName ? withDatabase(pgAdminUrl, dbName) : undefined;
  let vacuumer: Vacuumer | undefined;
  // The same configuration path as the server: default pool size, the SQLite file under the data dir.
  const config = loadConfig({
    PAYSTREAM_DATA_DIR: dataDir,
    ...(databaseUrl ? { PAYSTREAM_DATABASE_URL: databaseUrl } : {}),
    ...sharedSettings,
  });
  const store = openStore(config, migrationSets);
  try {
    await store.migrate();
    const details: Record<string, unknown> = { databasePoolMax: config.databasePoolMax };
    if (store.dialect === 'sqlite') {
      const row = (await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db)).rows[0];
      const jm = (await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(store.db)).rows[0];
      details['sqliteSynchronous'] = row?.synchronous === 2 ? 'FULL (2)' : String(row?.synchronous);
      details['sqliteJournalMode'] = jm?.journal_mode;
      details['groupCommit'] = 'SqliteStore default (up to 256 transactions per COMMIT)';
    }
    const clock = systemClock;
    const ids = new IdGenerator(clock);
    const keys = new ApiKeys(store, ids, clock);
    const { key } = await keys.create({ name: 'bench reference' });
    const service = new PaymentService({ store, gateway: noGateway, ids, clock });

    if (databaseUrl) {
      vacuumer = new Vacuumer(databaseUrl);
      await vacuumer.connect();
      await vacuumer.once();
      vacuumer.start(vacuumIntervalMs);
    }

    const writes = paymentWritesFor(store, new OutboxWriter(ids, clock));
    let seq = 0;
    const op: Op = async () => {
      const i = seq++;
      const body = paymentBody(i);
      const parsed = JSON.parse(body) as {
        customer_id: string;
        amount: number;
        metadata: Record<string, string>;
      };
      const scope = {
        merchantId: key.merchantId,
        livemode: key.livemode,
        apiKeyId: key.id,
        key: `bench-${runId}-ref-${i}`,
        fingerprint: requestFingerprint('POST', '/v1/payments', parsed),
      };
      const payment = newProcessingPayment(
        ids.resource('pay'),
        { merchantId: key.merchantId, livemode: false },
        {
          customerId: parsed.customer_id,
          amount: BigInt(parsed.amount),
          currency: 'usd',
          paymentMethod: 'pm_card_visa',
          description: 'bench payment',
          metadata: parsed.metadata,
        },
        clock.now(),
      );
      // txn1: claim the key + insert the payment `processing`, with the service's own write.
      const claim = await writes.claim(scope, payment);
      if (claim.kind !== 'started') return 'idempotency replay';
      // txn2: conditional update to succeeded + outbox event + key's response (the service's own code).
      const settled = await service.settlePayment(payment, {
        status: 'succeeded',
        chargeId: ids.resource('ch'),
      });
      return settled.status === 'succeeded' ? null : `settled as ${settled.status}`;
    };
    log(`${mode}: reference phase, ${concurrency} workers, ${warmupSeconds} s warm-up + ${measureSeconds} s`);
    const result = await drive(op, {
      concurrency,
      warmupMs: warmupSeconds * 1000,
      measureMs: measureSeconds * 1000,
      cpu: { 'bench process (store + workers)': 'self' },
    });
    const vacuumLog = vacuumer?.log;
    if (vacuumer) await vacuumer.stop();
    vacuumer = undefined;
    const counts = await countsOfStore(store);
    return {
      mode,
      phase: 'reference',
      concurrency,
      description:
        mode === 'embedded'
          ? 'txn1 + txn2 of a payment run in-process on SqliteStore (group commit, synchronous=FULL), fresh file'
          : `txn1 + txn2 of a payment run in-process on PostgresStore (pool of ${config.databasePoolMax}), fresh database`,
      result,
      sanity: sanityOf(counts, result.okTotal),
      vacuum: vacuumLog,
      details,
    };
  } finally {
    if (vacuumer) await vacuumer.stop().catch(() => undefined);
    await store.close();
    if (dbName) await dropDatabase(pgAdminUrl, dbName).catch((e) => log(`drop ${dbName} failed: ${e}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}
