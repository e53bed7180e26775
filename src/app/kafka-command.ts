import path from 'node:path';
import { parseArgs } from 'node:util';
import { LocalKafka } from '../local-kafka/cluster.ts';
import { LocalKafkaError } from '../local-kafka/errors.ts';
import { defaultJarsDir, ensureKafkaJars, jarsDirEnv } from '../local-kafka/jars.ts';
import { kafkaVersion } from '../local-kafka/version.ts';

export const kafkaUsage = `paystream kafka start [--nodes 1|3] [--dir DIR] [--fresh] [--jars DIR]
paystream kafka stop|status [--dir DIR]
paystream kafka fetch [--jars DIR]
  --dir   the cluster's data, logs and state (default ./data/kafka)
  --jars  the cached jars (default $${jarsDirEnv}, else ~/.cache/paystream/kafka-${kafkaVersion})`;

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
      nodes: { type: 'string' },
      dir: { type: 'string', default: path.join('data', 'kafka') },
      jars: { type: 'string' },
      fresh: { type: 'boolean', default: false },
    },
  });
  const [action, ...extra] = positionals;
  if (extra.length > 0) throw new LocalKafkaError(`unexpected "${extra.join(' ')}"; usage:\n${kafkaUsage}`);
  const dir = path.resolve(values.dir);
  const jarsDir = values.jars ?? defaultJarsDir();
  switch (action) {
    case 'fetch': {
      out.write(`Apache Kafka ${kafkaVersion} jars in ${ensureKafkaJars(jarsDir)}\n`);
      return;
    }
    case 'start': {
      if (values.nodes !== undefined && values.nodes !== '1' && values.nodes !== '3') {
        throw new LocalKafkaError(`--nodes must be 1 or 3 (got "${values.nodes}")`);
      }
      const { kafka, alreadyRunning } = await LocalKafka.start({
        nodes: values.nodes === undefined ? undefined : (Number(values.nodes) as 1 | 3),
        dir,
        jarsDir,
        fresh: values.fresh,
      });
      const what = `${kafka.nodes.length === 1 ? '1 node' : `${kafka.nodes.length} nodes`} in ${dir}`;
      out.write(
        alreadyRunning ? `already running: ${what}\n` : `started Apache Kafka ${kafkaVersion}: ${what}\n`,
      );
      out.write(`bootstrap: ${kafka.bootstrap}\n`);
      out.write(`use it: PAYSTREAM_KAFKA_BROKERS=${kafka.bootstrap}\n`);
      return;
    }
    case 'stop':
    case 'status': {
      const kafka = LocalKafka.open(dir);
      if (!kafka) {
        out.write(`no Kafka cluster in ${dir}\n`);
        return;
      }
      if (action === 'stop') {
        await kafka.stop();
        out.write(`stopped the cluster in ${dir}\n`);
        return;
      }
      const nodes = kafka.status();
      const up = nodes.filter((n) => n.running).length;
      out.write(`${up} of ${nodes.length} node(s) up in ${dir}; bootstrap: ${kafka.bootstrap}\n`);
      for (const node of nodes) {
        out.write(
          `node ${node.id}  127.0.0.1:${node.port}  ${node.running ? `up (pid ${node.pid})` : 'down'}  ${node.logFile}\n`,
        );
      }
      return;
    }
    default:
      throw new LocalKafkaError(`usage:\n${kafkaUsage}`);
  }
}
