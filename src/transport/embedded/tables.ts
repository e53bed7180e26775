import type { Int64 } from '../../store/database.ts';

/** One record of the embedded log. One partition per topic: `offset` is the topic's commit order. */
export interface EventLogTable {
  topic: string;
  offset: Int64;
  key: string;
  /** The record's headers as a JSON object of strings. */
  headers: string;
  value: string;
  /** Append time, epoch milliseconds. */
  appended_at: Int64;
}

/** The next offset of each topic: kept apart from the records so retention never rewinds it. */
export interface EventLogTopicTable {
  topic: string;
  next_offset: Int64;
}

/** The next offset each group reads in a topic: what it has committed. */
export interface EventLogOffsetTable {
  group_name: string;
  topic: string;
  next_offset: Int64;
  updated_at: Int64;
}

declare module '../../store/database.ts' {
  interface Database {
    event_log: EventLogTable;
    event_log_topics: EventLogTopicTable;
    event_log_offsets: EventLogOffsetTable;
  }
}
