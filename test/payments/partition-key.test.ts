import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';

for (const dialect of dialects()) {
  describe(`event partition keys (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      // Without the relay the events stay in the outbox, where the partition_key column is.
      t = await startTestApp(dialect, {}, { relay: false });
    });
    after(() => t.close());

    test("two merchants' cus_alice are two customers: their payment and refund events get different partition keys", async () => {
      const body = {
        customer_id: 'cus_alice',
        amount: 1200,
        currency: 'usd',
        payment_method: 'pm_card_visa',
      };
      const subjectsOf = new Map<string, string[]>();
      for (const name of ['merchant one', 'merchant two']) {
        const { key, secret } = await t.app.apiKeys.create({ name });
        const payment = await t.post('/v1/payments', body, undefined, secret);
        assert.equal(payment.json.status, 'succeeded');
        const refund = await t.post(
          `/v1/payments/${payment.json.id}/refunds`,
          { amount: 200 },
          undefined,
          secret,
        );
        assert.equal(refund.json.status, 'succeeded');
        subjectsOf.set(key.merchantId, [payment.json.id, refund.json.id]);
      }

      const rows = await t.app.store.db.selectFrom('outbox').select(['partition_key', 'envelope']).execute();
      const keys = new Set<string>();
      for (const [merchantId, subjects] of subjectsOf) {
        for (const subject of subjects) {
          const row = rows.find((r) => JSON.parse(r.envelope).subject === subject);
          assert.ok(row, `an outbox row for ${subject}`);
          assert.equal(row.partition_key, `${merchantId}/cus_alice`, `the outbox column of ${subject}`);
          assert.equal(
            JSON.parse(row.envelope).partitionkey,
            row.partition_key,
            `the envelope of ${subject}`,
          );
          keys.add(row.partition_key);
        }
      }
      assert.equal(
        keys.size,
        2,
        'one key per merchant: different across merchants, shared by payment and refund',
      );
    });
  });
}
