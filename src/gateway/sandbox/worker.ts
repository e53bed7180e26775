import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type SandboxGatewayOptions, startSandboxGateway } from './server.ts';

/**
 * The sandbox gateway on its own thread. `paystream start` runs it in-process for the zero-server
 * embedded mode, but a gateway is another company's server: it must not share the API's event loop
 * (its fsyncs and HTTP parsing would be counted as the API's latency). A worker thread gives it its
 * own loop, on the other core, and still dies with the process.
 */
export interface SandboxGatewayThread {
  url: string;
  close(): Promise<void>;
}

type FromWorker =
  | { kind: 'listening'; url: string }
  | { kind: 'failed'; message: string }
  | { kind: 'closed' };

export function startSandboxGatewayThread(
  options: Omit<SandboxGatewayOptions, 'logger'>,
): Promise<SandboxGatewayThread> {
  const worker = new Worker(new URL(import.meta.url), { workerData: options });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`sandbox gateway thread exited with code ${code}`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (message: FromWorker) => {
      if (message.kind === 'failed') {
        reject(new Error(`sandbox gateway failed to start: ${message.message}`));
        return;
      }
      if (message.kind !== 'listening') return;
      worker.off('exit', onExit);
      resolve({
        url: message.url,
        close: () =>
          new Promise<void>((done) => {
            worker.once('exit', () => done());
            worker.postMessage('close');
          }),
      });
    });
  });
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  startSandboxGateway(workerData as SandboxGatewayOptions).then(
    (gateway) => {
      port.postMessage({ kind: 'listening', url: gateway.url } satisfies FromWorker);
      port.on('message', async (message) => {
        if (message !== 'close') return;
        await gateway.close();
        port.close();
      });
    },
    (error: unknown) => {
      port.postMessage({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
      port.close();
    },
  );
}
