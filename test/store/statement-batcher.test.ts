import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StatementBatcher } from '../../src/store/postgres/statement-batcher.ts';

class Refused extends Error {}

/** A batcher over fake statements that records what ran; each statement waits for `release`. */
function rig(options: { batchMax?: number; maxInFlight?: number; failMany?: unknown } = {}) {
  const ran: string[][] = [];
  const gates: Array<() => void> = [];
  const wait = () => new Promise<void>((r) => gates.push(r));
  const batcher = new StatementBatcher<{ key: string; value: number }, number>({
    batchMax: options.batchMax ?? 10,
    maxInFlight: options.maxInFlight ?? 1,
    keyOf: (item) => item.key,
    retryAlone: (error) => error instanceof Refused,
    async runOne(item) {
      ran.push([item.key]);
      await wait();
      if (item.value < 0) throw new Refused(`bad ${item.key}`);
      return item.value * 10;
    },
    async runMany(items) {
      ran.push(items.map((i) => i.key));
      await wait();
      if (options.failMany) throw options.failMany;
      if (items.some((i) => i.value < 0)) throw new Refused('a bad row');
      return items.map((i) => i.value * 10);
    },
  });
  /** Lets every statement started so far finish, and waits for what they start next. */
  const releaseAll = async () => {
    while (gates.length > 0) {
      for (const open of gates.splice(0)) open();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { batcher, ran, releaseAll, stats: () => batcher.stats };
}

test('an item that finds a free slot runs alone at once; those that wait share one statement', async () => {
  const { batcher, ran, releaseAll, stats } = rig();
  const first = batcher.run({ key: 'a', value: 1 });
  const rest = [2, 3, 4].map((value) => batcher.run({ key: `k${value}`, value }));
  assert.deepEqual(ran, [['a']], 'the first went at once, alone');
  await releaseAll();
  assert.deepEqual(await first, 10);
  assert.deepEqual(await Promise.all(rest), [20, 30, 40], 'each gets its own result, in order');
  assert.deepEqual(ran, [['a'], ['k2', 'k3', 'k4']]);
  assert.deepEqual(stats(), { statements: 2, items: 4 });
});

test('two items with one key never share a statement; the later one keeps its place', async () => {
  const { batcher, ran, releaseAll } = rig();
  const results = [
    batcher.run({ key: 'busy', value: 0 }),
    batcher.run({ key: 'x', value: 1 }),
    batcher.run({ key: 'x', value: 2 }),
    batcher.run({ key: 'y', value: 3 }),
  ];
  await releaseAll();
  assert.deepEqual(await Promise.all(results), [0, 10, 20, 30]);
  assert.deepEqual(ran, [['busy'], ['x', 'y'], ['x']]);
});

test('no statement holds more than batchMax items, and no more than maxInFlight run at once', async () => {
  const { batcher, ran, releaseAll } = rig({ batchMax: 3, maxInFlight: 2 });
  const results = Array.from({ length: 9 }, (_, i) => batcher.run({ key: `k${i}`, value: i }));
  assert.equal(ran.length, 2, 'two slots: two statements started');
  await releaseAll();
  assert.deepEqual(
    await Promise.all(results),
    Array.from({ length: 9 }, (_, i) => i * 10),
  );
  for (const statement of ran) assert.ok(statement.length <= 3);
  assert.deepEqual(ran.flat().sort(), Array.from({ length: 9 }, (_, i) => `k${i}`).sort());
});

test('a statement the server refused runs again item by item: one bad row fails alone', async () => {
  const { batcher, ran, releaseAll } = rig();
  const busy = batcher.run({ key: 'busy', value: 0 });
  const good = batcher.run({ key: 'good', value: 1 });
  const bad = batcher.run({ key: 'bad', value: -1 });
  const alsoGood = batcher.run({ key: 'also', value: 2 });
  bad.catch(() => undefined);
  await releaseAll();
  await busy;
  assert.equal(await good, 10);
  await assert.rejects(bad, /bad bad/);
  assert.equal(await alsoGood, 20);
  assert.deepEqual(ran, [['busy'], ['good', 'bad', 'also'], ['good'], ['bad'], ['also']]);
});

test('any other failure (the statement may have committed) is every item’s failure, never retried', async () => {
  const lost = new Error('connection lost');
  const { batcher, ran, releaseAll } = rig({ failMany: lost });
  const busy = batcher.run({ key: 'busy', value: 0 });
  const items = [1, 2].map((value) => batcher.run({ key: `k${value}`, value }));
  for (const item of items) item.catch(() => undefined);
  await releaseAll();
  await busy;
  for (const item of items) await assert.rejects(item, (e) => e === lost);
  assert.deepEqual(ran, [['busy'], ['k1', 'k2']], 'not run a second time');
});
