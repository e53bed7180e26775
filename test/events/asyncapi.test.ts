import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Parser } from '@asyncapi/parser';
import { asyncApiDocument } from '../../src/events/asyncapi.ts';
import { eventCatalogue } from '../../src/events/catalogue.ts';

const file = path.resolve(import.meta.dirname, '../../docs/asyncapi.json');

test('docs/asyncapi.json is the catalogue as generated now (run npm run docs:asyncapi)', () => {
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), asyncApiDocument());
});

test('the AsyncAPI 3.0 document parses with @asyncapi/parser without errors, every event type in it', async () => {
  const { document, diagnostics } = await new Parser().parse(readFileSync(file, 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  assert.deepEqual(
    errors.map((d) => `${d.code} ${d.path.join('.')}: ${d.message}`),
    [],
  );
  assert.ok(document, 'a parsed document');
  assert.equal(document.version(), '3.0.0');
  const names = document
    .allMessages()
    .all()
    .map((m) => m.name());
  for (const type of Object.keys(eventCatalogue))
    assert.ok(names.includes(type), `${type} is in the document`);
});
