import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/platform/clock.ts';
import { IdGenerator, timestampOfUuid } from '../../src/platform/ids.ts';

test('UUIDv7: version and variant bits, timestamp from the clock', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 24));
  const uuid = new IdGenerator(clock).uuid();
  assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(timestampOfUuid(uuid), clock.now());
});

test('ids made in the same millisecond, or after the clock steps back, still sort in creation order', () => {
  const clock = new ManualClock();
  const gen = new IdGenerator(clock);
  const made: string[] = [];
  for (let i = 0; i < 10_000; i += 1) {
    if (i === 5000) clock.advance(-10);
    if (i % 3000 === 0) clock.advance(1);
    made.push(gen.resource('pay'));
  }
  assert.deepEqual([...made].sort(), made);
  assert.equal(new Set(made).size, made.length);
  for (const id of made.slice(0, 3)) assert.match(id, /^pay_[0-9A-HJKMNP-TV-Z]{26}$/);
});
