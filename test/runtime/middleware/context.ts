import type { CloudEvent } from '../../../src/events/envelope.ts';
import type { RuntimeContext } from '../../../src/runtime/consumer.ts';
import { quietLog } from '../support.ts';

/** A context for one middleware under test: what the runner would give it, no store or transport. */
export function testContext(overrides: Partial<RuntimeContext> = {}): RuntimeContext {
  const event: CloudEvent = {
    specversion: '1.0',
    id: '0190d3c0-0000-7000-8000-000000000001',
    source: '/paystream/payments',
    type: 'payment.succeeded',
    subject: 'pay_X',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    dataschema: 'urn:paystream:event:payment.succeeded:v2',
    partitionkey: 'acct/c1',
    data: {},
  };
  return {
    consumer: 'unit',
    event,
    record: {
      topic: 'payments',
      partition: 0,
      offset: 7n,
      key: 'acct/c1',
      headers: { ce_id: event.id },
      value: '{}',
      timestamp: 0,
    },
    attempt: 1,
    signal: new AbortController().signal,
    dryRun: false,
    log: quietLog,
    effect: () => Promise.reject(new Error('no effect here')),
    transaction: () => Promise.reject(new Error('no transaction here')),
    draining: new AbortController().signal,
    abandon: new AbortController().signal,
    inTransaction: [],
    outcome: { suppressed: [], attempts: 0 },
    ...overrides,
  };
}
