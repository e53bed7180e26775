import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { dialects } from '../support/dialects.ts';
import { writtenEvents } from '../support/events.ts';

for (const dialect of dialects()) {
  describe(`event partition keys (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(dialect);
    });
    after(() => t.close());

    test("two merchants' cus_alice are two customers: their events get different partition keys", async () => {
      const other = await t.app.apiKeys.create({ name: 'another merchant' });
      const body = {
        customer_id: 'cus_alice',
        amount: 1200,
        currency: 'usd',
        payment_method: 'pm_card_visa',
      };
      const mine = await t.post('/v1/payments', body);
      const theirs = await t.post('/v1/payments', body, undefined, other.secret);
      assert.equal(mine.status, 200);
      assert.equal(theirs.status, 200);
      const events = await writtenEvents(t.app.store);
      const keyOf = (paymentId: string) => events.find((e) => e.subject === paymentId)?.partitionkey;
      assert.equal(
        keyOf(mine.json.id),
        `${events.find((e) => e.subject === mine.json.id).data.merchant_id}/cus_alice`,
      );
      assert.equal(keyOf(theirs.json.id), `${other.key.merchantId}/cus_alice`);
      assert.notEqual(keyOf(mine.json.id), keyOf(theirs.json.id));
    });
  });
}
