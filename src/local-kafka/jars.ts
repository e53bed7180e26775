import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The Kafka release paystream develops and tests against (KRaft, Java 17+). */
export const kafkaVersion = '4.1.1';
const log4jVersion = '2.24.3';

export class LocalKafkaError extends Error {
  override name = 'LocalKafkaError';
}

/** Where the jars are cached by default: outside any checkout, shared by all of them. */
export function defaultJarsDir(): string {
  return path.join(os.homedir(), '.cache', 'paystream', `kafka-${kafkaVersion}`);
}

function need(command: string, args: string[], hint: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new LocalKafkaError(`${command} is needed to ${hint}, and was not found on PATH`);
  }
  return `${result.stdout}${result.stderr}`;
}

/** Fails with a clear message unless Java 17 or later is on PATH. */
export function checkJava(): void {
  const version = need('java', ['-version'], 'run Apache Kafka (install a JDK 17 or later)');
  const major = Number(/version "(\d+)/.exec(version)?.[1] ?? 0);
  if (major < 17)
    throw new LocalKafkaError(`Apache Kafka ${kafkaVersion} needs Java 17 or later (found ${major})`);
}

/**
 * Apache Kafka's jars from Maven Central, assembled once with `mvn` into `<dir>/libs`: the broker
 * (kafka_2.13), the command-line tools (kafka-tools) and a log4j2 binding. A marker written only
 * after a complete copy makes an interrupted download start again.
 */
export function ensureKafkaJars(dir = defaultJarsDir()): string {
  const libs = path.join(dir, 'libs');
  const marker = path.join(dir, '.complete');
  if (existsSync(marker) && existsSync(libs)) return libs;
  need('mvn', ['-v'], `fetch Apache Kafka ${kafkaVersion} from Maven Central (install Apache Maven)`);
  rmSync(libs, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dependency = (group: string, artifact: string, version: string) =>
    `<dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId><version>${version}</version></dependency>`;
  writeFileSync(
    path.join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.paystream</groupId><artifactId>local-kafka</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    ${dependency('org.apache.kafka', 'kafka_2.13', kafkaVersion)}
    ${dependency('org.apache.kafka', 'kafka-tools', kafkaVersion)}
    ${dependency('org.apache.logging.log4j', 'log4j-core', log4jVersion)}
    ${dependency('org.apache.logging.log4j', 'log4j-slf4j-impl', log4jVersion)}
  </dependencies>
</project>
`,
  );
  try {
    execFileSync(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        path.join(dir, 'pom.xml'),
        'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${libs}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (error) {
    throw new LocalKafkaError(
      `mvn could not fetch Apache Kafka ${kafkaVersion}: ${String((error as Error).message)}`,
    );
  }
  if (!readdirSync(libs).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new LocalKafkaError(`mvn finished but ${libs} holds no Kafka jar`);
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
  return libs;
}
