import type { OutgoingRecord } from '../transport/transport.ts';
import type { CloudEvent } from './envelope.ts';

/**
 * CloudEvents 1.0 in binary content mode (the Kafka protocol binding): every attribute becomes a
 * `ce_<name>` header, the data is the record's value, and `content-type` carries
 * `datacontenttype`. The key is the partition key, so one customer's events share a partition.
 */
export function toRecord(event: CloudEvent): OutgoingRecord {
  return {
    key: event.partitionkey,
    headers: {
      ce_specversion: event.specversion,
      ce_id: event.id,
      ce_source: event.source,
      ce_type: event.type,
      ce_subject: event.subject,
      ce_time: event.time,
      ce_dataschema: event.dataschema,
      ce_partitionkey: event.partitionkey,
      'content-type': event.datacontenttype,
    },
    value: JSON.stringify(event.data),
  };
}

export class MalformedEventError extends Error {
  override name = 'MalformedEventError';
}

/** The envelope back from a record; throws MalformedEventError when an attribute is missing. */
export function fromRecord(record: Pick<OutgoingRecord, 'key' | 'headers' | 'value'>): CloudEvent {
  const h = record.headers;
  const need = (name: string): string => {
    const value = h[name];
    if (value === undefined || value === '')
      throw new MalformedEventError(`the record has no ${name} header`);
    return value;
  };
  if (need('ce_specversion') !== '1.0')
    throw new MalformedEventError(`unsupported ce_specversion ${h['ce_specversion']}`);
  if (need('content-type') !== 'application/json') {
    throw new MalformedEventError(`unsupported content-type ${h['content-type']}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(record.value);
  } catch {
    throw new MalformedEventError('the record value is not JSON');
  }
  return {
    specversion: '1.0',
    id: need('ce_id'),
    source: need('ce_source'),
    type: need('ce_type'),
    subject: need('ce_subject'),
    time: need('ce_time'),
    datacontenttype: 'application/json',
    dataschema: need('ce_dataschema'),
    partitionkey: h['ce_partitionkey'] ?? record.key,
    data,
  };
}
