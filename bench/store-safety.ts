/**
 * What the SQLite store's safety (a deadline and a revocable handle per transaction callback, a
 * separate reader connection, asynchronous lock waits, exact 64-bit reads) costs the group commit,
 * measured against the store before it, in one run on the same machine. Writes
 * bench/results/store-safety-<date>.md and .json.
 *
 *   git worktree add /tmp/paystream-baseline <commit before the change>   # e.g. 48d958e
 *   node bench/store-safety.ts --baseline /tmp/paystream-baseline [--candidate .] [--rounds 3]
 *                              [--seconds 6] [--workers 32] [--out bench/results]
 *
 * Each round runs the baseline's SqliteStore and the candidate's, one after the other, each on a
 * fresh file with the same tables (made here, so the comparison is of the stores alone), with the
 * same workload: `workers` concurrent loops of one payment's two transactions
 * (claim: insert the key record and the payment; settle: update the payment, insert its outbox
 * row, complete the key record), the statements of the payment path, written here once and run
 * through each tree's own store. The order alternates between rounds so drift favours neither.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';

const { values: opts } = parseArgs({
  options: {
    baseline: { type: 'string' },
    candidate: { type: 'string', default: '.' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '6' },
    workers: { type: 'string', default: '32' },
    out: { type: 'string', default: path.join(import.meta.dirname, 'results') },
  },
});
if (!opts.baseline) throw new Error('--baseline DIR (a checkout of paystream before the change) is required');
const rounds = Number(opts.rounds);
const seconds = Number(opts.seconds);
const workers = Number(opts.workers);

// biome-ignore lint/suspicious/noExplicitAny: two versions of the store, typed by neither
type AnyStore = any;

/**
 * The tables of the payment path, made here rather than by each tree's migrations, so that both
 * stores write to the same schema and the comparison is of the stores alone (the candidate's
 * migrations add columns and an index, a cost of their own).
 */
const schema = [
  `CREATE TABLE idempotency_records (api_key_id text NOT NULL, key text NOT NULL, fingerprint text NOT NULL,
     state text NOT NULL, resource_id text, response_status integer, response_body text,
     created_at bigint NOT NULL, completed_at bigint, PRIMARY KEY (api_key_id, key))`,
  'CREATE INDEX idempotency_records_resource ON idempotency_records (resource_id)',
  `CREATE TABLE payments (id text PRIMARY KEY, merchant_id text NOT NULL, livemode integer NOT NULL,
     customer_id text NOT NULL, amount bigint NOT NULL, currency text NOT NULL, payment_method text NOT NULL,
     description text, metadata text NOT NULL, status text NOT NULL, gateway_charge_id text,
     created_at bigint NOT NULL, updated_at bigint NOT NULL)`,
  `CREATE TABLE outbox (position integer PRIMARY KEY AUTOINCREMENT, event_id text NOT NULL UNIQUE,
     type text NOT NULL, partition_key text NOT NULL, envelope text NOT NULL, created_at bigint NOT NULL)`,
];

async function openStoreOf(root: string, file: string): Promise<AnyStore> {
  const { SqliteStore } = await import(path.resolve(root, 'src/store/sqlite/sqlite-store.ts'));
  const store = new SqliteStore(file, {});
  await store.transaction(async (trx: AnyStore) => {
    for (const ddl of schema) await sql.raw(ddl).execute(trx);
  });
  return store;
}

async function measure(root: string): Promise<{ paymentsPerSecond: number; payments: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-store-safety-'));
  const store = await openStoreOf(root, path.join(dir, 'paystream.sqlite'));
  let n = 0;
  let done = 0;
  const endAt = performance.now() + seconds * 1000;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < endAt) {
        const i = n++;
        const id = `pay_${String(i).padStart(26, '0')}`;
        const now = Date.now();
        await store.transaction(async (trx: AnyStore) => {
          await trx
            .insertInto('idempotency_records')
            .values({
              api_key_id: 'key_bench',
              key: `k${i}`,
              fingerprint: 'f',
              state: 'in_flight',
              resource_id: id,
              created_at: now,
            })
            .execute();
          await trx
            .insertInto('payments')
            .values({
              id,
              merchant_id: 'acct_bench',
              livemode: 0,
              customer_id: `cus_${i % 50}`,
              amount: 1000,
              currency: 'usd',
              payment_method: 'pm_card_visa',
              description: null,
              metadata: '{}',
              status: 'processing',
              created_at: now,
              updated_at: now,
            })
            .execute();
        });
        await store.transaction(async (trx: AnyStore) => {
          await trx
            .updateTable('payments')
            .set({ status: 'succeeded', gateway_charge_id: 'ch_bench', updated_at: now + 1 })
            .where('id', '=', id)
            .where('status', '=', 'processing')
            .execute();
          await trx
            .insertInto('outbox')
            .values({
              event_id: `evt_${i}`,
              type: 'payment.succeeded',
              partition_key: 'k',
              envelope: '{}',
              created_at: now,
            })
            .execute();
          await trx
            .updateTable('idempotency_records')
            .set({ state: 'completed', response_status: 200, response_body: '{}', completed_at: now })
            .where('resource_id', '=', id)
            .execute();
        });
        done += 1;
      }
    }),
  );
  const elapsedS = (performance.now() - startedAt) / 1000;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { paymentsPerSecond: done / elapsedS, payments: done };
}

const trees = { baseline: path.resolve(opts.baseline), candidate: path.resolve(opts.candidate) };
const samples: Record<'baseline' | 'candidate', number[]> = { baseline: [], candidate: [] };
for (let round = 0; round < rounds; round += 1) {
  const order = round % 2 === 0 ? (['baseline', 'candidate'] as const) : (['candidate', 'baseline'] as const);
  for (const which of order) {
    const result = await measure(trees[which]);
    samples[which].push(result.paymentsPerSecond);
    process.stderr.write(`round ${round + 1} ${which}: ${Math.round(result.paymentsPerSecond)} payments/s\n`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ratio = median(samples.candidate) / median(samples.baseline);
const date = new Date().toISOString().slice(0, 10);
const report = {
  date,
  command: `node bench/store-safety.ts ${process.argv.slice(2).join(' ')}`,
  settings: { rounds, seconds, workers, trees },
  samples,
  medians: { baseline: median(samples.baseline), candidate: median(samples.candidate) },
  ratio,
  target: 'candidate >= 90% of baseline (the safety costs at most 10% of embedded payments/s)',
  pass: ratio >= 0.9,
};
mkdirSync(opts.out, { recursive: true });
const base = path.join(opts.out, `store-safety-${date}`);
writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
writeFileSync(
  `${base}.md`,
  [
    `# SQLite store safety: cost to the group commit (${date})`,
    '',
    `Command: \`${report.command}\``,
    '',
    `Workload: ${workers} concurrent loops of one payment's two transactions (claim, settle), ${seconds} s per`,
    `measurement, ${rounds} rounds alternating the order; each measurement on a fresh SQLite file`,
    '(WAL, synchronous=FULL: an fsync per group commit). Same process, same machine, same run.',
    '',
    '| store | payments/s per round | median |',
    '| --- | --- | --- |',
    `| baseline (${trees.baseline}) | ${samples.baseline.map(fmt).join(', ')} | ${fmt(report.medians.baseline)} |`,
    `| candidate (${trees.candidate}) | ${samples.candidate.map(fmt).join(', ')} | ${fmt(report.medians.candidate)} |`,
    '',
    `Candidate / baseline: **${(ratio * 100).toFixed(1)}%** (target >= 90%): **${report.pass ? 'PASS' : 'FAIL'}**.`,
    '',
  ].join('\n'),
);
process.stderr.write(`candidate/baseline ${(ratio * 100).toFixed(1)}%; wrote ${base}.md\n`);
