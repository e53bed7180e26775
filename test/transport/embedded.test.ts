import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { embeddedTestSettings, openEmbedded } from './engines.ts';
import { transportContract } from './transport-contract.ts';

transportContract('embedded log', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-log-'));
  const file = path.join(dir, 'paystream.sqlite');
  return {
    capabilities: { partitionsShared: false, offsetsInStore: true },
    partitions: 1,
    deadMemberMs: embeddedTestSettings.groupLeaseMs,
    open: () => openEmbedded(file),
    childEnv: () => ({ TRANSPORT_ENGINE: 'embedded', TRANSPORT_FILE: file }),
    // The log is the file: a restart of "the backend" is the restart of the process, which open() is.
    restartBackend: async () => undefined,
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
