import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Mode, messageIdOf, modeName, modes, ReceiptsWorld, until } from './support.ts';

/**
 * Issue 13, acceptance: replay. With receipts applied, `paystream replay receipts --from <T>`
 * (the real CLI, a process of its own) re-processes exactly the events since T: as a dry run it
 * reports them, with the emails it would have sent, and the SMTP server receives nothing; without
 * --bypass-inbox it applies nothing (the inbox has them all); with --bypass-inbox for real it sends
 * exactly those receipts again, with the same Message-IDs as before, and records nothing twice.
 */

interface Paid {
  i: number;
  id: string;
  status: string;
  email: string;
}

interface ReplayJson {
  consumer: string;
  dryRun: boolean;
  bypassInbox: boolean;
  read: number;
  applied: number;
  skippedInbox: number;
  skippedOther: number;
  deadLettered: number;
  suppressed: Record<string, number>;
}

async function payBatch(world: ReceiptsWorld, from: number, count: number, tag: string): Promise<Paid[]> {
  const paid: Paid[] = [];
  for (let i = from; i < from + count; i += 1) {
    const email = `${tag}${i}@example.com`;
    const answer = await world.pay({
      customer_id: `cus_replay_${i % 5}`,
      amount: 700 + i,
      currency: 'usd',
      payment_method: i % 4 === 3 ? 'pm_card_chargeDeclined' : 'pm_card_visa',
      receipt_email: email,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    paid.push({ i, id: answer.json.id, status: answer.json.status, email });
  }
  return paid;
}

/** Runs `paystream replay receipts ...` to its end; its --json report. */
async function replayCli(world: ReceiptsWorld, args: string[]): Promise<ReplayJson> {
  const proc = world.spawn('replay', ['replay', 'receipts', ...args, '--json']);
  const code = await proc.exited;
  world.procs.delete(proc);
  assert.equal(code, 0, `paystream replay ${args.join(' ')} failed:\n${proc.stderr()}`);
  return JSON.parse(proc.stdout()) as ReplayJson;
}

async function replayFromTime(t: TestContext, mode: Mode): Promise<void> {
  const world = await ReceiptsWorld.create(t, mode);
  await world.startWorker();
  const receiptsOf = (paid: Paid[]) => paid.filter((p) => p.status === 'succeeded').length;

  // Before T, and after T; both applied by the worker.
  const before = await payBatch(world, 0, 24, 'before');
  await until(
    'receipts of the first batch',
    async () => (await world.receiptCount()) === receiptsOf(before),
    60_000,
  );
  await sleep(1500);
  const from = new Date().toISOString();
  await sleep(1500);
  const since = await payBatch(world, 100, 16, 'since');
  const all = [...before, ...since];
  await until(
    'receipts of the second batch',
    async () => (await world.receiptCount()) === receiptsOf(all),
    60_000,
  );
  await sleep(500);
  const sinceSucceeded = since.filter((p) => p.status === 'succeeded');
  const sinceDeclined = since.filter((p) => p.status === 'failed');
  assert.ok(sinceDeclined.length > 0 && sinceSucceeded.length > 0);
  const receiptRows = await world.receipts();
  const messageIdByPayment = new Map(
    receiptRows.map((r) => [String(r['payment_id']), String(r['message_id'])]),
  );
  const sinceMessageIds = sinceSucceeded.map((p) => messageIdByPayment.get(p.id)!).sort();
  const delivered = world.smtp.messages.length;
  assert.equal(delivered, receiptsOf(all), 'one message per succeeded payment so far');

  // Dry run, inbox bypassed: the events since T, the emails it would send, none sent.
  const dry = await replayCli(world, ['--from', from, '--dry-run', '--bypass-inbox']);
  assert.equal(dry.dryRun, true);
  assert.equal(dry.bypassInbox, true);
  assert.equal(dry.read, since.length, 'read: exactly the events since T (succeeded and declined)');
  assert.equal(dry.applied, sinceSucceeded.length, 'would apply: the receipts events since T');
  assert.equal(dry.skippedOther, sinceDeclined.length, 'payment.failed is not the receipts consumer’s');
  assert.equal(dry.skippedInbox, 0);
  assert.equal(dry.deadLettered, 0);
  const wouldSend = Object.keys(dry.suppressed)
    .map((effect) => /<[^>]+@receipts\.paystream>/.exec(effect)?.[0])
    .sort();
  assert.deepEqual(wouldSend, sinceMessageIds, 'it would send exactly the receipts since T');
  for (const p of sinceSucceeded) {
    assert.ok(
      Object.keys(dry.suppressed).some((effect) => effect.includes(p.email)),
      `the dry run names ${p.email}`,
    );
  }
  await sleep(1000);
  assert.equal(world.smtp.messages.length, delivered, 'a dry run sends no email');

  // Without the bypass: the inbox has every one of them, nothing is sent.
  const plain = await replayCli(world, ['--from', from]);
  assert.equal(plain.read, since.length);
  assert.equal(plain.applied, 0);
  assert.equal(plain.skippedInbox, sinceSucceeded.length);
  assert.equal(world.smtp.messages.length, delivered, 'the inbox keeps a replay from resending');

  // For real, inbox bypassed: exactly the receipts since T go out again, the same messages.
  const real = await replayCli(world, ['--from', from, '--bypass-inbox']);
  assert.equal(real.dryRun, false);
  assert.equal(real.read, since.length);
  assert.equal(real.applied, sinceSucceeded.length);
  assert.equal(real.skippedOther, sinceDeclined.length);
  const resent = world.smtp.messages.slice(delivered);
  assert.deepEqual(resent.map((m) => m.messageId).sort(), sinceMessageIds, 'resent: exactly those since T');
  for (const m of resent) {
    assert.equal(m.messageId, messageIdOf(m.eventId ?? ''), 'same Message-ID as the first time');
    const first = world.smtp.messages.slice(0, delivered).filter((f) => f.messageId === m.messageId);
    assert.equal(first.length, 1, `${m.messageId} was sent once before`);
    assert.deepEqual(m.to, first[0]!.to, 'to the same address');
  }
  for (const p of before)
    assert.equal(world.smtp.messagesTo(p.email).length, p.status === 'succeeded' ? 1 : 0);
  for (const p of sinceDeclined) assert.deepEqual(world.smtp.messagesTo(p.email), []);
  const rowsAfter = await world.receipts();
  assert.equal(rowsAfter.length, receiptRows.length, 'the receipts table records nothing twice');
  assert.deepEqual(await world.deadLetters(), []);
  t.diagnostic(
    `${modeName(mode)}: ${before.length} payments before T, ${since.length} since (${sinceSucceeded.length} succeeded); ` +
      `dry run read ${dry.read}, would apply ${dry.applied}; plain replay skipped ${plain.skippedInbox}; ` +
      `bypass replay resent ${resent.length}`,
  );
}

for (const mode of modes()) {
  describe(`receipts: replay from a time (${modeName(mode)})`, () => {
    test(
      'paystream replay --from T: exactly the events since T; a dry run sends nothing; --bypass-inbox resends the same messages',
      { timeout: 300_000 },
      (t) => replayFromTime(t, mode),
    );
  });
}
