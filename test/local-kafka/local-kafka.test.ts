import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaCommand } from '../../src/app/kafka-command.ts';
import { type LocalKafka, startLocalKafka } from '../../src/local-kafka/cluster.ts';
import { consume, describeTopic, type PartitionState, produce, topicCommand } from './kafka-tools.ts';

const root = path.resolve(import.meta.dirname, '../..');
const hasJava = spawnSync('java', ['-version']).status === 0;
const skip =
  !hasJava && process.env['PAYSTREAM_TEST_REQUIRE_KAFKA'] !== '1'
    ? 'no java on PATH (CI requires it)'
    : false;
/** How long the cluster may take to notice a dead broker, and to take a restarted one back. */
const isrShrinkTimeoutMs = 20_000;
const isrRegrowTimeoutMs = 30_000;
/** How long the kernel may take to reap a JVM after `stop` returned. */
const reapTimeoutMs = 5_000;

async function run(args: string[]): Promise<string> {
  let text = '';
  const out = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  await kafkaCommand(args, out);
  return text;
}

async function gone(pid: number): Promise<boolean> {
  const giveUpAt = Date.now() + reapTimeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > giveUpAt) return false;
    await sleep(50);
  }
}

/** Every process on the machine whose command line names `dir`: a JVM left behind shows up here. */
function processesUsing(dir: string): string {
  return spawnSync('pgrep', ['-af', dir], { encoding: 'utf8' }).stdout.trim();
}

async function waitForPartitions(
  kafka: LocalKafka,
  topic: string,
  bootstrap: string,
  done: (partitions: PartitionState[]) => boolean,
  timeoutMs: number,
): Promise<PartitionState[]> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const partitions = describeTopic(kafka.libs, bootstrap, topic);
    if ((partitions.length > 0 && done(partitions)) || Date.now() > giveUpAt) return partitions;
    await sleep(500);
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

  test('one node: serves Kafka’s own tools; status, a second start and stop see it; no JVM is left', async () => {
    const dir = path.join(tempDir(), 'kafka');
    const kafka = await startLocalKafka({ nodes: 1, dir });
    clusters.push(kafka);
    assert.match(kafka.bootstrap, /^127\.0\.0\.1:\d+$/);

    topicCommand(kafka.libs, kafka.bootstrap, '--create', '--topic', 't', '--partitions', '3');
    const partitions = describeTopic(kafka.libs, kafka.bootstrap, 't');
    assert.deepEqual(
      partitions.map((p) => [p.partition, p.leader, p.isr]),
      [
        [0, 1, [1]],
        [1, 1, [1]],
        [2, 1, [1]],
      ],
    );
    produce(kafka.libs, kafka.bootstrap, 't', ['one', 'two', 'three']);
    assert.deepEqual(consume(kafka.libs, kafka.bootstrap, 't', 3).sort(), ['one', 'three', 'two']);

    const pid = kafka.nodes[0]!.pid!;
    assert.match(
      await run(['status', '--dir', dir]),
      new RegExp(`1 of 1 node\\(s\\) up.*\\nnode 1 .* up \\(pid ${pid}\\)`),
    );
    const again = await run(['start', '--dir', dir]);
    assert.match(again, /^already running: 1 node/);
    assert.match(again, new RegExp(`bootstrap: ${kafka.bootstrap}\\n`));

    assert.match(await run(['stop', '--dir', dir]), /stopped/);
    assert.equal(await gone(pid), true, `the JVM ${pid} is gone`);
    assert.equal(processesUsing(dir), '', 'no process runs from the cluster directory');
    assert.match(await run(['status', '--dir', dir]), /0 of 1 node\(s\) up.*\nnode 1 .* down/);
  });

  test('three nodes: with one broker killed the other two serve acks=all writes; restarted, it rejoins every ISR', async () => {
    const dir = path.join(tempDir(), 'kafka');
    const kafka = await startLocalKafka({ nodes: 3, dir });
    clusters.push(kafka);
    assert.match(kafka.bootstrap, /^127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
    topicCommand(
      kafka.libs,
      kafka.bootstrap,
      '--create',
      '--topic',
      'r',
      '--partitions',
      '3',
      '--replication-factor',
      '3',
    );
    const full = (ps: PartitionState[]) => ps.every((p) => p.isr.length === 3);
    assert.equal(full(await waitForPartitions(kafka, 'r', kafka.bootstrap, full, isrShrinkTimeoutMs)), true);

    const killed = kafka.nodes[1]!;
    const survivors = kafka.nodes
      .filter((n) => n.id !== killed.id)
      .map((n) => `127.0.0.1:${n.port}`)
      .join(',');
    await kafka.killNode(killed.id);
    assert.deepEqual(
      kafka.status().map((n) => n.running),
      [true, false, true],
    );
    const shrunk = (ps: PartitionState[]) =>
      ps.every((p) => !p.isr.includes(killed.id) && p.leader !== killed.id);
    const afterKill = await waitForPartitions(kafka, 'r', survivors, shrunk, isrShrinkTimeoutMs);
    assert.equal(shrunk(afterKill), true, `node ${killed.id} left every ISR: ${JSON.stringify(afterKill)}`);
    assert.deepEqual(
      afterKill.map((p) => p.isr.length),
      [2, 2, 2],
    );
    // min.insync.replicas is 2: two brokers still take writes that need every in-sync copy.
    produce(kafka.libs, survivors, 'r', ['a', 'b', 'c', 'd']);
    assert.deepEqual(consume(kafka.libs, survivors, 'r', 4).sort(), ['a', 'b', 'c', 'd']);

    const killedPid = killed.pid;
    await kafka.restartNode(killed.id);
    assert.notEqual(killed.pid, killedPid, 'a new JVM');
    assert.deepEqual(
      kafka.status().map((n) => n.running),
      [true, true, true],
    );
    const afterRestart = await waitForPartitions(kafka, 'r', kafka.bootstrap, full, isrRegrowTimeoutMs);
    assert.equal(full(afterRestart), true, `every ISR is back to 3: ${JSON.stringify(afterRestart)}`);

    const pids = kafka.nodes.map((n) => n.pid!);
    await kafka.stop();
    for (const pid of pids) assert.equal(await gone(pid), true, `the JVM ${pid} is gone`);
    assert.equal(processesUsing(dir), '');
  });

  test('without java on PATH the command says so, without a stack trace', () => {
    const result = spawnSync(
      process.execPath,
      [path.join(root, 'bin/paystream.ts'), 'kafka', 'start', '--dir', path.join(tempDir(), 'kafka')],
      { env: { ...process.env, PATH: '/nonexistent' }, encoding: 'utf8' },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stderr,
      /^paystream: java was not found on PATH; it is needed to run Apache Kafka \(install a JDK 17 or later\)\n$/,
    );
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});
