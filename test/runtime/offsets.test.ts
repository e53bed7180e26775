import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffsetTracker } from '../../src/runtime/offsets.ts';

const at = (offset: number, partition = 0) => ({ topic: 't', partition, offset: BigInt(offset) });

test('the commit point never passes an unfinished record', () => {
  const t = new OffsetTracker();
  for (const o of [10, 11, 12, 13]) t.received(at(o));
  t.done(at(12));
  t.done(at(13));
  assert.deepEqual(t.due(), []);
  t.done(at(10));
  assert.deepEqual(t.due(), [at(10)]);
  t.done(at(11));
  assert.deepEqual(t.due(), [at(13)]);
  t.committed(at(13));
  assert.deepEqual(t.due(), []);
});

test('commitPointIfDone: only the oldest unfinished record moves the point, over finished ones behind it', () => {
  const t = new OffsetTracker();
  for (const o of [0, 1, 2, 3]) t.received(at(o));
  t.done(at(2));
  assert.equal(t.commitPointIfDone(at(1)), undefined);
  assert.deepEqual(t.commitPointIfDone(at(0)), at(0));
  t.done(at(0));
  t.committed(at(0));
  assert.deepEqual(t.commitPointIfDone(at(1)), at(2));
});

test('partitions are independent, and a revoked one is forgotten', () => {
  const t = new OffsetTracker();
  t.received(at(5, 0));
  t.received(at(9, 1));
  t.done(at(9, 1));
  assert.deepEqual(t.due(), [at(9, 1)]);
  t.revoke([{ topic: 't', partition: 1 }]);
  assert.deepEqual(t.due(), []);
});

test('records handed out again from the last commit start the partition over', () => {
  const t = new OffsetTracker();
  for (const o of [20, 21, 22]) t.received(at(o));
  t.done(at(20));
  t.committed(at(20));
  // The transport restarted its stream: 21 and 22 come again.
  t.received(at(21));
  t.received(at(22));
  assert.deepEqual(t.due(), []);
  t.done(at(22));
  assert.deepEqual(t.due(), []);
  t.done(at(21));
  assert.deepEqual(t.due(), [at(22)]);
});
