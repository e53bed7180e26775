/**
 * What the randomized no-5xx test sends: mostly valid requests carrying odd but legal text (so the
 * store really sees it, on both dialects), mixed with every kind of invalid input. All of it comes
 * from one seeded generator, so a failure names its seed and request number and replays exactly.
 */

/** A small seeded generator (mulberry32). */
export function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const int = (below: number) => Math.floor(next() * below);
  const chance = (p: number) => next() < p;
  return { next, pick, int, chance };
}
export type Random = ReturnType<typeof random>;

/** Text a database or a client may choke on: NUL, lone surrogates, RTL marks, emoji, combining marks, U+FFFF. */
export const oddStrings: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff lone',
  '\ud83d',
  '\u202eRTL\u202c',
  '\u200f\u200e',
  '👍🏽',
  '\ud83d\ude00 e\u0301',
  'e\u0301\u0327\u0308',
  '\uffff\ufffe',
  'é'.repeat(300),
  'x'.repeat(2000),
  "'; DROP TABLE payments; --",
  '%00',
  '\\',
  '"\n\t',
  'order/',
  'usd',
  'pm_card_visa',
];

/**
 * Numbers as JSON text: JSON.stringify cannot write -0, 1e400 or an integer JavaScript does not
 * hold exactly, so these are spliced into the body after it is serialized.
 */
const rawNumbers: readonly string[] = [
  '-0',
  '99999999999999999',
  '9223372036854775808',
  '1e20',
  '1e308',
  '1e400',
  '-1e400',
  '1E2',
  '0.0000001',
  '-1',
  '0',
  '1.5',
];
const rawMarker = '\u0001raw:';

const oddOthers: readonly unknown[] = [null, true, [], [1, 2], {}, { nested: { deep: [1] } }];

export function oddValue(r: Random): unknown {
  const roll = r.next();
  if (roll < 0.5) return r.pick(oddStrings);
  if (roll < 0.8) return rawMarker + r.pick(rawNumbers);
  return r.pick(oddOthers);
}

/** Metadata with odd keys and values: most of it legal (and stored), some of it not. */
export function metadata(r: Random): unknown {
  if (r.chance(0.05)) return oddValue(r);
  const m: Record<string, unknown> = {};
  for (let k = r.int(4); k > 0; k -= 1) {
    const key = r.chance(0.6) ? `k${r.int(100)}` : r.pick(oddStrings);
    m[key] = r.chance(0.9) ? r.pick(oddStrings) : oddValue(r);
  }
  return m;
}

const paymentMethods = ['pm_card_visa', 'pm_card_mastercard', 'pm_card_amex', 'pm_card_chargeDeclined'];

export function paymentBody(r: Random): Record<string, unknown> {
  const body: Record<string, unknown> = {
    customer_id: `cus_fuzz_${r.int(20)}`,
    amount: 1 + r.int(100_000),
    currency: r.pick(['usd', 'USD', 'jpy', 'kwd', 'eur']),
    payment_method: r.chance(0.01) ? 'pm_card_paystream_networkError' : r.pick(paymentMethods),
  };
  if (r.chance(0.5)) body['description'] = r.chance(0.95) ? r.pick(oddStrings) : oddValue(r);
  if (r.chance(0.4)) body['metadata'] = metadata(r);
  mutate(r, body, ['customer_id', 'amount', 'currency', 'payment_method', 'description', 'metadata']);
  return body;
}

export function refundBody(r: Random): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (r.chance(0.5)) body['amount'] = 1 + r.int(200);
  if (r.chance(0.3)) body['reason'] = r.pick(['duplicate', 'fraudulent', 'requested_by_customer', null]);
  if (r.chance(0.4)) body['metadata'] = metadata(r);
  mutate(r, body, ['amount', 'reason', 'metadata']);
  return body;
}

/** Now and then an odd value in a known field, an unknown field, or a missing one. */
function mutate(r: Random, body: Record<string, unknown>, fields: readonly string[]): void {
  if (r.chance(0.25)) {
    for (let k = 1 + r.int(2); k > 0; k -= 1) body[r.pick([...fields, 'zzz'])] = oddValue(r);
  }
  if (r.chance(0.04)) delete body[r.pick(fields)];
}

/** The body as bytes, sometimes broken: truncated, deeply nested, not UTF-8, not an object. */
export function payload(r: Random, body: Record<string, unknown>): string | Buffer {
  const text = JSON.stringify(body).replace(/"\\u0001raw:([^"]+)"/g, '$1');
  const roll = r.next();
  if (roll < 0.04) return text.slice(0, r.int(text.length));
  if (roll < 0.07) {
    const depth = 1_000 + r.int(10_000);
    return r.chance(0.5)
      ? '['.repeat(2 * depth) + ']'.repeat(2 * depth)
      : `{"metadata":${'{"a":'.repeat(depth)}"x"${'}'.repeat(depth)}}`;
  }
  if (roll < 0.09) {
    const notUtf8 = Buffer.from(',"description":"\xff\xfe\xed\xa0\x80"}', 'latin1');
    return Buffer.concat([Buffer.from(text.slice(0, -1)), notUtf8]);
  }
  if (roll < 0.11) return r.pick(['"a string"', 'null', '[]', '1', '{}', '{"a":1,"a":2}', ' ']);
  return text;
}

/** Values for query and path parameters, already percent-encoded. */
export const oddParams: readonly string[] = [
  '%00',
  'x%00y',
  '%ff',
  '%ed%a0%80',
  '%e2%80%ae',
  '%E2%80%8F',
  '%F0%9F%91%8D',
  'e%CC%81',
  '%EF%BF%BF',
  '1e20',
  '1e308',
  '99999999999999999',
  '9223372036854775808',
  '-0',
  '-1',
  '0',
  '1.5',
  '253402300799',
  '253402300800',
  '%20',
  '',
  `pay_${'0'.repeat(26)}`,
  `re_${'Z'.repeat(26)}`,
  'a'.repeat(300),
  '%27%3B--',
  '..%2F..%2Fetc',
  'true',
  '%5B%5D',
];

const queryNames = [
  'type',
  'customer_id',
  'status',
  'created[gte]',
  'created%5Blte%5D',
  'created[gt]',
  'created[lt]',
  'limit',
  'starting_after',
  'zzz',
];

/** Legal values for each query parameter, so that many list requests reach the store. */
function goodParam(r: Random, name: string, ids: readonly string[]): string {
  if (name.startsWith('created')) return String(r.chance(0.5) ? r.int(2_000_000_000) : 253_402_300_799);
  if (name === 'limit') return String(1 + r.int(100));
  if (name === 'status') return r.pick(['processing', 'succeeded', 'failed']);
  if (name === 'starting_after' && ids.length > 0) return r.pick(ids);
  if (name === 'type') return r.pick(['payment.succeeded', 'refund.*', 'payment.%2A', 'a_b.*']);
  return `cus_fuzz_${r.int(20)}`;
}

/** One to four query parameters, each with a legal or an odd value. */
export function query(r: Random, ids: readonly string[]): string {
  return Array.from({ length: 1 + r.int(4) }, () => {
    const name = r.pick(queryNames);
    return `${name}=${r.chance(0.5) ? goodParam(r, name, ids) : r.pick(oddParams)}`;
  }).join('&');
}
