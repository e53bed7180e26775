import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkJava, ensureKafkaJars, LocalKafkaError } from './jars.ts';

/**
 * Apache Kafka on this machine without Docker: one KRaft node (broker + controller) or three, on
 * 127.0.0.1, from the jars `ensureKafkaJars` assembles. Each node runs as a detached JVM, so the
 * cluster outlives the `paystream kafka start` that started it; the PIDs and ports are kept in
 * `<dir>/cluster.json` for `stop` and `status`. Tests use the same API and kill or restart nodes.
 */

export interface LocalKafkaNode {
  id: number;
  port: number;
  controllerPort: number;
  dir: string;
  logFile: string;
  pid: number | undefined;
}

interface ClusterState {
  clusterId: string;
  libs: string;
  nodes: LocalKafkaNode[];
}

export interface LocalKafkaOptions {
  nodes?: 1 | 3;
  /** The cluster's directory: data, logs and cluster.json. */
  dir: string;
  /** Where the jars are cached (default ~/.cache/paystream/kafka-<version>). */
  jarsDir?: string;
  /** Wipe the data of an existing cluster in `dir` and format anew. */
  fresh?: boolean;
}

/** How long a node may take to say it started; a cold JVM on 2 busy cores needs a while. */
const readyTimeoutMs = 90_000;
/** How long `stop` waits for a node to exit after SIGTERM before SIGKILL. */
const stopTimeoutMs = 20_000;
const heapMax = '-Xmx512m';

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function storageTool(libs: string, args: string[]): string {
  return execFileSync('java', ['-cp', `${libs}/*`, 'kafka.tools.StorageTool', ...args], { encoding: 'utf8' });
}

function nodeProperties(node: LocalKafkaNode, all: LocalKafkaNode[]): string {
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
    `log.dirs=${path.join(node.dir, 'data')}`,
    // The defaults assume three brokers: without these, a single node never forms a consumer group.
    `offsets.topic.replication.factor=${replicas}`,
    `transaction.state.log.replication.factor=${replicas}`,
    `transaction.state.log.min.isr=${minIsr}`,
    `share.coordinator.state.topic.replication.factor=${replicas}`,
    `share.coordinator.state.topic.min.isr=${minIsr}`,
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

function log4jProperties(): string {
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

export class LocalKafka {
  readonly dir: string;
  #state: ClusterState;

  private constructor(dir: string, state: ClusterState) {
    this.dir = dir;
    this.#state = state;
  }

  static stateFile(dir: string): string {
    return path.join(dir, 'cluster.json');
  }

  /** The cluster described in `dir`, if one was ever started there. */
  static open(dir: string): LocalKafka | undefined {
    const file = LocalKafka.stateFile(dir);
    if (!existsSync(file)) return undefined;
    return new LocalKafka(dir, JSON.parse(readFileSync(file, 'utf8')) as ClusterState);
  }

  /**
   * Starts the cluster in `dir`: formats it on first use (or with `fresh`), starts every node that
   * is not running, and resolves once every node is ready. A cluster already running is returned as is.
   */
  static async start(options: LocalKafkaOptions): Promise<{ kafka: LocalKafka; alreadyRunning: boolean }> {
    checkJava();
    const libs = ensureKafkaJars(options.jarsDir);
    const dir = path.resolve(options.dir);
    let kafka = options.fresh ? undefined : LocalKafka.open(dir);
    const wanted = options.nodes ?? kafka?.nodes.length ?? 1;
    if (kafka && kafka.nodes.length !== wanted) {
      throw new LocalKafkaError(
        `${dir} holds a ${kafka.nodes.length}-node cluster; stop it and start with --fresh for ${wanted} nodes`,
      );
    }
    if (kafka?.nodes.every((n) => isAlive(n.pid))) return { kafka, alreadyRunning: true };
    if (kafka?.nodes.some((n) => isAlive(n.pid))) await kafka.stop();
    if (!kafka) {
      await LocalKafka.#stopStale(dir);
      // Only ever wipe a cluster folder: a mistyped --dir must not erase someone's files.
      if (existsSync(dir) && !existsSync(LocalKafka.stateFile(dir)) && readdirSync(dir).length > 0) {
        throw new LocalKafkaError(
          `${dir} is not empty and holds no Kafka cluster: choose an empty or new --dir`,
        );
      }
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const nodes: LocalKafkaNode[] = [];
      for (let id = 1; id <= wanted; id += 1) {
        const nodeDir = path.join(dir, `node-${id}`);
        nodes.push({
          id,
          port: await freePort(),
          controllerPort: await freePort(),
          dir: nodeDir,
          logFile: path.join(nodeDir, 'kafka.log'),
          pid: undefined,
        });
      }
      const clusterId = storageTool(libs, ['random-uuid']).trim();
      writeFileSync(path.join(dir, 'log4j2.properties'), log4jProperties());
      for (const node of nodes) {
        mkdirSync(node.dir, { recursive: true });
        const props = path.join(node.dir, 'node.properties');
        writeFileSync(props, nodeProperties(node, nodes));
        storageTool(libs, ['format', '-t', clusterId, '-c', props]);
      }
      kafka = new LocalKafka(dir, { clusterId, libs, nodes });
    }
    kafka.#state.libs = libs;
    for (const node of kafka.nodes) kafka.#launch(node);
    kafka.#save();
    await Promise.all(kafka.nodes.map((n) => kafka.#waitReady(n)));
    return { kafka, alreadyRunning: false };
  }

  /** A cluster.json left by a crashed run may name JVMs that still run: stop them before wiping. */
  static async #stopStale(dir: string): Promise<void> {
    const stale = LocalKafka.open(dir);
    if (stale) await stale.stop();
  }

  get nodes(): readonly LocalKafkaNode[] {
    return this.#state.nodes;
  }

  /** `127.0.0.1:P1,127.0.0.1:P2,...` */
  get bootstrap(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  get libs(): string {
    return this.#state.libs;
  }

  #save(): void {
    writeFileSync(LocalKafka.stateFile(this.dir), `${JSON.stringify(this.#state, null, 2)}\n`);
  }

  #launch(node: LocalKafkaNode): void {
    if (isAlive(node.pid)) return;
    // Each launch starts its log anew, so readiness is read from this launch's lines only.
    const out = openSync(node.logFile, 'w');
    const child = spawn(
      'java',
      [
        heapMax,
        '-cp',
        `${this.libs}/*`,
        `-Dlog4j2.configurationFile=${path.join(this.dir, 'log4j2.properties')}`,
        'kafka.Kafka',
        path.join(node.dir, 'node.properties'),
      ],
      { detached: true, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    child.unref();
    node.pid = child.pid;
  }

  async #waitReady(node: LocalKafkaNode): Promise<void> {
    const startedAt = Date.now();
    for (;;) {
      const log = existsSync(node.logFile) ? readFileSync(node.logFile, 'utf8') : '';
      if (log.includes('Kafka Server started')) return;
      if (!isAlive(node.pid)) {
        throw new LocalKafkaError(
          `Kafka node ${node.id} exited while starting; its log:\n${log.slice(-3000)}`,
        );
      }
      if (Date.now() - startedAt > readyTimeoutMs) {
        throw new LocalKafkaError(
          `Kafka node ${node.id} not ready after ${readyTimeoutMs} ms; its log:\n${log.slice(-3000)}`,
        );
      }
      await sleep(100);
    }
  }

  /** Which nodes run now. */
  status(): Array<{ id: number; port: number; pid: number | undefined; running: boolean }> {
    return this.nodes.map((n) => ({ id: n.id, port: n.port, pid: n.pid, running: isAlive(n.pid) }));
  }

  /** Kills one node (SIGKILL by default: a crash) without waiting for the others to notice. */
  async killNode(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.#node(id);
    if (node.pid !== undefined && isAlive(node.pid)) {
      process.kill(node.pid, signal);
      for (let waited = 0; isAlive(node.pid) && waited < stopTimeoutMs; waited += 50) await sleep(50);
    }
  }

  /** Starts a node again on its formatted data and its ports, and waits until it is ready. */
  async restartNode(id: number): Promise<void> {
    const node = this.#node(id);
    if (isAlive(node.pid)) throw new LocalKafkaError(`Kafka node ${id} is still running`);
    this.#launch(node);
    this.#save();
    await this.#waitReady(node);
  }

  #node(id: number): LocalKafkaNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new LocalKafkaError(`no Kafka node ${id} in ${this.dir}`);
    return node;
  }

  /** Stops every node: SIGTERM, then SIGKILL after a bound. No JVM is left behind. */
  async stop(): Promise<void> {
    const running = this.nodes.filter((n) => isAlive(n.pid));
    for (const node of running) process.kill(node.pid!, 'SIGTERM');
    const giveUpAt = Date.now() + stopTimeoutMs;
    while (running.some((n) => isAlive(n.pid)) && Date.now() < giveUpAt) await sleep(100);
    for (const node of running) if (isAlive(node.pid)) process.kill(node.pid!, 'SIGKILL');
    while (running.some((n) => isAlive(n.pid))) await sleep(50);
    for (const node of this.#state.nodes) node.pid = undefined;
    if (existsSync(this.dir)) this.#save();
  }
}
