import { execFileSync } from 'node:child_process';

/**
 * Kafka's own command-line tools, run from the jars the local cluster uses: a client that shares no
 * code with paystream, so what they see is what the broker does.
 */

function tool(libs: string, mainClass: string, args: string[], input?: string): string {
  return execFileSync('java', ['-cp', `${libs}/*`, mainClass, ...args], {
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

export function topicCommand(libs: string, bootstrap: string, ...args: string[]): string {
  return tool(libs, 'org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', bootstrap, ...args]);
}

/** One partition's line of `TopicCommand --describe`. */
export interface PartitionState {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}

export function describeTopic(libs: string, bootstrap: string, topic: string): PartitionState[] {
  const text = topicCommand(libs, bootstrap, '--describe', '--topic', topic);
  const ids = (list: string) => list.split(',').filter(Boolean).map(Number);
  return [...text.matchAll(/Partition: (\d+)\s+Leader: (-?\d+)\s+Replicas: ([\d,]*)\s+Isr: ([\d,]*)/g)].map(
    (m) => ({ partition: Number(m[1]), leader: Number(m[2]), replicas: ids(m[3]!), isr: ids(m[4]!) }),
  );
}

/**
 * Writes one record per line with acks=all and throws if any write fails: with `--sync` the tool
 * exits 1 on the first failed send, and timeouts well under the test's keep a broken cluster from
 * hanging it.
 */
export function produce(libs: string, bootstrap: string, topic: string, lines: string[]): string {
  return tool(
    libs,
    'org.apache.kafka.tools.ConsoleProducer',
    [
      '--bootstrap-server',
      bootstrap,
      '--topic',
      topic,
      '--sync',
      '--producer-property',
      'acks=all',
      '--producer-property',
      'max.block.ms=10000',
      '--producer-property',
      'request.timeout.ms=10000',
      '--producer-property',
      'delivery.timeout.ms=15000',
    ],
    `${lines.join('\n')}\n`,
  );
}

/**
 * Reads `count` records from the beginning of `topic`, or fails after `timeoutMs` without one;
 * `properties` are the console consumer's formatter properties (`print.key=true`, ...).
 */
export function consume(
  libs: string,
  bootstrap: string,
  topic: string,
  count: number,
  timeoutMs = 20_000,
  properties: Record<string, string> = {},
) {
  return tool(libs, 'org.apache.kafka.tools.consumer.ConsoleConsumer', [
    '--bootstrap-server',
    bootstrap,
    '--topic',
    topic,
    '--from-beginning',
    '--max-messages',
    String(count),
    '--timeout-ms',
    String(timeoutMs),
    ...Object.entries(properties).flatMap(([name, value]) => ['--property', `${name}=${value}`]),
  ])
    .split('\n')
    .filter(Boolean);
}
