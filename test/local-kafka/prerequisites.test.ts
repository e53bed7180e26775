import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { javaMajorVersion } from '../../src/local-kafka/prerequisites.ts';

/**
 * What `paystream kafka` does before any JVM runs: the checks for java and mvn, the jar cache and
 * its marker, the refusal to format a directory that is not its own. Fake `java` and `mvn` scripts
 * stand in for the real ones, so these run in a second and on machines without Java.
 */

const root = path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(os.tmpdir(), 'paystream-kafka-tools-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A directory holding only the given scripts: the PATH of a machine that has nothing else. */
function binDir(name: string, scripts: Record<string, string>): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [tool, body] of Object.entries(scripts)) {
    writeFileSync(path.join(dir, tool), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(dir, tool), 0o755);
  }
  return dir;
}

function paystreamKafka(args: string[], env: NodeJS.ProcessEnv) {
  const result = spawnSync(process.execPath, [path.join(root, 'bin/paystream.ts'), 'kafka', ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

function assertOperatorError(result: ReturnType<typeof paystreamKafka>, message: RegExp): void {
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

const fakeJava = (versionLine: string) => ({ java: `echo '${versionLine}' >&2` });

/**
 * A stand-in for mvn: `-v` answers; a copy writes a Kafka jar into -DoutputDirectory and then,
 * as $FAKE_MVN_MODE says, succeeds, fails like a resolution error, or kills the paystream process
 * that runs it (an interrupted download). Every copy is logged to $FAKE_MVN_LOG.
 */
const fakeMaven = {
  mvn: `[ "$1" = -v ] && exit 0
echo copy >> "$FAKE_MVN_LOG"
for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="\${arg#-DoutputDirectory=}";; esac; done
/bin/mkdir -p "$out" && : > "$out/kafka_2.13-4.1.1.jar"
case "$FAKE_MVN_MODE" in
  fail) echo '[ERROR] Failed to resolve org.apache.kafka:kafka_2.13:4.1.1'; exit 1;;
  die) kill -9 $PPID; exit 1;;
esac`,
};

describe('paystream kafka before any JVM runs', () => {
  test('java older than 17 is refused, in either version scheme', () => {
    const dir = path.join(work, 'never-formatted');
    for (const [line, found] of [
      ['openjdk version "11.0.22" 2024-01-16', 'Java 11'],
      ['java version "1.8.0_392"', 'Java 8'],
    ] as const) {
      const bin = binDir(`java-${found.replace(' ', '')}`, fakeJava(line));
      assertOperatorError(
        paystreamKafka(['start', '--dir', dir], { PATH: bin }),
        new RegExp(
          `^paystream: Apache Kafka 4\\.1\\.1 needs Java 17 or later; the java on PATH is ${found}\\n$`,
        ),
      );
    }
    assert.equal(existsSync(dir), false, 'nothing was created');
  });

  test('the Java version is read from both schemes of `java -version`', () => {
    assert.equal(javaMajorVersion('openjdk version "17.0.15" 2025-04-15'), 17);
    assert.equal(javaMajorVersion('openjdk version "21" 2023-09-19'), 21);
    assert.equal(javaMajorVersion('java version "1.8.0_392"'), 8);
    assert.equal(javaMajorVersion('something else'), undefined);
  });

  test('mvn missing while the jars are not cached: said plainly', () => {
    assertOperatorError(
      paystreamKafka(['fetch', '--jars', path.join(work, 'no-mvn')], { PATH: binDir('empty', {}) }),
      /^paystream: mvn was not found on PATH; it is needed to fetch Apache Kafka 4\.1\.1 from Maven Central \(install Apache Maven\)\n$/,
    );
  });

  test('an interrupted or failed download is redone; a complete one is not fetched again', () => {
    const jars = path.join(work, 'jars');
    const log = path.join(work, 'mvn.log');
    const bin = binDir('maven', fakeMaven);
    // KAFKA_JARS_DIR chooses the cache when --jars is not given.
    const fetch = (mode: string) =>
      paystreamKafka(['fetch'], { PATH: bin, KAFKA_JARS_DIR: jars, FAKE_MVN_MODE: mode, FAKE_MVN_LOG: log });
    const copies = () => readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
    const complete = () => existsSync(path.join(jars, '.complete'));

    const killed = fetch('die');
    assert.equal(killed.signal, 'SIGKILL', 'the fetch was killed mid-copy');
    assert.equal(complete(), false);
    assert.equal(existsSync(path.join(jars, 'libs')), false, 'no half copy where the jars belong');

    assertOperatorError(
      fetch('fail'),
      /mvn could not fetch Apache Kafka 4\.1\.1[^\n]*\n\[ERROR\] Failed to resolve/,
    );
    assert.equal(complete(), false);

    const ok = fetch('ok');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, `Apache Kafka 4.1.1 jars in ${path.join(jars, 'libs')}\n`);
    assert.equal(complete(), true);
    assert.deepEqual(
      readdirSync(jars).sort(),
      ['.complete', 'libs', 'pom.xml'],
      'the killed copy was cleared',
    );
    assert.match(
      readFileSync(path.join(jars, 'pom.xml'), 'utf8'),
      /<artifactId>kafka-tools<\/artifactId><version>4\.1\.1</,
    );
    assert.equal(copies(), 3);

    assert.equal(fetch('fail').status, 0, 'cached: mvn is not run');
    assert.equal(copies(), 3);
  });

  test('start refuses a directory that holds something else, and touches nothing in it', () => {
    const dir = path.join(work, 'not-kafka');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    // No java on PATH either: the directory is checked first, so its error is the one shown.
    for (const args of [[], ['--fresh']]) {
      assertOperatorError(
        paystreamKafka(['start', '--dir', dir, ...args], { PATH: '/nonexistent' }),
        /is not empty \(notes\.txt\) and holds no local Kafka cluster/,
      );
    }
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  });

  test('a stale state file whose PID now belongs to another process: status says down, stop leaves it be', () => {
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const dir = path.join(work, 'stale');
      const node = { id: 1, port: 19092, controllerPort: 19093, dir: path.join(dir, 'node-1') };
      mkdirSync(node.dir, { recursive: true });
      writeFileSync(
        path.join(dir, 'cluster.json'),
        JSON.stringify({
          clusterId: 'stale',
          libs: path.join(work, 'libs'),
          nodes: [{ ...node, logFile: path.join(node.dir, 'kafka.log'), pid: other.pid }],
        }),
      );
      const status = paystreamKafka(['status', '--dir', dir], {});
      assert.match(status.stdout, /^0 of 1 node\(s\) up.*\nnode 1 +127\.0\.0\.1:19092 +down/);
      assert.equal(paystreamKafka(['stop', '--dir', dir], {}).status, 0);
      assert.equal(other.exitCode, null, 'the unrelated process was not signalled');
      assert.doesNotThrow(() => process.kill(other.pid!, 0));
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('bad arguments and an empty directory get one-line answers', () => {
    assertOperatorError(
      paystreamKafka(['start', '--nodes', '2'], { PATH: '/nonexistent' }),
      /--nodes must be 1 or 3/,
    );
    assertOperatorError(paystreamKafka(['restart'], {}), /usage:\npaystream kafka start/);
    const status = paystreamKafka(['status', '--dir', path.join(work, 'nothing')], {});
    assert.equal(status.status, 0);
    assert.match(status.stdout, /^no Kafka cluster in /);
  });
});
