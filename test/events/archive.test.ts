import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidFloorOf } from '../../src/events/archive.ts';
import { IdGenerator } from '../../src/platform/ids.ts';

test('the retention purge walks the key: an id sorts between the floors of its millisecond and the next', () => {
  for (const at of [0, 1, 1_700_000_000_000, Date.now(), 2 ** 48 - 2]) {
    const ids = new IdGenerator({ now: () => at });
    for (let i = 0; i < 20; i += 1) {
      const id = ids.uuid();
      assert.ok(uuidFloorOf(at) <= id, `${uuidFloorOf(at)} <= ${id}`);
      assert.ok(id < uuidFloorOf(at + 1), `${id} < ${uuidFloorOf(at + 1)}`);
    }
  }
});
