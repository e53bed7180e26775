/**
 * CloudEvents 1.0 envelope. `id` is a UUIDv7, `partitionkey` (the CloudEvents partitioning
 * extension) is the customer id: events of one customer keep their order on every transport.
 * `dataschema` names the type's schema version, so a consumer knows which version `data` follows.
 */
export interface CloudEvent<Data = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema: string;
  partitionkey: string;
  data: Data;
}

export function dataschemaFor(type: string, version: number): string {
  return `urn:paystream:event:${type}:v${version}`;
}
