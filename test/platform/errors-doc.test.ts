import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCatalogue } from '../../src/platform/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map(
  [...doc.matchAll(/^\|\s*`(PAYSTREAM_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [m[1]!, Number(m[2])]),
);

test('every error code is documented in docs/errors.md with its status', () => {
  for (const [code, { status }] of Object.entries(errorCatalogue)) {
    assert.equal(documented.get(code), status, `${code} (${status}) is missing or wrong in docs/errors.md`);
  }
});

test('docs/errors.md documents no code the API does not have', () => {
  for (const code of documented.keys())
    assert.ok(code in errorCatalogue, `${code} is documented but not in the catalogue`);
});

test('every code is a 4xx except the two server-side ones', () => {
  for (const [code, { status }] of Object.entries(errorCatalogue)) {
    if (code === 'PAYSTREAM_INTERNAL' || code === 'PAYSTREAM_NOT_READY') assert.ok(status >= 500);
    else assert.ok(status >= 400 && status < 500, code);
  }
});
