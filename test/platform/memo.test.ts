import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memo } from '../../src/platform/memo.ts';

test('memo builds once per key, and keeps at most max keys (the oldest goes)', () => {
  const built: string[] = [];
  const get = memo((key) => {
    built.push(key);
    return { key };
  }, 2);
  const a = get('a');
  assert.equal(get('a'), a, 'the same object for the same key');
  get('b');
  assert.deepEqual(built, ['a', 'b']);
  get('c'); // evicts a
  assert.equal(get('b').key, 'b');
  assert.notEqual(get('a'), a, 'a was evicted and is built anew');
  assert.deepEqual(built, ['a', 'b', 'c', 'a']);
});
