import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalKafkaError } from './errors.ts';
import { checkMaven } from './prerequisites.ts';
import { kafkaVersion, log4jVersion } from './version.ts';

export { LocalKafkaError } from './errors.ts';
export { kafkaVersion } from './version.ts';

/**
 * Overrides where the jars are cached. Not a PAYSTREAM_* name: paystream's configuration refuses
 * PAYSTREAM_* variables it does not know, and this one is for the tooling, not the platform.
 */
export const jarsDirEnv = 'KAFKA_JARS_DIR';

/** Written after a complete copy; it holds the pom, so a changed dependency list fetches again. */
const markerName = '.complete';
const partialPrefix = 'libs.partial-';
/** How much of mvn's output an error quotes: the reason is in its last lines. */
const mvnOutputTailLines = 25;

/** `--jars DIR`, else $KAFKA_JARS_DIR, else ~/.cache/paystream/kafka-<version>: outside any checkout. */
export function defaultJarsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[jarsDirEnv] || path.join(os.homedir(), '.cache', 'paystream', `kafka-${kafkaVersion}`);
}

function pomText(): string {
  const dependency = (group: string, artifact: string, version: string) =>
    `    <dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId><version>${version}</version></dependency>`;
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.paystream</groupId><artifactId>local-kafka</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
${dependency('org.apache.kafka', 'kafka_2.13', kafkaVersion)}
${dependency('org.apache.kafka', 'kafka-tools', kafkaVersion)}
${dependency('org.apache.logging.log4j', 'log4j-core', log4jVersion)}
${dependency('org.apache.logging.log4j', 'log4j-slf4j-impl', log4jVersion)}
  </dependencies>
</project>
`;
}

/** Whether `<dir>/libs` holds a complete copy of the jars this version of paystream wants. */
export function hasKafkaJars(dir: string = defaultJarsDir()): boolean {
  const marker = path.join(dir, markerName);
  return (
    existsSync(marker) && existsSync(path.join(dir, 'libs')) && readFileSync(marker, 'utf8') === pomText()
  );
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Copies left by a fetch that was killed; a copy still under way in another process stays. */
function removeAbandonedCopies(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith(partialPrefix) && !isRunning(Number(entry.slice(partialPrefix.length)))) {
      rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }
}

/**
 * Apache Kafka's jars from Maven Central, assembled with `mvn` into `<dir>/libs`: the broker
 * (kafka_2.13), the command-line tools (kafka-tools) and a log4j2 binding. Nothing is downloaded
 * when a complete copy is there. The copy goes to a side directory that replaces `libs` only when
 * mvn succeeded, and the marker comes last: an interrupted fetch leaves no half `libs` behind it.
 */
export function ensureKafkaJars(dir: string = defaultJarsDir()): string {
  const root = path.resolve(dir);
  const libs = path.join(root, 'libs');
  if (hasKafkaJars(root)) return libs;
  checkMaven();
  mkdirSync(root, { recursive: true });
  removeAbandonedCopies(root);
  rmSync(path.join(root, markerName), { force: true });
  const pom = path.join(root, 'pom.xml');
  writeFileSync(pom, pomText());
  const partial = path.join(root, `${partialPrefix}${process.pid}`);
  rmSync(partial, { recursive: true, force: true });
  const mvn = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      pom,
      'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${partial}`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const copied = existsSync(partial) ? readdirSync(partial) : [];
  if (mvn.status !== 0 || !copied.some((file) => file.startsWith('kafka_2.13-'))) {
    rmSync(partial, { recursive: true, force: true });
    const output = `${mvn.stdout ?? ''}${mvn.stderr ?? ''}`.trim().split('\n').slice(-mvnOutputTailLines);
    throw new LocalKafkaError(
      `mvn could not fetch Apache Kafka ${kafkaVersion} from Maven Central (exit ${mvn.status ?? mvn.signal}):\n` +
        output.join('\n'),
    );
  }
  // Another fetch (a second test file starting at the same moment) may have finished first.
  if (hasKafkaJars(root)) {
    rmSync(partial, { recursive: true, force: true });
    return libs;
  }
  rmSync(libs, { recursive: true, force: true });
  renameSync(partial, libs);
  writeFileSync(path.join(root, markerName), pomText());
  return libs;
}
