import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OutgoingRecord, Transport, TransportCapabilities } from '../../src/transport/transport.ts';
import { Reader } from './reader.ts';

/** What an engine's test file gives the contract suite. */
export interface TransportHarness {
  capabilities: TransportCapabilities;
  /** A transport on the harness's log, opened as a new process would open it. */
  open(): Promise<Transport>;
  /** Environment for consumer-child.ts to open the same log in a process of its own. */
  childEnv(): Record<string, string>;
  /** Restarts the backend: the Kafka broker; for the embedded log the file simply stays. */
  restartBackend(): Promise<void>;
  /** How long a member killed with SIGKILL keeps its partitions (lease or session timeout). */
  deadMemberMs: number;
  /** Partitions the suite's topics get (the embedded log: always 1). */
  partitions: number;
  close(): Promise<void>;
}

const root = path.resolve(import.meta.dirname, '../..');

function records(count: number, key: (i: number) => string, from = 0): OutgoingRecord[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return {
      key: key(i),
      headers: { ce_id: `evt-${i}`, ce_type: 'test.happened' },
      value: JSON.stringify({ i }),
    };
  });
}

const indexOf = (value: string): number => (JSON.parse(value) as { i: number }).i;

/**
 * The Transport contract, run by each engine's test file against a real backend (Watermill's
 * shared pub/sub tests are the model). An engine skips only what its capability flags say it lacks.
 */
export function transportContract(engine: string, makeHarness: () => Promise<TransportHarness>): void {
  describe(`transport contract (${engine})`, () => {
    let h: TransportHarness;
    let transport: Transport;
    const opened: Transport[] = [];
    const open = async () => {
      const t = await h.open();
      opened.push(t);
      return t;
    };
    /** Each test gets topics of its own, so tests never see each other's records. */
    const topicFor = async (name: string) => {
      const topic = `contract.${name}.${randomUUID().slice(0, 8)}`;
      await transport.ensureTopics([
        { name: topic, partitions: h.partitions, replicationFactor: 1, minInsyncReplicas: 1 },
      ]);
      return topic;
    };

    before(async () => {
      h = await makeHarness();
      transport = await open();
    });
    after(async () => {
      for (const t of opened.reverse()) await t.close().catch(() => undefined);
      await h.close();
    });

    test('keys, headers and values round-trip exactly', async () => {
      const topic = await topicFor('roundtrip');
      const sent: OutgoingRecord[] = [
        {
          key: 'acct_01/cus_ünïcödé-👍',
          headers: {
            ce_id: randomUUID(),
            ce_type: 'payment.succeeded',
            'content-type': 'application/json',
            empty: '',
          },
          value: JSON.stringify({
            text: 'multi\nline "quoted" \u2028 ✓',
            n: 12345678901234567890n.toString(),
          }),
        },
      ];
      await transport.publish(topic, sent);
      const sub = await transport.subscribe({
        group: `g-${randomUUID()}`,
        topics: [topic],
        startFrom: 'earliest',
      });
      const [got] = await new Reader(sub).take(1);
      await sub.close();
      assert.equal(got!.topic, topic);
      assert.equal(got!.key, sent[0]!.key);
      assert.equal(got!.value, sent[0]!.value);
      for (const [name, value] of Object.entries(sent[0]!.headers))
        assert.equal(got!.headers[name], value, name);
      assert.equal(typeof got!.offset, 'bigint');
      assert.ok(Math.abs(got!.timestamp - Date.now()) < 60_000, 'timestamp is the append time');
    });

    test('records of one key arrive in the order they were published', async () => {
      const topic = await topicFor('order');
      const keys = ['cus_a', 'cus_b', 'cus_c', 'cus_d'];
      for (let batch = 0; batch < 5; batch += 1) {
        await transport.publish(
          topic,
          records(40, (i) => keys[i % keys.length]!, batch * 40),
        );
      }
      const sub = await transport.subscribe({
        group: `g-${randomUUID()}`,
        topics: [topic],
        startFrom: 'earliest',
      });
      const got = await new Reader(sub).take(200);
      await sub.close();
      for (const key of keys) {
        const order = got.filter((r) => r.key === key).map((r) => indexOf(r.value));
        assert.deepEqual(
          order,
          [...order].sort((a, b) => a - b),
          `order of ${key}`,
        );
        assert.equal(order.length, 50);
      }
    });

    test('independent groups each get every record', async () => {
      const topic = await topicFor('groups');
      await transport.publish(
        topic,
        records(30, (i) => `k${i % 3}`),
      );
      const a = await transport.subscribe({
        group: `ga-${randomUUID()}`,
        topics: [topic],
        startFrom: 'earliest',
      });
      const b = await transport.subscribe({
        group: `gb-${randomUUID()}`,
        topics: [topic],
        startFrom: 'earliest',
      });
      const [fromA, fromB] = await Promise.all([new Reader(a).take(30), new Reader(b).take(30)]);
      await Promise.all([a.close(), b.close()]);
      const ids = (rs: typeof fromA) => rs.map((r) => indexOf(r.value)).sort((x, y) => x - y);
      assert.deepEqual(ids(fromA), ids(fromB));
    });

    test('a group resumes after its last commit when its process restarts', async () => {
      const topic = await topicFor('resume');
      const group = `g-${randomUUID()}`;
      await transport.publish(
        topic,
        records(20, () => 'one-key'),
      );
      const first = await open();
      const sub = await first.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const got = await new Reader(sub).take(10);
      await sub.commit(got[6]!); // 0..6 processed; 7, 8, 9 were read but not committed
      await first.close();
      const second = await open();
      const again = await second.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const rest = await new Reader(again).take(13);
      await again.close();
      assert.deepEqual(
        rest.map((r) => indexOf(r.value)),
        Array.from({ length: 13 }, (_, i) => i + 7),
      );
    });

    test('what a member killed with SIGKILL had not committed is delivered to the next member', async () => {
      const topic = await topicFor('redelivery');
      const group = `g-${randomUUID()}`;
      await transport.publish(
        topic,
        records(30, () => 'one-key'),
      );
      const child = spawn(process.execPath, [path.join(root, 'test/transport/consumer-child.ts')], {
        cwd: root,
        env: { ...process.env, ...h.childEnv(), GROUP: group, TOPIC: topic, COMMIT_COUNT: '12' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const seen: number[] = [];
      for await (const line of createInterface({ input: child.stdout })) {
        seen.push(indexOf((JSON.parse(line) as { value: string }).value));
        if (seen.length === 20) {
          child.kill('SIGKILL');
          break;
        }
      }
      await exited;
      assert.deepEqual(
        seen,
        Array.from({ length: 20 }, (_, i) => i),
      );
      const next = await transport.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const rest = await new Reader(next).take(18, h.deadMemberMs + 15_000);
      await next.close();
      assert.deepEqual(
        rest.map((r) => indexOf(r.value)),
        Array.from({ length: 18 }, (_, i) => i + 12),
        'everything after the last commit, the 8 read-but-uncommitted ones included',
      );
    });

    test('seek moves a stopped group to an offset and to a time', async () => {
      const topic = await topicFor('seek');
      const group = `g-${randomUUID()}`;
      await transport.publish(
        topic,
        records(10, () => 'k'),
      );
      await sleep(50);
      const boundary = Date.now();
      await sleep(50);
      await transport.publish(
        topic,
        records(5, () => 'k', 10),
      );
      const sub = await transport.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const all = await new Reader(sub).take(15);
      await sub.commit(all[14]!);
      await sub.close();

      await transport.seek(group, topic, { offset: all[3]!.offset });
      const fromOffset = await transport.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const got = await new Reader(fromOffset).take(12);
      await fromOffset.close();
      assert.equal(indexOf(got[0]!.value), 3);

      await transport.seek(group, topic, { timestamp: boundary });
      const fromTime = await transport.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const reader = new Reader(fromTime);
      const later = await reader.take(5);
      assert.deepEqual(
        later.map((r) => indexOf(r.value)),
        [10, 11, 12, 13, 14],
      );
      assert.equal((await reader.drain(300)).length, 0);
      await fromTime.close();

      await transport.seek(group, topic, 'earliest');
      const lags = await transport.lag(group, topic);
      assert.equal(
        lags.reduce((sum, l) => sum + l.lag, 0n),
        15n,
        JSON.stringify(lags, (_, v) => (typeof v === 'bigint' ? v.toString() : v)),
      );
    });

    test('pause stops delivery until resume, and nothing is lost', async () => {
      const topic = await topicFor('pause');
      const sub = await transport.subscribe({
        group: `g-${randomUUID()}`,
        topics: [topic],
        startFrom: 'earliest',
      });
      const reader = new Reader(sub);
      await transport.publish(
        topic,
        records(5, () => 'k'),
      );
      await reader.take(5);
      sub.pause();
      await transport.publish(
        topic,
        records(5, () => 'k', 5),
      );
      assert.equal((await reader.drain(1000)).length, 0, 'nothing arrives while paused');
      sub.resume();
      const after = await reader.take(5);
      await sub.close();
      assert.deepEqual(
        after.map((r) => indexOf(r.value)),
        [5, 6, 7, 8, 9],
      );
    });

    test('records and committed offsets survive a restart of the backend', async () => {
      const topic = await topicFor('persist');
      const group = `g-${randomUUID()}`;
      await transport.publish(
        topic,
        records(8, () => 'k'),
      );
      const sub = await transport.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const got = await new Reader(sub).take(8);
      await sub.commit(got[4]!);
      await sub.close();
      await h.restartBackend();
      const reopened = await open();
      const again = await reopened.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const rest = await new Reader(again).take(3, 30_000);
      await again.close();
      assert.deepEqual(
        rest.map((r) => indexOf(r.value)),
        [5, 6, 7],
      );
    });

    test('lag counts what a group has not committed', async () => {
      const topic = await topicFor('lag');
      const group = `g-${randomUUID()}`;
      await transport.publish(
        topic,
        records(25, (i) => `k${i % 5}`),
      );
      const sub = await transport.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const got = await new Reader(sub).take(25);
      // Commit the last record read of each partition up to the 10th record overall.
      const lastPerPartition = new Map<number, (typeof got)[number]>();
      for (const r of got.slice(0, 10)) lastPerPartition.set(r.partition, r);
      for (const r of lastPerPartition.values()) await sub.commit(r);
      await sub.close();
      const lags = await transport.lag(group, topic);
      const total = lags.reduce((sum, l) => sum + l.lag, 0n);
      assert.equal(total, 15n);
    });

    test('a batch of 10,000 records is published and consumed whole, in order', async () => {
      const topic = await topicFor('batch');
      const sent = records(10_000, (i) => `cus_${i % 50}`);
      await transport.publish(topic, sent);
      const sub = await transport.subscribe({
        group: `g-${randomUUID()}`,
        topics: [topic],
        startFrom: 'earliest',
      });
      const got = await new Reader(sub).take(10_000, 60_000);
      await sub.close();
      const lastByKey = new Map<string, number>();
      for (const r of got) {
        const i = indexOf(r.value);
        assert.ok((lastByKey.get(r.key) ?? -1) < i, `order of ${r.key}`);
        lastByKey.set(r.key, i);
      }
      assert.equal(new Set(got.map((r) => indexOf(r.value))).size, 10_000);
    });

    test('two members of one group share the work', async () => {
      const topic = await topicFor('share');
      const group = `g-${randomUUID()}`;
      const a = await transport.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const second = await open();
      const b = await second.subscribe({ group, topics: [topic], startFrom: 'earliest' });
      const readerA = new Reader(a);
      const readerB = new Reader(b);
      await transport.publish(
        topic,
        records(60, (i) => `cus_${i % 12}`),
      );
      if (h.capabilities.partitionsShared) {
        const got = [...(await readerA.drain(4000)), ...(await readerB.drain(1000))];
        assert.ok(a.assignments().length > 0 && b.assignments().length > 0, 'both hold partitions');
        assert.equal(new Set(got.map((r) => indexOf(r.value))).size, 60);
      } else {
        // One active member, one standby that takes over when the active one leaves.
        const active = a.assignments().length > 0 ? { sub: a, reader: readerA } : { sub: b, reader: readerB };
        const standby = active.sub === a ? { sub: b, reader: readerB } : { sub: a, reader: readerA };
        assert.equal(standby.sub.assignments().length, 0, 'the other member stands by');
        const first = await active.reader.take(30);
        await active.sub.commit(first[29]!);
        await active.sub.close();
        const rest = await standby.reader.take(30, h.deadMemberMs + 10_000);
        assert.deepEqual(
          rest.map((r) => indexOf(r.value)),
          Array.from({ length: 30 }, (_, i) => i + 30),
        );
        await standby.sub.close();
      }
    });
  });
}
