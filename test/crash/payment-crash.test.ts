import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Dialect } from '../../src/store/store.ts';
import { createTestDatabase, dialects, type TestDatabase } from '../support/dialects.ts';
import { eventOfRow, type WrittenEventRow, writtenEventsSql } from '../support/events.ts';
import { freePort, type Proc, spawnPaystream } from '../support/processes.ts';

/**
 * Crash tests: paystream and the sandbox gateway run as real processes, the API is killed with
 * SIGKILL at a chosen point of the payment flow (or at a random moment under load), restarted, and
 * the durable state of both sides is checked: no payment charged twice, none lost, one event each.
 */

const startTimeoutMs = 20_000;
const settleTimeoutMs = 20_000;

// ---------------------------------------------------------------------------------------------
// Child processes

// ---------------------------------------------------------------------------------------------
// Reading the durable state directly (no paystream code in between)

type Row = Record<string, unknown>;

/** Runs one read against paystream's store: SQLite read-only, or a PostgreSQL connection. */
async function storeRows(db: TestDatabase, sql: string, params: unknown[] = []): Promise<Row[]> {
  if (db.databaseUrl === undefined) {
    const sqlite = new DatabaseSync(db.sqlitePath, { readOnly: true });
    try {
      return sqlite.prepare(sql).all(...(params as string[])) as Row[];
    } finally {
      sqlite.close();
    }
  }
  const client = new pg.Client({ connectionString: db.databaseUrl });
  await client.connect();
  try {
    let n = 0;
    const result = await client.query(
      sql.replace(/\?/g, () => `$${++n}`),
      params,
    );
    return result.rows as Row[];
  } finally {
    await client.end();
  }
}

interface GatewayCharge {
  id: string;
  idempotency_key: string;
  status: string;
}

function gatewayFile(db: TestDatabase): string {
  return path.join(db.dataDir, 'sandbox-gateway.sqlite');
}

/** The sandbox gateway's book of charges, read from its own SQLite file. */
function gatewayCharges(db: TestDatabase, idempotencyKey?: string): GatewayCharge[] {
  const sqlite = new DatabaseSync(gatewayFile(db), { readOnly: true });
  try {
    const rows =
      idempotencyKey === undefined
        ? sqlite.prepare('SELECT id, idempotency_key, status FROM charges').all()
        : sqlite
            .prepare('SELECT id, idempotency_key, status FROM charges WHERE idempotency_key = ?')
            .all(idempotencyKey);
    return rows as unknown as GatewayCharge[];
  } finally {
    sqlite.close();
  }
}

interface OutboxEvent {
  type: string;
  partitionKey: string;
  subject: string;
  data: Record<string, unknown>;
}

async function outboxEvents(db: TestDatabase): Promise<OutboxEvent[]> {
  // Relayed to the embedded log or still in the outbox: every event written, once.
  const rows = await storeRows(db, writtenEventsSql);
  return rows.map((row) => {
    const event = eventOfRow(row as unknown as WrittenEventRow);
    return {
      type: event.type,
      partitionKey: event.partitionkey,
      subject: event.subject,
      data: event.data as Row,
    };
  });
}

async function paymentRow(db: TestDatabase, id: string): Promise<Row | undefined> {
  return (await storeRows(db, 'SELECT id, status, gateway_charge_id FROM payments WHERE id = ?', [id]))[0];
}

async function idempotencyRows(db: TestDatabase, resourceId?: string): Promise<Row[]> {
  const columns = 'key, state, resource_id, response_status, response_body FROM idempotency_records';
  return resourceId === undefined
    ? storeRows(db, `SELECT ${columns}`)
    : storeRows(db, `SELECT ${columns} WHERE resource_id = ?`, [resourceId]);
}

// ---------------------------------------------------------------------------------------------
// One test's world: a fresh database, a sandbox gateway process, an API key, API processes

interface PaymentBody {
  customer_id: string;
  amount: number;
  currency: 'usd';
  payment_method: string;
}

interface Answer {
  status: number;
  json: Record<string, unknown>;
  replayed: boolean;
}

class World {
  readonly dialect: Dialect;
  readonly db: TestDatabase;
  readonly apiPort: number;
  readonly gatewayUrl: string;
  readonly secret: string;
  gateway: Proc;
  readonly #procs: Set<Proc>;

  private constructor(fields: {
    dialect: Dialect;
    db: TestDatabase;
    apiPort: number;
    gatewayUrl: string;
    secret: string;
    gateway: Proc;
    procs: Set<Proc>;
  }) {
    this.dialect = fields.dialect;
    this.db = fields.db;
    this.apiPort = fields.apiPort;
    this.gatewayUrl = fields.gatewayUrl;
    this.secret = fields.secret;
    this.gateway = fields.gateway;
    this.#procs = fields.procs;
  }

  static async create(t: TestContext, dialect: Dialect): Promise<World> {
    const db = await createTestDatabase(dialect);
    const procs = new Set<Proc>();
    // Registered first, so it runs even when setup below fails: every child dies, the database goes.
    t.after(async () => {
      for (const proc of procs) await proc.kill();
      await db.drop();
    });
    const [apiPort, gatewayPort] = [await freePort(), await freePort()];
    const env = World.baseEnv(db);

    const gateway = spawnPaystream('gateway', ['gateway', '--port', String(gatewayPort)], env);
    procs.add(gateway);
    const gatewayUrl = (
      await gateway.waitFor('stdout', /sandbox gateway on (http:\/\/\S+)/, startTimeoutMs)
    )[1]!;

    const keys = spawnPaystream('keys create', ['keys', 'create', '--name', 'crash test'], env);
    procs.add(keys);
    const code = await keys.exited;
    procs.delete(keys);
    assert.equal(code, 0, `keys create failed: ${keys.stderr()}`);
    const secret = keys.stdout().trim();
    assert.match(secret, /^sk_\S+$/);

    return new World({ dialect, db, apiPort, gatewayUrl, secret, gateway, procs });
  }

  /** Starts the sandbox gateway again, on its port and its data file (after a kill -9). */
  async restartGateway(): Promise<void> {
    const port = new URL(this.gatewayUrl).port;
    const gateway = spawnPaystream('gateway', ['gateway', '--port', port], World.baseEnv(this.db));
    this.#procs.add(gateway);
    await gateway.waitFor('stdout', /sandbox gateway on (http:\/\/\S+)/, startTimeoutMs);
    this.gateway = gateway;
  }

  /** The environment of every child: this test's store and fast timings, nothing PAYSTREAM_* inherited. */
  static baseEnv(db: TestDatabase): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('PAYSTREAM_') && !name.startsWith('NODE_TEST')) env[name] = value;
    }
    return {
      ...env,
      PAYSTREAM_DATA_DIR: db.dataDir,
      ...(db.databaseUrl ? { PAYSTREAM_DATABASE_URL: db.databaseUrl } : {}),
      PAYSTREAM_GATEWAY_TIMEOUT_MS: '500',
      PAYSTREAM_RECONCILE_AFTER_MS: '1000',
      PAYSTREAM_RECONCILE_INTERVAL_MS: '200',
      PAYSTREAM_LOG_LEVEL: 'warn',
    };
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  /** Starts `paystream start` on the test's fixed API port, against the gateway process. */
  async startApi(faultEnv: Record<string, string> = {}): Promise<Proc> {
    const api = spawnPaystream('api', ['start'], {
      ...World.baseEnv(this.db),
      PAYSTREAM_PORT: String(this.apiPort),
      PAYSTREAM_GATEWAY_URL: this.gatewayUrl,
      ...faultEnv,
    });
    this.#procs.add(api);
    const url = (await api.waitFor('stdout', /API on (http:\/\/[^\s,]+)/, startTimeoutMs))[1]!;
    assert.equal(url, this.apiUrl);
    return api;
  }

  async kill(proc: Proc): Promise<void> {
    await proc.kill();
    this.#procs.delete(proc);
  }

  /** POST /v1/payments; rejects when no answer arrives (connection refused or reset). */
  async postPayment(key: string, body: PaymentBody): Promise<Answer> {
    const response = await fetch(`${this.apiUrl}/v1/payments`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.secret}`,
        'idempotency-key': key,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    return {
      status: response.status,
      json,
      replayed: response.headers.get('idempotent-replayed') === 'true',
    };
  }

  async getPayment(id: string): Promise<Answer> {
    const response = await fetch(`${this.apiUrl}/v1/payments/${id}`, {
      headers: { authorization: `Bearer ${this.secret}` },
    });
    const json = (await response.json()) as Record<string, unknown>;
    return { status: response.status, json, replayed: false };
  }

  /** Polls GET /v1/payments/:id until the payment has `status` (bounded). */
  async waitForStatus(id: string, status: string): Promise<number> {
    const started = Date.now();
    let last = '';
    while (Date.now() - started < settleTimeoutMs) {
      try {
        const answer = await this.getPayment(id);
        last = `${answer.status} ${JSON.stringify(answer.json)}`;
        if (answer.status === 200 && answer.json['status'] === status) return Date.now() - started;
      } catch (error) {
        last = String(error);
      }
      await sleep(100);
    }
    assert.fail(`payment ${id} not ${status} within ${settleTimeoutMs} ms; last answer: ${last}`);
  }
}

const visa = (customer: string, amount: number): PaymentBody => ({
  customer_id: customer,
  amount,
  currency: 'usd',
  payment_method: 'pm_card_visa',
});

// ---------------------------------------------------------------------------------------------
// Kill -9 at a fault point, restart, check

type FaultPoint = 'after_charge' | 'before_charge';

async function killAtFaultPoint(t: TestContext, dialect: Dialect, point: FaultPoint): Promise<void> {
  const world = await World.create(t, dialect);
  const key = `crash-${point}-${randomUUID()}`;
  const body = visa('cus_crash', 4200);

  const api = await world.startApi({ PAYSTREAM_FAULT_PAUSE_AT: point, PAYSTREAM_FAULT_PAUSE_MS: '60000' });
  // Not awaited: the API pauses inside this request and is killed before it answers.
  const request = world.postPayment(key, body).then(
    (answer) => ({ answered: true as const, answer }),
    (error: unknown) => ({ answered: false as const, error }),
  );
  const marker = new RegExp(`PAYSTREAM_FAULT_PAUSED ${point} (pay_\\S+)`);
  const paymentId = (await api.waitFor('stderr', marker, startTimeoutMs))[1]!;
  await world.kill(api);

  const lost = await request;
  assert.equal(lost.answered, false, 'the client got no answer from the killed process');

  // The state the crash left behind.
  const chargesAtKill = gatewayCharges(world.db, paymentId);
  if (point === 'after_charge') {
    assert.equal(chargesAtKill.length, 1, 'the gateway has the charge made just before the kill');
    assert.equal(chargesAtKill[0]!.status, 'succeeded');
  } else {
    assert.equal(chargesAtKill.length, 0, 'the gateway was never asked to charge');
  }
  const atKill = await paymentRow(world.db, paymentId);
  assert.equal(atKill?.['status'], 'processing', 'the payment was left processing');
  assert.equal(atKill?.['gateway_charge_id'], null);
  assert.deepEqual(
    (await outboxEvents(world.db)).filter((e) => e.subject === paymentId),
    [],
    'no event for an unsettled payment',
  );
  const recordAtKill = await idempotencyRows(world.db, paymentId);
  assert.equal(recordAtKill.length, 1);
  assert.equal(recordAtKill[0]!['state'], 'in_flight');

  // Restart without the fault: the reconciler settles the payment.
  const restartedAt = Date.now();
  await world.startApi();
  const settleMs = await world.waitForStatus(paymentId, 'succeeded');
  t.diagnostic(
    `${dialect} ${point}: settled ${Date.now() - restartedAt} ms after restart (poll ${settleMs} ms)`,
  );

  const charges = gatewayCharges(world.db, paymentId);
  assert.equal(charges.length, 1, 'exactly one charge at the gateway for the payment');
  assert.equal(charges[0]!.status, 'succeeded');
  if (point === 'after_charge')
    assert.equal(charges[0]!.id, chargesAtKill[0]!.id, 'the same charge, not a new one');

  const settled = await paymentRow(world.db, paymentId);
  assert.equal(settled?.['status'], 'succeeded');
  assert.equal(settled?.['gateway_charge_id'], charges[0]!.id);

  const events = (await outboxEvents(world.db)).filter((e) => e.subject === paymentId);
  assert.equal(events.length, 1, 'exactly one outbox event for the payment');
  assert.equal(events[0]!.type, 'payment.succeeded');
  assert.equal(events[0]!.partitionKey, `${events[0]!.data['merchant_id']}/cus_crash`);

  const record = await idempotencyRows(world.db, paymentId);
  assert.equal(record.length, 1);
  assert.equal(record[0]!['key'], key);
  assert.equal(record[0]!['state'], 'completed');
  assert.equal(Number(record[0]!['response_status']), 200);
  const stored = JSON.parse(String(record[0]!['response_body'])) as Record<string, unknown>;
  assert.equal(stored['id'], paymentId);
  assert.equal(stored['status'], 'succeeded');

  // The client retries the request it never got an answer to: the stored outcome, nothing new.
  const retry = await world.postPayment(key, body);
  assert.equal(retry.status, 200);
  assert.equal(retry.replayed, true, 'idempotent-replayed: true');
  assert.equal(retry.json['id'], paymentId);
  assert.equal(retry.json['status'], 'succeeded');
  assert.equal(retry.json['amount'], 4200);
  assert.equal(gatewayCharges(world.db, paymentId).length, 1, 'still one charge after the retry');
  assert.equal(gatewayCharges(world.db).length, 1, 'no other charge at all');
  assert.equal((await storeRows(world.db, 'SELECT id FROM payments')).length, 1, 'one payment in all');
  assert.equal((await outboxEvents(world.db)).length, 1, 'one event in all');
}

// ---------------------------------------------------------------------------------------------
// Kill -9 at a random moment under load

const loadTotal = 200;
const loadClients = 20;
const customers = ['cus_ada', 'cus_bob', 'cus_cyd', 'cus_dee', 'cus_eve', 'cus_fay', 'cus_gus'];

interface LoadRequest {
  key: string;
  body: PaymentBody;
  expected: 'succeeded' | 'failed';
  /** Before the kill: the answer, an error (sent, no answer), or nothing (never sent). */
  first?: Answer | { error: unknown };
  final?: Answer;
  conflicts: number;
  attempts: number;
}

function isAnswer(value: LoadRequest['first']): value is Answer {
  return value !== undefined && 'status' in value;
}

/** Runs `work` over `items` with `clients` concurrent workers. */
async function pool<T>(items: T[], clients: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: clients }, worker));
}

async function killUnderLoad(t: TestContext, dialect: Dialect): Promise<void> {
  const world = await World.create(t, dialect);
  const requests: LoadRequest[] = Array.from({ length: loadTotal }, (_, i) => {
    const declined = i % 9 === 4;
    return {
      key: `load-${i}-${randomUUID()}`,
      body: {
        customer_id: customers[i % customers.length]!,
        amount: 100 + i,
        currency: 'usd',
        payment_method: declined ? 'pm_card_chargeDeclined' : 'pm_card_visa',
      },
      expected: declined ? 'failed' : 'succeeded',
      conflicts: 0,
      attempts: 0,
    };
  });

  // Phase 1: load, and SIGKILL once `killAfter` answers have come back.
  const killAfter = 80 + Math.floor(Math.random() * 41);
  let api = await world.startApi();
  const started = Date.now();
  let answered = 0;
  let inFlight = 0;
  let inFlightAtKill = -1;
  let killed: Promise<void> | undefined;
  const phase1Queue = [...requests];
  await pool(phase1Queue, loadClients, async (r) => {
    if (killed) return;
    inFlight += 1;
    r.attempts += 1;
    try {
      r.first = await world.postPayment(r.key, r.body);
      answered += 1;
    } catch (error) {
      r.first = { error };
    }
    inFlight -= 1;
    if (!killed && answered >= killAfter) {
      inFlightAtKill = inFlight;
      killed = world.kill(api);
    }
  });
  await killed;
  const killMs = Date.now() - started;

  const sent = requests.filter((r) => r.first !== undefined);
  const answeredBeforeKill = requests.filter((r) => isAnswer(r.first));
  const lostAtKill = sent.length - answeredBeforeKill.length;
  for (const r of answeredBeforeKill) {
    const first = r.first as Answer;
    assert.equal(
      first.status,
      200,
      `before the kill every request is answered 200: ${JSON.stringify(first.json)}`,
    );
  }

  // What the crash left: payments still processing, and which side of the charge they stopped on.
  const processingAtKill = (
    await storeRows(world.db, "SELECT id FROM payments WHERE status = 'processing'")
  ).map((row) => String(row['id']));
  const chargedKeys = new Set(gatewayCharges(world.db).map((c) => c.idempotency_key));
  const chargedButProcessing = processingAtKill.filter((id) => chargedKeys.has(id)).length;
  const inFlightRecords = (await idempotencyRows(world.db)).filter(
    (row) => row['state'] === 'in_flight',
  ).length;

  // Phase 2: restart and retry every request (same key, same body) until it has a final answer.
  api = await world.startApi();
  const restarted = Date.now();
  const deadline = restarted + 30_000;
  await pool([...requests], loadClients, async (r) => {
    let last = '';
    while (Date.now() < deadline) {
      r.attempts += 1;
      try {
        const answer = await world.postPayment(r.key, r.body);
        last = `${answer.status} ${JSON.stringify(answer.json)}`;
        const status = answer.json['status'];
        if (answer.status === 200 && (status === 'succeeded' || status === 'failed')) {
          r.final = answer;
          return;
        }
        if (answer.status === 409) r.conflicts += 1;
        else if (answer.status !== 200) assert.fail(`unexpected answer to a retry of ${r.key}: ${last}`);
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        last = String(error);
      }
      await sleep(100);
    }
    assert.fail(`${r.key} has no final answer 30 s after the restart; last: ${last}`);
  });
  const recoverMs = Date.now() - restarted;

  // Every answer is consistent with the first one the client saw.
  for (const r of requests) {
    const final = r.final!;
    assert.equal(final.json['status'], r.expected, `${r.key} ends ${r.expected}`);
    assert.equal(final.json['customer_id'], r.body.customer_id);
    assert.equal(final.json['amount'], r.body.amount);
    if (isAnswer(r.first)) {
      assert.equal(
        final.json['id'],
        r.first.json['id'],
        `${r.key}: the retry names the payment first answered`,
      );
      const firstStatus = r.first.json['status'];
      if (firstStatus === 'succeeded' || firstStatus === 'failed') {
        assert.equal(final.replayed, true, `${r.key}: a settled request is replayed`);
        assert.equal(final.json['status'], firstStatus);
      }
    }
  }
  const finalIds = new Map(requests.map((r) => [String(r.final!.json['id']), r]));
  assert.equal(finalIds.size, loadTotal, 'each key has its own payment');

  // The durable invariants, read from both stores.
  const payments = await storeRows(
    world.db,
    'SELECT id, status, customer_id, gateway_charge_id FROM payments',
  );
  const charges = gatewayCharges(world.db);
  const events = await outboxEvents(world.db);
  const records = await idempotencyRows(world.db);

  assert.equal(payments.length, loadTotal, 'payments == distinct idempotency keys sent');
  assert.equal(records.length, loadTotal, 'one idempotency record per key');
  assert.equal(charges.length, payments.length, 'gateway charges == payments: nothing charged twice');
  assert.equal(events.length, payments.length, 'one outbox event per payment');

  const chargeByKey = new Map<string, GatewayCharge>();
  for (const charge of charges) {
    assert.ok(!chargeByKey.has(charge.idempotency_key), `one charge per key (${charge.idempotency_key})`);
    chargeByKey.set(charge.idempotency_key, charge);
  }
  const eventsBySubject = new Map<string, OutboxEvent[]>();
  for (const event of events)
    eventsBySubject.set(event.subject, [...(eventsBySubject.get(event.subject) ?? []), event]);

  for (const payment of payments) {
    const id = String(payment['id']);
    const request = finalIds.get(id);
    assert.ok(request, `payment ${id} is the one a client was answered`);
    assert.equal(payment['status'], request.expected, `payment ${id} is settled`);
    assert.equal(payment['customer_id'], request.body.customer_id);
    const charge = chargeByKey.get(id);
    assert.ok(charge, `payment ${id} has its charge at the gateway`);
    assert.equal(charge.status, payment['status']);
    assert.equal(payment['gateway_charge_id'], charge.id);
    const own = eventsBySubject.get(id) ?? [];
    assert.equal(own.length, 1, `payment ${id} has exactly one event`);
    assert.equal(own[0]!.type, `payment.${request.expected}`);
    assert.equal(own[0]!.partitionKey, `${own[0]!.data['merchant_id']}/${request.body.customer_id}`);
  }
  const paymentIds = new Set(payments.map((p) => String(p['id'])));
  for (const key of chargeByKey.keys())
    assert.ok(paymentIds.has(key), `gateway charge ${key} belongs to a payment`);

  const sentKeys = new Set(requests.map((r) => r.key));
  for (const record of records) {
    assert.ok(sentKeys.has(String(record['key'])), 'records only for keys that were sent');
    assert.equal(record['state'], 'completed');
    assert.equal(
      finalIds.get(String(record['resource_id']))?.key,
      record['key'],
      'the record names its payment',
    );
  }

  const conflicts = requests.reduce((n, r) => n + r.conflicts, 0);
  const attempts = requests.reduce((n, r) => n + r.attempts, 0);
  t.diagnostic(
    `${dialect} load: killed after ${answeredBeforeKill.length} answers (target ${killAfter}) at ${killMs} ms; ` +
      `sent ${sent.length}, in flight at kill ${inFlightAtKill}, lost answers ${lostAtKill}, ` +
      `never sent ${loadTotal - sent.length}`,
  );
  t.diagnostic(
    `${dialect} load at kill: payments processing ${processingAtKill.length} ` +
      `(charged at gateway ${chargedButProcessing}, not charged ${processingAtKill.length - chargedButProcessing}), ` +
      `idempotency records in flight ${inFlightRecords}`,
  );
  t.diagnostic(
    `${dialect} load after restart: all ${loadTotal} final in ${recoverMs} ms, ${attempts} POSTs in all, ` +
      `${conflicts} answered 409; payments ${payments.length}, charges ${charges.length}, events ${events.length}, ` +
      `failed ${payments.filter((p) => p['status'] === 'failed').length}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Kill -9 of the sandbox gateway under load

async function killGatewayUnderLoad(t: TestContext, dialect: Dialect): Promise<void> {
  const world = await World.create(t, dialect);
  await world.startApi();
  const total = 120;
  const requests = Array.from({ length: total }, (_, i) => ({
    key: `gw-${i}-${randomUUID()}`,
    body: visa(customers[i % customers.length]!, 300 + i),
  }));
  let answered = 0;
  let killed: Promise<void> | undefined;
  const first = new Map<string, Answer | { error: unknown }>();
  await pool([...requests], 12, async (r) => {
    first.set(r.key, await world.postPayment(r.key, r.body).catch((error: unknown) => ({ error })));
    answered += 1;
    if (answered === 40 && !killed) {
      killed = (async () => {
        await world.kill(world.gateway);
        await sleep(700); // payments keep arriving while the gateway is gone
        await world.restartGateway();
      })();
    }
  });
  await killed;
  const processingAtEnd = [...first.values()].filter(
    (a) => 'status' in a && a.json['status'] === 'processing',
  );
  t.diagnostic(
    `${dialect}: ${processingAtEnd.length} of ${total} answered processing around the gateway's kill`,
  );

  // Every client retries until it has the final answer (409 while the reconciler has not settled it).
  const finals = new Map<string, Answer>();
  for (const r of requests) {
    const started = Date.now();
    for (;;) {
      const answer = await world.postPayment(r.key, r.body);
      if (answer.status === 200 && answer.json['status'] !== 'processing') {
        finals.set(r.key, answer);
        break;
      }
      assert.ok(
        Date.now() - started < settleTimeoutMs,
        `${r.key} never settled: ${JSON.stringify(answer.json)}`,
      );
      await sleep(100);
    }
  }
  const paymentIds = new Set([...finals.values()].map((a) => String(a.json['id'])));
  assert.equal(paymentIds.size, total, 'one payment per request');
  for (const a of finals.values()) assert.equal(a.json['status'], 'succeeded');

  const charges = gatewayCharges(world.db);
  const chargedKeys = charges.map((c) => c.idempotency_key);
  assert.equal(new Set(chargedKeys).size, chargedKeys.length, 'no payment charged twice');
  assert.deepEqual(
    new Set(chargedKeys),
    paymentIds,
    'every payment charged once, no charge without a payment',
  );
  const events = await outboxEvents(world.db);
  assert.equal(events.length, total, 'one event per payment');
  assert.deepEqual(new Set(events.map((e) => e.subject)), paymentIds);
}

for (const dialect of dialects()) {
  describe(`crash recovery (${dialect})`, () => {
    test('kill -9 after the gateway charged: the reconciler settles it, one charge, one event', (t) =>
      killAtFaultPoint(t, dialect, 'after_charge'));
    test('kill -9 before the gateway charged: the reconciler re-sends with the same key', (t) =>
      killAtFaultPoint(t, dialect, 'before_charge'));
    test('kill -9 of the sandbox gateway under load: one charge and one event per payment', (t) =>
      killGatewayUnderLoad(t, dialect));
    test('kill -9 at a random moment under load: retries converge, nothing doubled or lost', (t) =>
      killUnderLoad(t, dialect));
  });
}
