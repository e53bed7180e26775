import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startPaystream } from '../../src/app/paystream.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createTestDatabase, dialects } from '../support/dialects.ts';

/**
 * Records when `target[method]` starts and finishes, then runs it. The composition root's closers
 * call these methods by name at close time, so the spy sees every close the root makes.
 */
function spy(log: { started: string[]; finished: string[] }, name: string, target: object, method: string) {
  const methods = target as Record<string, (...args: unknown[]) => unknown>;
  const original = methods[method]!.bind(target);
  methods[method] = async (...args: unknown[]) => {
    log.started.push(name);
    try {
      return await original(...args);
    } finally {
      log.finished.push(name);
    }
  };
}

for (const dialect of dialects()) {
  test(`close() of a started paystream closes each part once, last opened first, however often called (${dialect})`, async () => {
    const db = await createTestDatabase(dialect);
    try {
      const app = await startPaystream(
        loadConfig({
          PAYSTREAM_DATA_DIR: db.dataDir,
          ...(db.databaseUrl ? { PAYSTREAM_DATABASE_URL: db.databaseUrl } : {}),
          PAYSTREAM_PORT: '0',
          PAYSTREAM_GATEWAY_PORT: '0',
          PAYSTREAM_LOG_LEVEL: 'silent',
        }),
        { createFirstKey: false },
      );
      const log = { started: [] as string[], finished: [] as string[] };
      spy(log, 'store', app.store, 'close');
      spy(log, 'gateway', app.gateway, 'close');
      spy(log, 'api', app.api, 'close');
      spy(log, 'reconciler', app.reconciler, 'stop');
      if (app.transport) spy(log, 'transport', app.transport, 'close');
      if (app.relay) spy(log, 'relay', app.relay, 'stop');
      // The reverse of the order startPaystream opens them in.
      const expected = [
        ...(app.relay ? ['relay'] : []),
        ...(app.transport ? ['transport'] : []),
        'reconciler',
        'api',
        'gateway',
        'store',
      ];

      // SIGTERM during a close that a failed start began, say: the second call waits for the first.
      const first = app.close();
      const second = app.close();
      await second;
      assert.deepEqual(log.finished, expected, 'the second close() resolved after every part was closed');
      await first;
      await app.close();
      assert.deepEqual(log.started, expected, 'each part closed once, in the same order');
    } finally {
      await db.drop();
    }
  });
}
