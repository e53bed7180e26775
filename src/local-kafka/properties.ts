import path from 'node:path';

/** What a node's properties need to know about it: its id, ports and directory. */
export interface NodeAddress {
  id: number;
  port: number;
  controllerPort: number;
  dir: string;
}

/** The directory the node's log segments go to (formatted once by StorageTool). */
export function dataDir(node: NodeAddress): string {
  return path.join(node.dir, 'data');
}

/** `node.properties` of one KRaft node that is both broker and controller, on 127.0.0.1 only. */
export function nodeProperties(node: NodeAddress, all: readonly NodeAddress[]): string {
  const replicas = all.length;
  const minIsr = Math.min(2, replicas);
  return [
    'process.roles=broker,controller',
    `node.id=${node.id}`,
    `controller.quorum.voters=${all.map((n) => `${n.id}@127.0.0.1:${n.controllerPort}`).join(',')}`,
    `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir(node)}`,
    // The defaults assume three brokers: without these, a single node never forms a consumer group.
    `offsets.topic.replication.factor=${replicas}`,
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
    // On three nodes a topic survives the loss of one, and an acks=all write still needs two copies.
    `default.replication.factor=${replicas}`,
    `min.insync.replicas=${minIsr}`,
    // A dead broker is noticed (and its partitions led elsewhere) in seconds, not the default 9 s.
    'broker.session.timeout.ms=3000',
    'broker.heartbeat.interval.ms=500',
    // A group forms at once instead of waiting 3 s for more members: tests and demos start fast.
    'group.initial.rebalance.delay.ms=0',
    // paystream creates its topics with the partitions and replication it wants.
    'auto.create.topics.enable=false',
    '',
  ].join('\n');
}

/**
 * log4j2 for every node: INFO to the console, which each node's JVM writes to the `kafka.log` in
 * its own directory. Through stdout rather than a file appender, so what the JVM prints before
 * log4j is up (a bad classpath, an OutOfMemoryError) lands in the same file.
 */
export function log4jProperties(): string {
  return [
    'rootLogger.level=INFO',
    'rootLogger.appenderRef.stdout.ref=STDOUT',
    'appender.stdout.type=Console',
    'appender.stdout.name=STDOUT',
    'appender.stdout.layout.type=PatternLayout',
    'appender.stdout.layout.pattern=[%d] %p %m (%c)%n',
    // The request log and the state change log are chatty and say nothing an operator needs here.
    'logger.request.name=kafka.request.logger',
    'logger.request.level=WARN',
    'logger.state.name=state.change.logger',
    'logger.state.level=WARN',
    '',
  ].join('\n');
}
