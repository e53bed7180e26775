import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unescapeKeys } from '../../src/http/json-body.ts';

/** Encodes like Python's json.dumps (every non-ASCII character escaped) and PHP's (`/` escaped). */
function escapeEverything(value: unknown): string {
  return JSON.stringify(value)
    .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Keys hold only what an accepted key may hold; values hold anything.
const keyChars = ['a', 'é', '/', '😀', '\u2028', ' ', 'ß', ':', '{'];
const valueChars = [...keyChars, '"', '\\', '\n', '\u0001', '\ud800'];

test('unescapeKeys changes how keys are written, never what a body means', () => {
  const next = seeded(7);
  const text = (chars: string[], length: number) =>
    Array.from({ length }, () => chars[Math.floor(next() * chars.length)]).join('');
  const object = (depth: number): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (let k = Math.floor(next() * 4); k > 0; k -= 1) {
      const key = text(keyChars, 1 + Math.floor(next() * 3));
      o[key] = depth > 0 && next() < 0.3 ? object(depth - 1) : text(valueChars, Math.floor(next() * 4));
    }
    return o;
  };
  for (let i = 0; i < 2000; i += 1) {
    const value = { a: 1, ...object(2), list: [object(1)] };
    for (const encoded of [JSON.stringify(value), escapeEverything(value)]) {
      assert.deepEqual(JSON.parse(unescapeKeys(encoded)), value, encoded);
      // A broken body stays broken: the rewrite never turns invalid JSON into valid.
      const cut = encoded.slice(0, Math.floor(next() * encoded.length));
      let valid = true;
      try {
        JSON.parse(cut);
      } catch {
        valid = false;
      }
      assert.equal(
        (() => {
          try {
            JSON.parse(unescapeKeys(cut));
            return true;
          } catch {
            return false;
          }
        })(),
        valid,
        cut,
      );
    }
  }
});

test('a key that must stay escaped is left as written', () => {
  for (const text of ['{"\\n":1}', '{"a\\"b":1}', '{"\\\\":1}', '{"\\ud800":1}', '{"\\u0000":1}']) {
    assert.equal(unescapeKeys(text), text);
  }
  assert.equal(unescapeKeys('{"\\u00e9":"\\u00e9","x\\/":"\\/"}'), '{"é":"\\u00e9","x/":"\\/"}');
});
