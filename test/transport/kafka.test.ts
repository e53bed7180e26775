import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';
import { kafkaTestSettings, openKafka } from './engines.ts';
import { transportContract } from './transport-contract.ts';

const hasJava = spawnSync('java', ['-version']).status === 0;
if (!hasJava && process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] === '1') {
  throw new Error('PAYSTREAM_TEST_REQUIRE_KAFKA=1 but there is no java to run Kafka');
}

if (hasJava) {
  transportContract('Apache Kafka', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-kafka-contract-'));
    const { kafka } = await LocalKafka.start({ nodes: 1, dir });
    return {
      capabilities: { partitionsShared: true, offsetsInStore: false },
      partitions: 3,
      deadMemberMs: kafkaTestSettings.sessionTimeoutMs,
      open: () => openKafka(kafka.bootstrap),
      childEnv: () => ({ TRANSPORT_ENGINE: 'kafka', KAFKA_BROKERS: kafka.bootstrap }),
      restartBackend: async () => {
        await kafka.killNode(1, 'SIGTERM');
        await kafka.restartNode(1);
      },
      close: async () => {
        await kafka.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
