import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createTestDatabase, dialects } from '../support/dialects.ts';
import { freePort, spawnPaystream } from '../support/processes.ts';

/**
 * A migration that adds columns while an API process serves traffic must not break that process.
 * PostgreSQL only: there the API runs its queries as named prepared statements, whose cached plans
 * fail ("cached plan must not change result type") if a query's result shape follows the table's.
 */
for (const dialect of dialects().filter((d) => d === 'postgres')) {
  test(`columns added while the API serves: no request fails (${dialect})`, { timeout: 60_000 }, async () => {
    const db = await createTestDatabase(dialect);
    const env = {
      ...process.env,
      PAYSTREAM_DATA_DIR: db.dataDir,
      PAYSTREAM_DATABASE_URL: db.databaseUrl,
      PAYSTREAM_PORT: String(await freePort()),
      PAYSTREAM_GATEWAY_PORT: String(await freePort()),
      PAYSTREAM_LOG_LEVEL: 'warn',
    };
    const keys = spawnPaystream('keys', ['keys', 'create', '--name', 'online'], env);
    const secret = (await keys.waitFor('stdout', /sk_test_[A-Za-z0-9]{32}/, 20_000))[0];
    await keys.exited;
    const api = spawnPaystream('api', ['start'], env);
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    try {
      const url = (await api.waitFor('stdout', /API on (http:\/\/[^\s,]+)/, 20_000))[1]!;
      const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
      const failures: string[] = [];
      let altered = false;
      let servedAfterAlter = 0;
      let n = 0;
      const client = async () => {
        const deadline = Date.now() + 4000;
        while (Date.now() < deadline) {
          n += 1;
          const paid = await fetch(`${url}/v1/payments`, {
            method: 'POST',
            headers: { ...headers, 'idempotency-key': `online-${n}-${Math.random()}` },
            body: JSON.stringify({
              customer_id: `cus_${n % 5}`,
              amount: 500,
              currency: 'usd',
              payment_method: 'pm_card_visa',
            }),
          });
          const payment = (await paid.json()) as { id: string };
          const answers = [
            paid,
            await fetch(`${url}/v1/payments/${payment.id}`, { headers }),
            await fetch(`${url}/v1/payments?limit=5`, { headers }),
            await fetch(`${url}/v1/payments/${payment.id}/refunds`, {
              method: 'POST',
              headers: { ...headers, 'idempotency-key': `online-refund-${n}-${Math.random()}` },
              body: JSON.stringify({ amount: 100 }),
            }),
            await fetch(`${url}/v1/payments/${payment.id}/refunds`, { headers }),
          ];
          for (const res of answers) {
            if (res.status !== 200) failures.push(`${res.status} ${res.url} ${await res.text()}`);
            else if (altered) servedAfterAlter += 1;
          }
        }
      };
      const traffic = Promise.all([client(), client(), client()]);
      await sleep(1200);
      await admin.connect();
      for (const table of ['payments', 'refunds', 'idempotency_records', 'api_keys', 'outbox']) {
        await admin.query(`ALTER TABLE ${table} ADD COLUMN online_added_${table} text`);
      }
      altered = true;
      await traffic;
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} requests failed`);
      assert.ok(servedAfterAlter > 20, `only ${servedAfterAlter} answers after the ALTERs`);
    } finally {
      await admin.end().catch(() => undefined);
      await api.kill();
      await db.drop();
    }
  });
}
