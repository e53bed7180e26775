import { spawnSync } from 'node:child_process';
import { LocalKafkaError } from './errors.ts';
import { kafkaVersion } from './version.ts';

/** Kafka 4.x is compiled for Java 17: an older JVM fails on the first class it loads. */
export const minimumJavaMajor = 17;

/** Runs `command args` and returns what it printed, or fails saying the tool is needed and why. */
function requireTool(command: string, args: string[], purpose: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new LocalKafkaError(`${command} was not found on PATH; it is needed to ${purpose}`);
  }
  return `${result.stdout}${result.stderr}`;
}

/** The major version in `java -version` output: `"17.0.15"` is 17, the old scheme `"1.8.0_392"` is 8. */
export function javaMajorVersion(versionText: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionText);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

/** Fails with a one-line message unless Java 17 or later is on PATH. */
export function checkJava(): void {
  const text = requireTool(
    'java',
    ['-version'],
    `run Apache Kafka (install a JDK ${minimumJavaMajor} or later)`,
  );
  const major = javaMajorVersion(text);
  if (major === undefined || major < minimumJavaMajor) {
    throw new LocalKafkaError(
      `Apache Kafka ${kafkaVersion} needs Java ${minimumJavaMajor} or later; the java on PATH is ` +
        (major === undefined ? `of an unknown version (${text.split('\n')[0]?.trim()})` : `Java ${major}`),
    );
  }
}

/** Fails with a one-line message unless Apache Maven is on PATH. */
export function checkMaven(): void {
  requireTool('mvn', ['-v'], `fetch Apache Kafka ${kafkaVersion} from Maven Central (install Apache Maven)`);
}
