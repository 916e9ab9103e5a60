import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import * as schema from "../d1/schema";

export const db = (env: { DB: D1Database }) => drizzle(env.DB, { schema });
export type Db = ReturnType<typeof db>;

/** A shard's id by its key, as a subquery: a task settle can point at the shard inserted in
 * the same D1 batch without a round trip. */
export const shardIdByKey = (key: string) => sql`(SELECT id FROM shards WHERE key = ${key})`;
export { schema };

/**
 * Multi-row inserts split so each statement stays under D1's 100 bound parameters. The
 * parameters per row are measured from the SQL drizzle generates (it binds defaults too).
 */
export function chunkedInserts<T extends import("drizzle-orm/sqlite-core").SQLiteTable>(d1: Db, table: T, rows: T["$inferInsert"][]) {
  if (!rows.length) return [];
  const perRow = Math.max(1, d1.insert(table).values(rows[0]!).toSQL().params.length);
  const size = Math.max(1, Math.floor(D1_MAX_PARAMS / perRow));
  const out = [];
  for (let i = 0; i < rows.length; i += size) out.push(d1.insert(table).values(rows.slice(i, i + size)).onConflictDoNothing());
  return out;
}

export const D1_MAX_PARAMS = 100;
