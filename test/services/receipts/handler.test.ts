import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { systemClock } from '../../../src/platform/clock.ts';
import { silentLogger } from '../../../src/platform/logger.ts';
import { EffectRejectedError } from '../../../src/runtime/errors.ts';
import { receiptsConsumer } from '../../../src/services/receipts/consumer.ts';
import { receiptsService } from '../../../src/services/receipts/index.ts';
import { type Mailer, smtpMailer } from '../../../src/services/receipts/mailer.ts';
import { type SmtpSink, startSmtpSink } from '../../../src/services/receipts/sink.ts';
import type { Store } from '../../../src/store/store.ts';
import { dialects, type TestDatabase } from '../../support/dialects.ts';
import {
  asV1,
  handlerContext,
  ids,
  merchantA,
  paymentSucceeded,
  receiptsStore,
  refundSucceeded,
} from './support.ts';

const from = 'receipts@paystream.local';
const mailers: Mailer[] = [];

/** The consumer sending to `url`, and its mailer (closed after the tests if not before). */
function consumerFor(url: string) {
  const mailer = smtpMailer(url);
  mailers.push(mailer);
  return Object.assign(receiptsConsumer({ mailer, from, locale: 'en-US', clock: systemClock }), { mailer });
}

/** A port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The receipts handler against a real SMTP server (the service's own sink, smtp-server) through
 * real nodemailer, with a hand-made HandlerContext (support.ts) in place of the runtime.
 */
for (const dialect of dialects()) {
  describe(`the receipts handler, over real SMTP (${dialect})`, () => {
    let db: TestDatabase;
    let store: Store;
    let sink: SmtpSink;
    let consumer: ReturnType<typeof receiptsConsumer>;

    const mailbox = (messageId?: string) => {
      let query = store.db.selectFrom('mailbox_messages').selectAll().orderBy('id');
      if (messageId !== undefined) query = query.where('message_id', '=', messageId);
      return query.execute();
    };
    const receiptOf = (eventId: string) =>
      store.db.selectFrom('receipts').selectAll().where('event_id', '=', eventId).executeTakeFirst();

    before(async () => {
      ({ db, store } = await receiptsStore(dialect));
      sink = await startSmtpSink({ store, ids, clock: systemClock, log: silentLogger, port: 0 });
      consumer = consumerFor(`smtp://127.0.0.1:${sink.port}`);
    });
    after(async () => {
      for (const mailer of mailers.splice(0)) mailer.close();
      await sink?.close();
      await store?.close();
      await db?.drop();
    });

    test('subscribes to the two success events only, behind the smtp breaker', () => {
      assert.equal(consumer.name, 'receipts');
      assert.deepEqual([...consumer.types], ['payment.succeeded', 'refund.succeeded']);
      assert.deepEqual(consumer.providers, ['smtp']);
    });

    test('a payment: one message, Message-ID from the event id, merchant header, recorded as sent', async () => {
      const event = paymentSucceeded({ receipt_email: 'ada@example.com' });
      const ctx = handlerContext(store, event);
      await consumer.handle(ctx);
      const messageId = `<${event.id}@receipts.paystream>`;
      const messages = await mailbox(messageId);
      assert.equal(messages.length, 1, 'one message for the event');
      const [message] = messages;
      assert.equal(message!.merchant_id, merchantA);
      assert.equal(message!.to_address, 'ada@example.com');
      assert.equal(message!.from_address, from);
      assert.equal(message!.subject, 'Your receipt from ADA MUGS: $25.00');
      assert.match(message!.text!, /Amount paid: +\$25\.00/);
      assert.match(message!.html!, /<td[^>]*>\$25\.00<\/td>/);
      assert.match(message!.raw, new RegExp(`^X-Paystream-Event-Id: ${event.id}\\r$`, 'mi'));
      assert.match(message!.raw, /^Date: Tue, 24 Nov 2026 20:18:24 \+0000\r$/m);
      const receipt = await receiptOf(event.id);
      assert.deepEqual(
        { ...receipt, created_at: undefined },
        {
          event_id: event.id,
          kind: 'payment',
          payment_id: (event.data as { payment_id: string }).payment_id,
          refund_id: null,
          merchant_id: merchantA,
          recipient: 'ada@example.com',
          status: 'sent',
          message_id: messageId,
          created_at: undefined,
        },
      );
      assert.deepEqual(ctx.effects, [`smtp: send payment receipt ${messageId} to ada@example.com`]);
      assert.equal(ctx.transactions, 1);
    });

    test('a refund: its receipt goes to the payment’s address, recorded with the refund id', async () => {
      const event = refundSucceeded({ receipt_email: 'bob@example.com', amount: 1500, currency: 'kwd' });
      await consumer.handle(handlerContext(store, event));
      const [message] = await mailbox(`<${event.id}@receipts.paystream>`);
      assert.equal(message!.to_address, 'bob@example.com');
      assert.equal(message!.subject, 'Your refund from ADA MUGS: KWD\u00a01.500');
      const receipt = await receiptOf(event.id);
      assert.equal(receipt!.kind, 'refund');
      assert.equal(receipt!.refund_id, (event.data as { refund_id: string }).refund_id);
      assert.equal(receipt!.status, 'sent');
    });

    test('no receipt_email (or a v1 event): nothing is sent, recorded as no_recipient', async () => {
      for (const event of [paymentSucceeded({ receipt_email: null }), asV1(refundSucceeded())]) {
        const before = (await mailbox()).length;
        const ctx = handlerContext(store, event);
        await consumer.handle(ctx);
        assert.equal((await mailbox()).length, before, 'no message');
        assert.deepEqual(ctx.effects, [], 'no effect');
        const receipt = await receiptOf(event.id);
        assert.equal(receipt!.status, 'no_recipient');
        assert.equal(receipt!.recipient, null);
        assert.equal(receipt!.message_id, null);
      }
    });

    test('a crash between the send and the transaction resends the same message, recorded once', async () => {
      const event = paymentSucceeded();
      await assert.rejects(
        consumer.handle(handlerContext(store, event, { failTransaction: true })),
        /crash before the transaction/,
      );
      assert.equal(await receiptOf(event.id), undefined, 'nothing recorded');
      await consumer.handle(handlerContext(store, event, { attempt: 2 }));
      const copies = await mailbox(`<${event.id}@receipts.paystream>`);
      assert.equal(copies.length, 2, 'at-least-once: the resend arrived too');
      assert.equal(copies[0]!.text, copies[1]!.text);
      assert.equal(
        copies[0]!.raw.match(/^Date: .*$/m)![0],
        copies[1]!.raw.match(/^Date: .*$/m)![0],
        'dated the same',
      );
      const receipts = await store.db
        .selectFrom('receipts')
        .select('event_id')
        .where('event_id', '=', event.id)
        .execute();
      assert.equal(receipts.length, 1);
    });

    test('a server that refuses the message: the send throws, nothing is recorded', async () => {
      const refusing = new SMTPServer({
        disabledCommands: ['STARTTLS', 'AUTH'],
        authOptional: true,
        logger: false,
        onData(stream, _session, callback) {
          stream.resume();
          stream.on('end', () =>
            callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 })),
          );
        },
      });
      await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
      try {
        const port = (refusing.server.address() as net.AddressInfo).port;
        const refused = consumerFor(`smtp://127.0.0.1:${port}`);
        const event = paymentSucceeded();
        // A 5xx to its DATA: this message's fault, not the server's (the breaker does not count it).
        await assert.rejects(refused.handle(handlerContext(store, event)), (error: Error) => {
          assert.ok(error instanceof EffectRejectedError, `${error.name}: ${error.message}`);
          assert.match(error.message, /550 mailbox unavailable/);
          return true;
        });
        assert.equal(await receiptOf(event.id), undefined);
        // Its pooled connection would otherwise hold the server's close until it idles out.
        refused.mailer.close();
      } finally {
        await new Promise<void>((resolve) => refusing.close(() => resolve()));
      }
    });

    test('no server at all: the send throws (connection refused), nothing is recorded', async () => {
      const down = consumerFor(`smtp://127.0.0.1:${await closedPort()}`);
      const event = paymentSucceeded();
      await assert.rejects(down.handle(handlerContext(store, event)), (error: Error) => {
        // The server's fault: the breaker counts it.
        assert.ok(!(error instanceof EffectRejectedError));
        assert.match(String(error), /ECONNREFUSED/);
        return true;
      });
      assert.equal(await receiptOf(event.id), undefined);
    });

    test('a recipient refused with 550 is the message’s fault; a 451 (try later) is the server’s', async () => {
      const picky = new SMTPServer({
        disabledCommands: ['STARTTLS', 'AUTH'],
        authOptional: true,
        logger: false,
        onRcptTo(address, _session, callback) {
          if (address.address.startsWith('gone@')) {
            callback(Object.assign(new Error('no such mailbox'), { responseCode: 550 }));
          } else if (address.address.startsWith('later@')) {
            callback(Object.assign(new Error('greylisted, try later'), { responseCode: 451 }));
          } else callback();
        },
        onData(stream, _session, callback) {
          stream.resume();
          stream.on('end', () => callback());
        },
      });
      await new Promise<void>((resolve) => picky.listen(0, '127.0.0.1', resolve));
      try {
        const port = (picky.server.address() as net.AddressInfo).port;
        const mailer = smtpMailer(`smtp://127.0.0.1:${port}`);
        const mail = {
          from: 'receipts@paystream.local',
          subject: 's',
          text: 't',
          html: '<p>t</p>',
          messageId: '<x@receipts.paystream>',
          date: new Date(),
          headers: {},
        };
        const signal = new AbortController().signal;
        await assert.rejects(mailer.send({ ...mail, to: 'gone@example.com' }, signal), EffectRejectedError);
        await assert.rejects(mailer.send({ ...mail, to: 'later@example.com' }, signal), (error: Error) => {
          assert.ok(!(error instanceof EffectRejectedError));
          assert.match(error.message, /451/);
          return true;
        });
        await mailer.send({ ...mail, to: 'fine@example.com' }, signal);
        mailer.close();
      } finally {
        await new Promise<void>((resolve) => picky.close(() => resolve()));
      }
    });

    test('a server that hangs: the attempt’s signal aborts the send at once', async () => {
      // Accepts the connection and never greets.
      const sockets: net.Socket[] = [];
      const silent = net.createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const port = (silent.address() as net.AddressInfo).port;
        const hung = consumerFor(`smtp://127.0.0.1:${port}`);
        const event = paymentSucceeded();
        const controller = new AbortController();
        const started = Date.now();
        setTimeout(() => controller.abort(new Error('attempt timed out')), 200);
        await assert.rejects(hung.handle(handlerContext(store, event, { signal: controller.signal })));
        assert.ok(Date.now() - started < 2_000, `aborted after ${Date.now() - started} ms`);
        assert.equal(await receiptOf(event.id), undefined);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });

    test('the service: start() runs its sink on a free port and a consumer that sends there', async () => {
      const running = await receiptsService.start({
        env: { PAYSTREAM_SMTP_SINK_PORT: '0' },
        mode: dialect === 'sqlite' ? 'embedded' : 'distributed',
        dataDir: db.dataDir,
        store,
        clock: systemClock,
        ids,
        log: silentLogger,
      });
      try {
        assert.deepEqual(
          running.consumers.map((c) => c.name),
          receiptsService.consumerNames,
        );
        const event = paymentSucceeded();
        await running.consumers[0]!.handle(handlerContext(store, event));
        assert.equal((await mailbox(`<${event.id}@receipts.paystream>`)).length, 1);
      } finally {
        await running.close();
      }
    });
  });
}
