import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ManualClock } from '../../src/platform/clock.ts';
import { base32, IdGenerator, timestampOfUuid } from '../../src/platform/ids.ts';

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

/** The plain definition: the 128-bit number, five bits a character, 26 characters. */
function base32Reference(bytes: Buffer): string {
  let value = BigInt(`0x${bytes.toString('hex')}`);
  let out = '';
  for (let i = 0; i < 26; i += 1) {
    out = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

test('base32 is the 128-bit number in Crockford base32, for edge and random values', () => {
  const inputs = [
    Buffer.alloc(16),
    Buffer.alloc(16, 0xff),
    Buffer.from('80000000000000000000000000000001', 'hex'),
  ];
  for (let i = 0; i < 2000; i += 1) inputs.push(randomBytes(16));
  for (const bytes of inputs) assert.equal(base32(bytes), base32Reference(bytes), bytes.toString('hex'));
  assert.equal(base32(Buffer.alloc(16, 0xff)), '7ZZZZZZZZZZZZZZZZZZZZZZZZZ');
});

test('the random part of ids never repeats, across many refills of the random pool', () => {
  const gen = new IdGenerator(new ManualClock());
  // Same millisecond throughout: the 62 random bits of each id are all that tells them apart.
  const tails = new Set<string>();
  for (let i = 0; i < 4000; i += 1) tails.add(gen.bytes().subarray(8).toString('hex'));
  assert.equal(tails.size, 4000);
});
