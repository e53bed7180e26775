import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { FromThread } from '../../src/app/relay-thread.ts';

/**
 * A stand-in for the relay thread (test/app/relay-thread.test.ts). It reports a relay that
 * published 5 events in 1 batch, then does what `behaviour` in its data directory says:
 * `die-once` (the first thread throws an uncaught error soon after it started, as a crashing
 * relay would; the next lives), `hang` (ignores the request to stop), `stop` (stops when asked).
 */
const port = parentPort!;
const post = (message: FromThread) => port.postMessage(message);
const dir = (workerData as { config: { dataDir: string } }).config.dataDir;
const behaviour = readFileSync(path.join(dir, 'behaviour'), 'utf8').trim();
post({ kind: 'status', active: true, counts: { published: 5, batches: 1, failedRounds: 0 } });
post({ kind: 'started' });
const died = path.join(dir, 'died');
if (behaviour === 'die-once' && !existsSync(died)) {
  writeFileSync(died, '');
  setTimeout(() => {
    throw new Error('the stand-in relay crashed');
  }, 100);
}
const keepAlive = setInterval(() => undefined, 1000);
port.on('message', (message) => {
  if (message !== 'stop' || behaviour === 'hang') return;
  clearInterval(keepAlive);
  port.close();
});
