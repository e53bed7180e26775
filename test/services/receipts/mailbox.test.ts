import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ApiKeys } from '../../../src/admin/api-keys.ts';
import { requireApiKey } from '../../../src/http/auth.ts';
import { createHttpServer } from '../../../src/http/server.ts';
import { systemClock } from '../../../src/platform/clock.ts';
import { silentLogger } from '../../../src/platform/logger.ts';
import { receiptsConsumer } from '../../../src/services/receipts/consumer.ts';
import { receiptsService } from '../../../src/services/receipts/index.ts';
import { type Mailer, smtpMailer } from '../../../src/services/receipts/mailer.ts';
import { type SmtpSink, startSmtpSink } from '../../../src/services/receipts/sink.ts';
import type { Store } from '../../../src/store/store.ts';
import { dialects, type TestDatabase } from '../../support/dialects.ts';
import { handlerContext, ids, paymentSucceeded, receiptsStore } from './support.ts';

// biome-ignore lint/suspicious/noExplicitAny: response bodies of arbitrary shape
type Json = any;

/**
 * The local SMTP sink and GET /v1/mailbox: receipts sent through the real consumer for two
 * merchants reach the sink, and each merchant's key sees its own and never the other's. The routes
 * run in a test-local API (the service's `routes`, behind the secret key, as the API registers them).
 */
for (const dialect of dialects()) {
  describe(`the SMTP sink and the mailbox API (${dialect})`, () => {
    let db: TestDatabase;
    let store: Store;
    let sink: SmtpSink;
    let mailer: Mailer;
    let api: FastifyInstance;
    const keys: Record<'a' | 'b', { secret: string; merchantId: string }> = {} as never;
    const sent: Record<'a' | 'b', string[]> = { a: [], b: [] };

    const get = async (url: string, who: 'a' | 'b' | null = 'a'): Promise<{ status: number; json: Json }> => {
      const res = await api.inject({
        method: 'GET',
        url,
        headers: who === null ? {} : { authorization: `Bearer ${keys[who].secret}` },
      });
      return { status: res.statusCode, json: res.json() };
    };

    before(async () => {
      ({ db, store } = await receiptsStore(dialect));
      const apiKeys = new ApiKeys(store, ids, systemClock);
      for (const who of ['a', 'b'] as const) {
        const { key, secret } = await apiKeys.create({ name: who });
        keys[who] = { secret, merchantId: key.merchantId };
      }
      api = await createHttpServer({ bodyLimitBytes: 65_536, logLevel: 'silent' });
      await api.register(async (v1) => {
        requireApiKey(v1, apiKeys);
        await v1.register(receiptsService.routes!({ store, env: {} }));
      });
      await api.ready();

      sink = await startSmtpSink({ store, ids, clock: systemClock, log: silentLogger, port: 0 });
      mailer = smtpMailer(`smtp://127.0.0.1:${sink.port}`);
      const consumer = receiptsConsumer({
        mailer,
        from: 'receipts@paystream.local',
        locale: 'en-US',
        clock: systemClock,
      });
      // Three receipts for merchant A, two for B, interleaved.
      for (const who of ['a', 'b', 'a', 'b', 'a'] as const) {
        const event = paymentSucceeded({
          merchant_id: keys[who].merchantId,
          receipt_email: `customer-${who}@example.com`,
          statement_descriptor: who === 'a' ? 'SHOP A' : 'SHOP B',
        });
        await consumer.handle(handlerContext(store, event));
        sent[who].push(`<${event.id}@receipts.paystream>`);
      }
      // Mail that names no merchant (not a receipt): kept, listed to nobody.
      await mailer.send(
        {
          from: 'someone@example.com',
          to: 'else@example.com',
          subject: 'not a receipt',
          text: 'hello',
          html: '<p>hello</p>',
          messageId: '<stray@example.com>',
          date: new Date(),
          headers: {},
        },
        AbortSignal.timeout(10_000),
      );
    });
    after(async () => {
      mailer?.close();
      await sink?.close();
      await api?.close();
      await store?.close();
      await db?.drop();
    });

    test('the sink keeps every message it accepted, with its merchant from X-Paystream-Merchant', async () => {
      const rows = await store.db
        .selectFrom('mailbox_messages')
        .select(['merchant_id', 'message_id'])
        .execute();
      assert.equal(rows.length, 6);
      assert.equal(rows.filter((r) => r.merchant_id === keys.a.merchantId).length, 3);
      assert.equal(rows.filter((r) => r.merchant_id === keys.b.merchantId).length, 2);
      assert.deepEqual(
        rows.filter((r) => r.merchant_id === null).map((r) => r.message_id),
        ['<stray@example.com>'],
      );
    });

    test("a merchant lists its own receipts, newest first, and never another merchant's", async () => {
      for (const who of ['a', 'b'] as const) {
        const list = await get('/v1/mailbox?limit=100', who);
        assert.equal(list.status, 200);
        assert.equal(list.json.object, 'list');
        assert.equal(list.json.has_more, false);
        assert.deepEqual(
          list.json.data.map((m: Json) => m.message_id),
          [...sent[who]].reverse(),
          `${who}: its own, newest first`,
        );
        for (const message of list.json.data) {
          assert.match(message.id, /^msg_[0-9A-Z]{26}$/);
          assert.equal(message.object, 'mailbox_message');
          assert.equal(message.to, `customer-${who}@example.com`);
          assert.equal(message.from, 'receipts@paystream.local');
          assert.equal(message.subject, `Your receipt from ${who === 'a' ? 'SHOP A' : 'SHOP B'}: $25.00`);
          assert.ok(Number.isInteger(message.received_at));
          assert.ok(Math.abs(message.received_at - Date.now() / 1000) < 120, 'unix seconds');
          assert.match(message.text, /Amount paid: +\$25\.00/);
          assert.match(message.html, /<h1[^>]*>Receipt from SHOP [AB]<\/h1>/);
        }
      }
    });

    test("one message by id; another merchant's is a 404", async () => {
      const [newest] = (await get('/v1/mailbox?limit=1', 'a')).json.data;
      const one = await get(`/v1/mailbox/${newest.id}`, 'a');
      assert.equal(one.status, 200);
      assert.deepEqual(one.json, newest);
      const foreign = await get(`/v1/mailbox/${newest.id}`, 'b');
      assert.equal(foreign.status, 404);
      assert.equal(foreign.json.error.code, 'PAYSTREAM_NOT_FOUND');
      assert.equal((await get('/v1/mailbox/msg_nope', 'a')).status, 404);
      const stray = await store.db
        .selectFrom('mailbox_messages')
        .select('id')
        .where('merchant_id', 'is', null)
        .executeTakeFirstOrThrow();
      assert.equal(
        (await get(`/v1/mailbox/${stray.id}`, 'a')).status,
        404,
        'mail of no merchant is nobody’s',
      );
    });

    test('pages with limit and starting_after', async () => {
      const first = await get('/v1/mailbox?limit=2', 'a');
      assert.equal(first.json.data.length, 2);
      assert.equal(first.json.has_more, true);
      const second = await get(`/v1/mailbox?limit=2&starting_after=${first.json.data[1].id}`, 'a');
      assert.equal(second.json.has_more, false);
      assert.deepEqual(
        [...first.json.data, ...second.json.data].map((m: Json) => m.message_id),
        [...sent.a].reverse(),
      );
    });

    test('bad parameters are a 400 naming them; no key is a 401', async () => {
      for (const [query, param] of [
        ['limit=0', 'limit'],
        ['limit=101', 'limit'],
        ['limit=ten', 'limit'],
        ['starting_after=pay_01', 'starting_after'],
        ['colour=red', 'colour'],
      ]) {
        const res = await get(`/v1/mailbox?${query}`, 'a');
        assert.equal(res.status, 400, query);
        assert.equal(res.json.error.code, 'PAYSTREAM_VALIDATION', query);
        assert.equal(res.json.error.param, param, query);
      }
      const anonymous = await get('/v1/mailbox', null);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.json.error.code, 'PAYSTREAM_UNAUTHORIZED');
    });

    test('a second sink on a taken port runs nothing, and mail sent there reaches the first', async () => {
      const second = await startSmtpSink({
        store,
        ids,
        clock: systemClock,
        log: silentLogger,
        port: sink.port,
      });
      assert.equal(second.owned, false);
      assert.equal(second.port, sink.port);
      await second.close();
      const other = smtpMailer(`smtp://127.0.0.1:${second.port}`);
      try {
        const event = paymentSucceeded({ merchant_id: keys.b.merchantId });
        await receiptsConsumer({
          mailer: other,
          from: 'r@paystream.local',
          locale: 'en-US',
          clock: systemClock,
        }).handle(handlerContext(store, event));
        const list = await get('/v1/mailbox?limit=1', 'b');
        assert.equal(list.json.data[0].message_id, `<${event.id}@receipts.paystream>`);
      } finally {
        other.close();
      }
    });
  });
}
