import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/platform/config.ts';
import { receiptsService } from '../../../src/services/receipts/index.ts';
import { receiptsSettings } from '../../../src/services/receipts/settings.ts';

test('defaults: the local sink on 2525, receipts@paystream.local, en-US', () => {
  assert.deepEqual(receiptsSettings({}), {
    smtpUrl: undefined,
    sinkPort: 2525,
    from: 'receipts@paystream.local',
    locale: 'en-US',
  });
});

test('an SMTP server by URL, smtp:// or smtps://, and the other settings', () => {
  const settings = receiptsSettings({
    PAYSTREAM_SMTP_URL: 'smtps://user:secret@mail.example.com:465',
    PAYSTREAM_SMTP_SINK_PORT: '0',
    PAYSTREAM_RECEIPTS_FROM: 'billing@shop.example',
    PAYSTREAM_RECEIPTS_LOCALE: 'de-de',
  });
  assert.equal(settings.smtpUrl, 'smtps://user:secret@mail.example.com:465');
  assert.equal(settings.sinkPort, 0);
  assert.equal(settings.from, 'billing@shop.example');
  assert.equal(settings.locale, 'de-DE');
  assert.equal(
    receiptsSettings({ PAYSTREAM_SMTP_URL: 'smtp://127.0.0.1:2525' }).smtpUrl,
    'smtp://127.0.0.1:2525',
  );
});

test('a bad value stops the start with a message naming the variable', () => {
  for (const [name, value] of [
    ['PAYSTREAM_SMTP_URL', 'http://mail.example.com'],
    ['PAYSTREAM_SMTP_URL', 'not a url'],
    ['PAYSTREAM_SMTP_SINK_PORT', '70000'],
    ['PAYSTREAM_SMTP_SINK_PORT', '-1'],
    ['PAYSTREAM_SMTP_SINK_PORT', 'smtp'],
    ['PAYSTREAM_RECEIPTS_FROM', 'receipts'],
    ['PAYSTREAM_RECEIPTS_LOCALE', 'not_a_locale!'],
  ] as const) {
    assert.throws(
      () => receiptsSettings({ [name]: value }),
      (error: Error) => error instanceof ConfigError && error.message.startsWith(name),
      `${name}=${value}`,
    );
  }
});

test("loadConfig accepts the service's variables once declared, and refuses them otherwise", () => {
  const env = { PAYSTREAM_SMTP_URL: 'smtp://127.0.0.1:25', PAYSTREAM_SMTP_SINK_PORT: '2526' };
  assert.throws(() => loadConfig(env), /PAYSTREAM_SMTP_URL is not a paystream setting/);
  loadConfig(env, receiptsService.variables);
  assert.deepEqual(
    receiptsService.variables!.map((v) => v.name),
    [
      'PAYSTREAM_SMTP_URL',
      'PAYSTREAM_SMTP_SINK_PORT',
      'PAYSTREAM_RECEIPTS_FROM',
      'PAYSTREAM_RECEIPTS_LOCALE',
    ],
  );
});
