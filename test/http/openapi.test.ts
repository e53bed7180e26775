import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Spectral } from '@stoplight/spectral-core';
import { oas } from '@stoplight/spectral-rulesets';
import { startTestApp, type TestApp } from '../support/app.ts';

/** The served OpenAPI document, checked by tools that are not ours. */
describe('the OpenAPI document at /docs/json', () => {
  let t: TestApp;
  let doc: Record<string, unknown>;
  before(async () => {
    t = await startTestApp('sqlite');
    const res = await t.app.api.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(res.statusCode, 200);
    doc = res.json();
  });
  after(() => t.close());

  test('is OpenAPI 3.1 that swagger-parser validates', async () => {
    assert.equal(doc['openapi'], '3.1.0');
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  test('names the shared error schema: components.schemas.Error, referenced by every error answer', () => {
    const components = doc['components'] as { schemas: Record<string, { title?: string }> };
    assert.deepEqual(Object.keys(components.schemas), ['Error']);
    const paths = doc['paths'] as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    const created = paths['/v1/payments']!['post']!.responses['400'] as {
      content: { 'application/json': { schema: unknown } };
    };
    assert.deepEqual(created.content['application/json'].schema, { $ref: '#/components/schemas/Error' });
  });

  test("has no error (nor warning) under Spectral's spectral:oas ruleset", async () => {
    const spectral = new Spectral();
    spectral.setRuleset({ extends: [[oas as never, 'recommended']] } as never);
    const results = await spectral.run(JSON.stringify(doc));
    const problems = results.map((r) => `${r.severity} ${r.code} ${r.path.join('.')}: ${r.message}`);
    assert.deepEqual(
      results.filter((r) => r.severity === 0).map((r) => r.code),
      [],
      problems.join('\n'),
    );
    assert.deepEqual(problems, [], 'warnings too');
  });
});
