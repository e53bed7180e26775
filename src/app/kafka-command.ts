import path from 'node:path';
import { parseArgs } from 'node:util';
import { LocalKafka } from '../local-kafka/cluster.ts';
import { defaultJarsDir, ensureKafkaJars, kafkaVersion, LocalKafkaError } from '../local-kafka/jars.ts';

export const kafkaUsage = `paystream kafka start [--nodes 1|3] [--dir DIR] [--fresh] [--jars DIR]
paystream kafka stop|status [--dir DIR]
paystream kafka fetch [--jars DIR]`;

/**
 * `paystream kafka ...`: a real Apache Kafka (KRaft) on 127.0.0.1 for development and tests,
 * assembled from Maven Central, no Docker (see docs/local-kafka.md).
 */
export async function kafkaCommand(
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      nodes: { type: 'string', default: '1' },
      dir: { type: 'string', default: path.resolve('data', 'kafka') },
      jars: { type: 'string', default: defaultJarsDir() },
      fresh: { type: 'boolean', default: false },
    },
  });
  const [action] = positionals;
  const dir = path.resolve(values.dir);
  if (action === 'fetch') {
    out.write(`Apache Kafka ${kafkaVersion} jars in ${ensureKafkaJars(values.jars)}\n`);
  } else if (action === 'start') {
    if (values.nodes !== '1' && values.nodes !== '3') throw new LocalKafkaError('--nodes must be 1 or 3');
    const { kafka, alreadyRunning } = await LocalKafka.start({
      nodes: Number(values.nodes) as 1 | 3,
      dir,
      jarsDir: values.jars,
      fresh: values.fresh,
    });
    out.write(`${alreadyRunning ? 'already running' : 'started'}: ${kafka.nodes.length} node(s) in ${dir}\n`);
    out.write(`bootstrap: ${kafka.bootstrap}\n`);
    out.write(`use it: PAYSTREAM_KAFKA_BROKERS=${kafka.bootstrap}\n`);
  } else if (action === 'stop' || action === 'status') {
    const kafka = LocalKafka.open(dir);
    if (!kafka) {
      out.write(`no Kafka cluster in ${dir}\n`);
      return;
    }
    if (action === 'stop') {
      await kafka.stop();
      out.write(`stopped the cluster in ${dir}\n`);
    } else {
      for (const node of kafka.status()) {
        out.write(
          `node ${node.id}  127.0.0.1:${node.port}  ${node.running ? `running (pid ${node.pid})` : 'stopped'}\n`,
        );
      }
    }
  } else {
    throw new LocalKafkaError(`usage:\n${kafkaUsage}`);
  }
}
