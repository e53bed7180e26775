/**
 * The synchronous baseline: what the seed's old system did, in one HTTP request. Not a product:
 * it lives in bench/ and serves only bench/decoupling.ts. POST /v1/payments (the same JSON body
 * paystream takes):
 *
 *   1. charge through the same sandbox gateway paystream uses (its HTTP client, on a worker
 *      thread, as `paystream start` runs it), with the request's Idempotency-Key;
 *   2. write the payment to a SQLite table (WAL, synchronous=FULL: an fsync per commit, as
 *      paystream's embedded store);
 *   3. send the receipt email with nodemailer, INSIDE the request;
 *   4. answer 200 only once the SMTP server accepted the email.
 *
 * A failed send answers 502 `receipt_email_failed`: the card is charged and the row written, but
 * the client sees an error (the old system's "charged without a confirmation"; a client retry would
 * charge again, since the old system had no idempotency of its own). No authentication, no outbox.
 *
 * Environment: BENCH_SMTP_URL, BENCH_DATA_DIR, BENCH_SMTP_CONNECTIONS (the mail pool's size: one per
 * client, so the pool itself never queues a send). Prints `baseline on http://host:port` when ready.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import nodemailer from 'nodemailer';
import { HttpGateway } from '../../src/gateway/http-gateway.ts';
import { startSandboxGatewayThread } from '../../src/gateway/sandbox/worker.ts';

const smtpUrl = new URL(process.env['BENCH_SMTP_URL']!);
const dataDir = process.env['BENCH_DATA_DIR']!;
const connections = Number(process.env['BENCH_SMTP_CONNECTIONS'] ?? '16');

const sandbox = await startSandboxGatewayThread({
  file: path.join(dataDir, 'sandbox-gateway.sqlite'),
  host: '127.0.0.1',
  port: 0,
});
const gateway = new HttpGateway({ url: sandbox.url, timeoutMs: 10_000 });

const db = new DatabaseSync(path.join(dataDir, 'baseline.sqlite'));
db.exec('PRAGMA journal_mode = WAL');
db.exec('PRAGMA synchronous = FULL');
db.exec(`create table if not exists payments (
  id text primary key, customer_id text not null, amount integer not null, currency text not null,
  payment_method text not null, description text, receipt_email text, status text not null,
  charge_id text, receipt_sent integer not null default 0, created integer not null)`);
const insert = db.prepare(
  `insert into payments (id, customer_id, amount, currency, payment_method, description, receipt_email,
   status, charge_id, created) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
);
const markSent = db.prepare('update payments set receipt_sent = 1 where id = ?');

// The same limits per send as paystream's mailer (src/services/receipts/mailer.ts), pooled.
const mail = nodemailer.createTransport({
  host: smtpUrl.hostname,
  port: Number(smtpUrl.port),
  secure: false,
  pool: true,
  maxConnections: connections,
  maxMessages: 100,
  connectionTimeout: 5_000,
  greetingTimeout: 5_000,
  socketTimeout: 15_000,
  dnsTimeout: 5_000,
});

interface Body {
  customer_id: string;
  amount: number;
  currency: string;
  payment_method: string;
  description?: string;
  receipt_email?: string;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function pay(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = JSON.parse(await readBody(req)) as Body;
  const key = String(req.headers['idempotency-key'] ?? randomUUID());
  const id = `pay_${randomUUID().replaceAll('-', '')}`;
  const outcome = await gateway.charge({
    idempotencyKey: key,
    amount: BigInt(body.amount),
    currency: body.currency,
    paymentMethod: body.payment_method,
    description: body.description ?? null,
  });
  const status =
    outcome.status === 'succeeded' ? 'succeeded' : outcome.status === 'failed' ? 'failed' : 'unknown';
  const chargeId = 'chargeId' in outcome ? outcome.chargeId : null;
  insert.run(
    id,
    body.customer_id,
    body.amount,
    body.currency,
    body.payment_method,
    body.description ?? null,
    body.receipt_email ?? null,
    status,
    chargeId,
    Math.floor(Date.now() / 1000),
  );
  if (status !== 'succeeded') {
    answer(res, 402, { error: { code: 'card_declined', message: `charge ${status}` } });
    return;
  }
  if (body.receipt_email) {
    try {
      await mail.sendMail({
        from: 'receipts@baseline.bench',
        to: body.receipt_email,
        subject: `Your receipt for ${body.amount} ${body.currency.toUpperCase()}`,
        text: `Payment ${id}: ${body.amount} ${body.currency.toUpperCase()}\n${body.description ?? ''}\n`,
        html: `<p>Payment <b>${id}</b>: ${body.amount} ${body.currency.toUpperCase()}</p>`,
      });
      markSent.run(id);
    } catch (error) {
      answer(res, 502, {
        error: {
          code: 'receipt_email_failed',
          message: `charged, but the receipt could not be sent: ${error instanceof Error ? error.message : String(error)}`,
        },
      });
      return;
    }
  }
  answer(res, 200, { id, object: 'payment', status, amount: body.amount, currency: body.currency });
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/v1/payments') {
    pay(req, res).catch((error: unknown) =>
      answer(res, 500, { error: { code: 'internal', message: String(error) } }),
    );
  } else {
    answer(res, 404, { error: { code: 'not_found' } });
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`baseline on http://127.0.0.1:${port}\n`);
});

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  mail.close();
  void Promise.allSettled([gateway.close(), sandbox.close()]).then(() => {
    db.close();
    process.exit(0);
  });
});
