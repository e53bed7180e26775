import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';

test('defaults are the embedded mode under ./data', () => {
  const c = loadConfig({});
  assert.equal(c.mode, 'embedded');
  assert.equal(c.sqlitePath, path.resolve('data/paystream.sqlite'));
  assert.equal(c.port, 3000);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.gatewayUrl, undefined);
  assert.equal(c.idempotencyRetentionHours, 24);
});

test('a PostgreSQL URL switches to the distributed mode', () => {
  const c = loadConfig({ PAYSTREAM_DATABASE_URL: 'postgres://u@h:5432/db' });
  assert.equal(c.mode, 'distributed');
  assert.equal(c.databaseUrl, 'postgres://u@h:5432/db');
});

test('bad values stop the start with a message naming the variable', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PAYSTREAM_PORT: 'abc' }, /PAYSTREAM_PORT must be an integer/],
    [{ PAYSTREAM_PORT: '70000' }, /PAYSTREAM_PORT must be an integer between 0 and 65535/],
    [{ PAYSTREAM_DATABASE_URL: 'mysql://x' }, /PAYSTREAM_DATABASE_URL must start with postgres:/],
    [{ PAYSTREAM_DATABASE_URL: 'not a url' }, /PAYSTREAM_DATABASE_URL must be a URL/],
    [{ PAYSTREAM_IDEMPOTENCY_RETENTION_HOURS: '1' }, /PAYSTREAM_IDEMPOTENCY_RETENTION_HOURS .* between 24/],
    [{ PAYSTREAM_LOG_LEVEL: 'loud' }, /PAYSTREAM_LOG_LEVEL must be one of/],
    [
      { PAYSTREAM_GATEWAY_TIMEOUT_MS: '5000', PAYSTREAM_RECONCILE_AFTER_MS: '4000' },
      /RECONCILE_AFTER_MS .* longer/,
    ],
    [{ PAYSTREAM_PROT: '3000' }, /PAYSTREAM_PROT is not a paystream setting/],
  ];
  for (const [env, message] of cases)
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
    );
});
