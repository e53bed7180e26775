import type { Insertable, Transaction } from 'kysely';
import type { Clock } from '../platform/clock.ts';
import type { IdGenerator } from '../platform/ids.ts';
import type { Database } from '../store/database.ts';
import { insertTemplate } from '../store/query-template.ts';
import { assertEventData, type EventType, eventCatalogue } from './catalogue.ts';
import { type CloudEvent, dataschemaFor } from './envelope.ts';
import type { OutboxTable } from './tables.ts';

export interface NewEvent {
  type: EventType;
  /** The object the event is about, e.g. the payment id. */
  subject: string;
  /** Events with one key keep their order: the customer id. */
  partitionKey: string;
  data: Record<string, unknown>;
}

/** An event's insert into the outbox, compiled once (the hot path: one per payment). */
const insertEventQuery = insertTemplate('outbox', [
  'event_id',
  'type',
  'partition_key',
  'envelope',
  'created_at',
]);

/**
 * Writes one event to the outbox. It takes a `Transaction`, which a plain `Kysely` handle is not, so
 * an event can only be written together with the state change it announces: both commit or neither.
 */
export class OutboxWriter {
  readonly #ids: IdGenerator;
  readonly #clock: Clock;

  constructor(ids: IdGenerator, clock: Clock) {
    this.#ids = ids;
    this.#clock = clock;
  }

  /**
   * Validates the event and builds its envelope and outbox row, without writing anything. `write`
   * is the way to store it; a store-specific writer that folds the insert into one atomic
   * statement (see payments/postgres-payment-writes.ts) uses this to build the very same row.
   */
  prepare(event: NewEvent): { envelope: CloudEvent; row: Insertable<OutboxTable> } {
    assertEventData(event.type, event.data);
    const now = this.#clock.now();
    const envelope: CloudEvent = {
      specversion: '1.0',
      id: this.#ids.uuid(),
      source: eventCatalogue[event.type].source,
      type: event.type,
      subject: event.subject,
      time: new Date(now).toISOString(),
      datacontenttype: 'application/json',
      dataschema: dataschemaFor(event.type, eventCatalogue[event.type].current),
      partitionkey: event.partitionKey,
      data: event.data,
    };
    const row = {
      event_id: envelope.id,
      type: envelope.type,
      partition_key: envelope.partitionkey,
      envelope: JSON.stringify(envelope),
      created_at: now,
    };
    return { envelope, row };
  }

  async write(trx: Transaction<Database>, event: NewEvent): Promise<CloudEvent> {
    const { envelope, row } = this.prepare(event);
    await insertEventQuery.execute(trx, row);
    return envelope;
  }
}
