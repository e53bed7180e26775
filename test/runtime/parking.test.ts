import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Parking } from '../../src/runtime/parking.ts';

test('the first item of a key starts its queue; later ones wait behind it, in order; other keys start their own', () => {
  const parking = new Parking<string>();
  const a = parking.enter('cus_a', 'a1');
  assert.deepEqual(a, ['a1']);
  assert.equal(parking.enter('cus_a', 'a2'), undefined);
  assert.equal(parking.enter('cus_a', 'a3'), undefined);
  assert.deepEqual(parking.enter('cus_b', 'b1'), ['b1']);
  assert.deepEqual(a, ['a1', 'a2', 'a3']);
  assert.equal(parking.keys, 2);
});

test('after leave, the next item of the key starts a new queue', () => {
  const parking = new Parking<string>();
  const q = parking.enter('k', 'x')!;
  q.shift();
  parking.leave('k');
  assert.deepEqual(parking.enter('k', 'y'), ['y']);
});

test('dropWaiting takes out selected waiting items, never a head in progress', () => {
  const parking = new Parking<{ p: number; n: number }>();
  const q = parking.enter('k', { p: 1, n: 1 })!;
  parking.enter('k', { p: 2, n: 2 });
  parking.enter('k', { p: 1, n: 3 });
  parking.enter('k', { p: 1, n: 4 });
  const dropped = parking.dropWaiting((item) => item.p === 1);
  assert.deepEqual(dropped.map((d) => d.n).sort(), [3, 4]);
  assert.deepEqual(
    q.map((i) => i.n),
    [1, 2],
  );
});
