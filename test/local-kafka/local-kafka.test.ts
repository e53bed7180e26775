import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalKafka } from '../../src/local-kafka/cluster.ts';

const root = path.resolve(import.meta.dirname, '../..');
const hasJava = spawnSync('java', ['-version']).status === 0;
const skip =
  !hasJava && process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] !== '1'
    ? 'no java on PATH (CI requires it)'
    : false;

/** Kafka's own command-line tool, from the same jars: an independent client. */
function topics(kafka: LocalKafka, ...args: string[]): string {
  return execFileSync(
    'java',
    [
      '-cp',
      `${kafka.libs}/*`,
      'org.apache.kafka.tools.TopicCommand',
      '--bootstrap-server',
      kafka.bootstrap,
      ...args,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

function isAlive(pid: number | undefined): boolean {
  try {
    process.kill(pid!, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a local Kafka from Maven Central, without Docker', { skip }, () => {
  const dirs: string[] = [];
  const clusters: LocalKafka[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'paystream-kafka-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const kafka of clusters) await kafka.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('one node: starts, serves Kafka’s own tools, reports its status, stops with no JVM left', async () => {
    const dir = tempDir();
    const { kafka, alreadyRunning } = await LocalKafka.start({ nodes: 1, dir });
    clusters.push(kafka);
    assert.equal(alreadyRunning, false);
    assert.match(kafka.bootstrap, /^127\.0\.0\.1:\d+$/);
    topics(kafka, '--create', '--topic', 'local-test', '--partitions', '3', '--replication-factor', '1');
    assert.match(topics(kafka, '--describe', '--topic', 'local-test'), /PartitionCount: 3/);
    assert.deepEqual(
      kafka.status().map((n) => n.running),
      [true],
    );
    const again = await LocalKafka.start({ dir });
    assert.equal(again.alreadyRunning, true, 'a second start finds it running');
    const pid = kafka.nodes[0]!.pid;
    await kafka.stop();
    assert.equal(isAlive(pid), false, 'the JVM is gone');
    assert.deepEqual(
      LocalKafka.open(dir)!
        .status()
        .map((n) => n.running),
      [false],
    );
  });

  test('three nodes: a broker killed with SIGKILL leaves the others serving; restarted, it rejoins', async () => {
    const dir = tempDir();
    const { kafka } = await LocalKafka.start({ nodes: 3, dir });
    clusters.push(kafka);
    topics(kafka, '--create', '--topic', 'replicated', '--partitions', '3', '--replication-factor', '3');
    await kafka.killNode(2);
    let described = '';
    for (let waited = 0; waited < 20_000; waited += 500) {
      described = topics(kafka, '--describe', '--topic', 'replicated');
      if (!/Leader: 2\b/.test(described) && !/Isr: [\d,]*\b2\b/.test(described)) break;
      await sleep(500);
    }
    assert.doesNotMatch(described, /Leader: 2\b/, 'no partition is led by the dead broker');
    assert.doesNotMatch(described, /Isr: [\d,]*\b2\b/, 'the dead broker left every ISR');
    await kafka.restartNode(2);
    for (let waited = 0; waited < 30_000; waited += 500) {
      described = topics(kafka, '--describe', '--topic', 'replicated');
      if ((described.match(/Isr: \d,\d,\d/g) ?? []).length === 3) break;
      await sleep(500);
    }
    assert.equal(
      (described.match(/Isr: \d,\d,\d/g) ?? []).length,
      3,
      `every ISR is back to 3:\n${described}`,
    );
    await kafka.stop();
  });

  test('a folder that is not empty and holds no cluster is refused, and left as it was', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'precious.txt'), 'keep me');
    await assert.rejects(LocalKafka.start({ nodes: 1, dir }), /not empty and holds no Kafka cluster/);
    assert.equal(readFileSync(path.join(dir, 'precious.txt'), 'utf8'), 'keep me');
  });

  test('without java on PATH the command says so, without a stack trace', () => {
    const result = spawnSync(
      process.execPath,
      [path.join(root, 'bin/paystream.ts'), 'kafka', 'start', '--dir', tempDir()],
      {
        env: { ...process.env, PATH: '/nonexistent' },
        encoding: 'utf8',
      },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /java is needed/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
