import { execFile, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { LocalKafkaError } from './errors.ts';
import { ensureKafkaJars } from './jars.ts';
import { pickPorts } from './ports.ts';
import { checkJava } from './prerequisites.ts';
import { isRunning, signal, waitForExit } from './processes.ts';
import { log4jProperties, type NodeAddress, nodeProperties } from './properties.ts';

/**
 * Apache Kafka on this machine without Docker: one KRaft node (broker + controller) or three, on
 * 127.0.0.1, from the jars `ensureKafkaJars` assembles. Each node runs as a detached JVM, so the
 * cluster outlives the `paystream kafka start` that started it; its PIDs and ports are kept in
 * `<dir>/cluster.json` for `stop` and `status`. Tests use the same API and kill or restart nodes.
 */

export interface LocalKafkaNode extends NodeAddress {
  /** The node's console output and log4j log, started anew at each launch. */
  logFile: string;
  pid: number | undefined;
}

interface ClusterState {
  clusterId: string;
  libs: string;
  nodes: LocalKafkaNode[];
}

export interface LocalKafkaOptions {
  /** Default: as many as the cluster already in `dir` has, else 1. */
  nodes?: 1 | 3;
  /** The cluster's directory: data, logs and cluster.json. */
  dir: string;
  /** Where the jars are cached (default $KAFKA_JARS_DIR, else ~/.cache/paystream/kafka-<version>). */
  jarsDir?: string;
  /** Wipe the data of the cluster in `dir` and format anew. */
  fresh?: boolean;
}

export interface LocalKafkaNodeStatus {
  id: number;
  port: number;
  pid: number | undefined;
  running: boolean;
  logFile: string;
}

/** How long a node may take to say it started; a cold JVM on 2 busy cores needs a while. */
const readyTimeoutMs = 90_000;
const readyPollMs = 100;
/** How long a node may take to shut down after SIGTERM before it gets SIGKILL. */
const stopTimeoutMs = 20_000;
/** How long the kernel may take to remove a process after SIGKILL. */
const killTimeoutMs = 10_000;
/** How much of a node's log an error about it quotes. */
const logTailChars = 3000;
const heapMax = '-Xmx512m';
/** What `start` creates in its directory, and all that `--fresh` removes. */
const ownEntry = /^(cluster\.json|log4j2\.properties|node-\d+)$/;

const execFileAsync = promisify(execFile);

function propertiesFile(node: NodeAddress): string {
  return path.join(node.dir, 'node.properties');
}

function isUp(node: LocalKafkaNode): boolean {
  return isRunning(node.pid, propertiesFile(node));
}

function logTail(node: LocalKafkaNode): string {
  return existsSync(node.logFile) ? readFileSync(node.logFile, 'utf8').slice(-logTailChars) : '(no log)';
}

/** A Kafka tool from the jars (StorageTool), its failure an operator's error with its output. */
async function runTool(libs: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('java', ['-cp', `${libs}/*`, ...args], { encoding: 'utf8' });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new LocalKafkaError(`${args.slice(0, 2).join(' ')} failed:\n${`${stdout}${stderr}`.trim()}`);
  }
}

/**
 * `start` formats a directory only if it is empty or holds nothing but a cluster of ours: it must
 * never wipe what a mistyped `--dir` points at.
 */
function assertOwnDirectory(dir: string): void {
  if (!existsSync(dir)) return;
  const foreign = readdirSync(dir).filter((entry) => !ownEntry.test(entry));
  if (foreign.length > 0) {
    throw new LocalKafkaError(
      `${dir} is not empty (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}) and ` +
        'holds no local Kafka cluster: choose an empty or new --dir',
    );
  }
}

function removeOwnEntries(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    if (ownEntry.test(entry)) rmSync(path.join(dir, entry), { recursive: true, force: true });
  }
}

export class LocalKafka {
  readonly dir: string;
  #state: ClusterState;

  private constructor(dir: string, state: ClusterState) {
    this.dir = dir;
    this.#state = state;
  }

  static stateFile(dir: string): string {
    return path.join(path.resolve(dir), 'cluster.json');
  }

  /** The cluster described in `dir`, if one was ever formatted there. */
  static open(dir: string): LocalKafka | undefined {
    const file = LocalKafka.stateFile(dir);
    if (!existsSync(file)) return undefined;
    let state: ClusterState;
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
    } catch (error) {
      throw new LocalKafkaError(`${file} is unreadable (${(error as Error).message}); start with --fresh`);
    }
    return new LocalKafka(path.resolve(dir), state);
  }

  /**
   * Starts the cluster in `dir`: formats it on first use (or with `fresh`), starts every node that
   * is not running, and resolves once every node is ready. A cluster already running is returned as
   * is. If a node does not come up, every node this call started is stopped again.
   */
  static async start(options: LocalKafkaOptions): Promise<{ kafka: LocalKafka; alreadyRunning: boolean }> {
    const dir = path.resolve(options.dir);
    if (options.nodes !== undefined && options.nodes !== 1 && options.nodes !== 3) {
      throw new LocalKafkaError(`a local Kafka has 1 or 3 nodes (not ${options.nodes})`);
    }
    let existing: LocalKafka | undefined;
    try {
      existing = LocalKafka.open(dir);
    } catch (error) {
      if (!options.fresh) throw error;
    }
    const count = options.nodes ?? existing?.nodes.length ?? 1;
    if (existing && !options.fresh && existing.nodes.length !== count) {
      throw new LocalKafkaError(
        `${dir} holds a ${existing.nodes.length}-node cluster; start it with --fresh to replace it with ${count} node(s)`,
      );
    }
    if (!existing) assertOwnDirectory(dir);
    if (existing && !options.fresh && existing.nodes.every(isUp)) {
      return { kafka: existing, alreadyRunning: true };
    }
    checkJava();
    const libs = ensureKafkaJars(options.jarsDir);
    let kafka: LocalKafka;
    if (existing && !options.fresh) {
      kafka = existing;
      kafka.#state.libs = libs;
    } else {
      await existing?.stop();
      kafka = await LocalKafka.#format(dir, count, libs);
    }
    const launched = kafka.nodes.filter((node) => !isUp(node));
    try {
      for (const node of launched) kafka.#launch(node);
      kafka.#save();
      await Promise.all(launched.map((node) => kafka.#waitReady(node)));
    } catch (error) {
      await kafka.#stopNodes(launched);
      throw error;
    }
    return { kafka, alreadyRunning: false };
  }

  /** Fresh data directories for `count` nodes, one cluster id for all, formatted by Kafka's StorageTool. */
  static async #format(dir: string, count: number, libs: string): Promise<LocalKafka> {
    removeOwnEntries(dir);
    mkdirSync(dir, { recursive: true });
    const ports = await pickPorts(count * 2);
    const nodes: LocalKafkaNode[] = [];
    for (let id = 1; id <= count; id += 1) {
      const nodeDir = path.join(dir, `node-${id}`);
      nodes.push({
        id,
        port: ports[2 * id - 2]!,
        controllerPort: ports[2 * id - 1]!,
        dir: nodeDir,
        logFile: path.join(nodeDir, 'kafka.log'),
        pid: undefined,
      });
    }
    const clusterId = (await runTool(libs, ['kafka.tools.StorageTool', 'random-uuid'])).trim();
    writeFileSync(path.join(dir, 'log4j2.properties'), log4jProperties());
    for (const node of nodes) {
      mkdirSync(node.dir, { recursive: true });
      writeFileSync(propertiesFile(node), nodeProperties(node, nodes));
    }
    // One JVM per node; side by side, since each spends most of its second starting up.
    await Promise.all(
      nodes.map((node) =>
        runTool(libs, ['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propertiesFile(node)]),
      ),
    );
    const kafka = new LocalKafka(dir, { clusterId, libs, nodes });
    kafka.#save();
    return kafka;
  }

  get nodes(): readonly LocalKafkaNode[] {
    return this.#state.nodes;
  }

  get clusterId(): string {
    return this.#state.clusterId;
  }

  /** `127.0.0.1:P1,127.0.0.1:P2,...` */
  get bootstrap(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** The jars directory: `java -cp "<libs>/*"` runs Kafka's own tools against this cluster. */
  get libs(): string {
    return this.#state.libs;
  }

  #save(): void {
    writeFileSync(LocalKafka.stateFile(this.dir), `${JSON.stringify(this.#state, null, 2)}\n`);
  }

  #launch(node: LocalKafkaNode): void {
    // The previous run's log stays beside the new one (why did it die?); readiness reads the new one.
    if (existsSync(node.logFile) && statSync(node.logFile).size > 0) {
      renameSync(node.logFile, node.logFile.replace(/\.log$/, '.previous.log'));
    }
    const out = openSync(node.logFile, 'w');
    try {
      const child = spawn(
        'java',
        [
          heapMax,
          '-cp',
          `${this.libs}/*`,
          `-Dlog4j2.configurationFile=${path.join(this.dir, 'log4j2.properties')}`,
          'kafka.Kafka',
          propertiesFile(node),
        ],
        { detached: true, stdio: ['ignore', out, out] },
      );
      // A failed spawn leaves no PID: #waitReady reports the node as exited, with its log.
      child.on('error', () => {});
      child.unref();
      node.pid = child.pid;
    } finally {
      closeSync(out);
    }
  }

  async #waitReady(node: LocalKafkaNode): Promise<void> {
    const giveUpAt = Date.now() + readyTimeoutMs;
    for (;;) {
      if (existsSync(node.logFile) && readFileSync(node.logFile, 'utf8').includes('Kafka Server started'))
        return;
      if (!isUp(node)) {
        throw new LocalKafkaError(
          `Kafka node ${node.id} exited while starting; its log ends:\n${logTail(node)}`,
        );
      }
      if (Date.now() > giveUpAt) {
        throw new LocalKafkaError(
          `Kafka node ${node.id} not ready after ${readyTimeoutMs} ms; its log ends:\n${logTail(node)}`,
        );
      }
      await sleep(readyPollMs);
    }
  }

  /** Which nodes run now. */
  status(): LocalKafkaNodeStatus[] {
    return this.nodes.map((n) => ({
      id: n.id,
      port: n.port,
      pid: n.pid,
      running: isUp(n),
      logFile: n.logFile,
    }));
  }

  /** Signals one node (SIGKILL by default: a crash) and waits until its JVM is gone. */
  async killNode(id: number, signalName: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.#node(id);
    signal(node.pid, propertiesFile(node), signalName);
    const timeoutMs = signalName === 'SIGKILL' ? killTimeoutMs : stopTimeoutMs;
    if (!(await waitForExit([{ pid: node.pid, marker: propertiesFile(node) }], timeoutMs))) {
      throw new LocalKafkaError(
        `Kafka node ${id} (pid ${node.pid}) still runs ${timeoutMs} ms after ${signalName}`,
      );
    }
  }

  /** Starts a stopped node again on its formatted data and its ports, and waits until it is ready. */
  async restartNode(id: number): Promise<void> {
    const node = this.#node(id);
    if (isUp(node)) throw new LocalKafkaError(`Kafka node ${id} is still running (pid ${node.pid})`);
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
    await this.#stopNodes(this.nodes);
  }

  async #stopNodes(nodes: readonly LocalKafkaNode[]): Promise<void> {
    const running = nodes.filter(isUp).map((n) => ({ pid: n.pid, marker: propertiesFile(n) }));
    for (const p of running) signal(p.pid, p.marker, 'SIGTERM');
    if (!(await waitForExit(running, stopTimeoutMs))) {
      for (const p of running) signal(p.pid, p.marker, 'SIGKILL');
      if (!(await waitForExit(running, killTimeoutMs))) {
        const left = running.filter((p) => isRunning(p.pid, p.marker)).map((p) => p.pid);
        throw new LocalKafkaError(`Kafka JVM(s) ${left.join(', ')} survived SIGKILL for ${killTimeoutMs} ms`);
      }
    }
    for (const node of nodes) node.pid = undefined;
    if (existsSync(this.dir)) this.#save();
  }
}

/** The programmatic entry for tests: the running cluster in `options.dir`, started if need be. */
export async function startLocalKafka(options: LocalKafkaOptions): Promise<LocalKafka> {
  return (await LocalKafka.start(options)).kafka;
}
