import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';

/**
 * The subset of pg's Pool that Kysely needs, with one change: every query that has parameters runs
 * as a NAMED prepared statement (name = hash of its SQL). PostgreSQL then parses and plans each
 * query shape once per connection instead of once per execution, which is most of its CPU on the
 * payment path's short INSERT/UPDATE statements. The set of shapes is small and fixed (Kysely
 * builds the same SQL for the same query), so the per-connection statement cache stays bounded.
 */
export function preparedStatementPool(pool: pg.Pool): PostgresPool {
  const names = new Map<string, string>();
  const nameOf = (text: string): string => {
    let name = names.get(text);
    if (name === undefined) {
      name = `ps_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      names.set(text, name);
    }
    return name;
  };
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      return {
        query: ((text: string, values: unknown[]) =>
          values.length === 0
            ? client.query(text)
            : client.query({ name: nameOf(text), text, values })) as never,
        release: (destroy?: boolean) => client.release(destroy),
      };
    },
    end: () => pool.end(),
  };
}
