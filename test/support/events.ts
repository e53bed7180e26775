import { sql } from 'kysely';
import { fromRecord } from '../../src/events/binary-mode.ts';
import type { CloudEvent } from '../../src/events/envelope.ts';
import type { Store } from '../../src/store/store.ts';

/**
 * Every event the payment core wrote, wherever it is now: relayed to the embedded log (topic
 * `payments`, oldest first) or still waiting in the outbox. One statement, so a relay round moving
 * rows meanwhile can neither hide an event nor show it twice.
 */
export const writtenEventsSql = `
  SELECT 0 AS pending, l."offset" AS pos, l.key, l.headers, l.value, NULL AS envelope
    FROM event_log l WHERE l.topic = 'payments'
  UNION ALL
  SELECT 1 AS pending, o.position AS pos, NULL, NULL, NULL, o.envelope FROM outbox o
  ORDER BY pending, pos`;

export interface WrittenEventRow {
  key: string | null;
  headers: string | null;
  value: string | null;
  envelope: string | null;
}

export function eventOfRow(row: WrittenEventRow): CloudEvent<Record<string, unknown>> {
  if (row.envelope !== null) return JSON.parse(row.envelope);
  return fromRecord({
    key: row.key!,
    headers: JSON.parse(row.headers!) as Record<string, string>,
    value: row.value!,
  }) as CloudEvent<Record<string, unknown>>;
}

// Tests read events loosely-typed, like response bodies; asserting on their shape is the point.
// biome-ignore lint/suspicious/noExplicitAny: events of arbitrary type
export async function writtenEvents(store: Store): Promise<any[]> {
  const { rows } = await sql.raw<WrittenEventRow>(writtenEventsSql).execute(store.db);
  return rows.map(eventOfRow);
}
