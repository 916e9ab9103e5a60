// Paging through a job's candidates by status. Candidates live in R2 shards, indexed by D1
// rows; a page reads shards in order and keeps only records whose task the shard owns.
import { sql } from "drizzle-orm";
import { db } from "../db";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { readGzipJsonl, type CandidateRecord, type CandidateStatus } from "../records";

/** Shards read per page at most, so one request stays cheap even when matches are sparse. */
const SHARDS_PER_PAGE = 20;

type Cursor = { shard: number; skip: number };

function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify(c)).replace(/=+$/, "");
}

function decodeCursor(s: string | undefined): Cursor {
  if (!s) return { shard: 0, skip: 0 };
  try {
    const c = JSON.parse(atob(s));
    if (Number.isInteger(c.shard) && Number.isInteger(c.skip) && c.shard >= 0 && c.skip >= 0) return c;
  } catch {}
  throw new ApiError(400, "invalid_cursor", "cursor is not one this API returned; start without a cursor");
}

export async function pageSamples(env: Env, jobId: string, status: CandidateStatus, cursorText: string | undefined, limit: number) {
  const cursor = decodeCursor(cursorText);
  const column = sql.raw(status); // one of three literal column names, validated by the route
  const shards = await db(env).all<{ id: number; key: string; tasks: string }>(sql`
    SELECT s.id AS id, s.key AS key, group_concat(t.id, char(31)) AS tasks
    FROM shards s JOIN tasks t ON t.shard_id = s.id
    WHERE s.job_id = ${jobId} AND s.id >= ${cursor.shard} AND t.state = 'done' AND t.${column} > 0
    GROUP BY s.id ORDER BY s.id LIMIT ${SHARDS_PER_PAGE}`);
  const samples: CandidateRecord[] = [];
  for (const [i, s] of shards.entries()) {
    const owned = new Set(s.tasks.split("\u001f"));
    const obj = await env.BUCKET.get(s.key);
    if (!obj) continue;
    let index = 0;
    const skip = s.id === cursor.shard ? cursor.skip : 0;
    for await (const r of readGzipJsonl<CandidateRecord>(obj.body)) {
      if (r.status !== status || !owned.has(r.task)) continue;
      if (index++ < skip) continue;
      samples.push(r);
      if (samples.length === limit) {
        // Page is full: resume after this record. (Reading stops here; the body is dropped.)
        return { samples, next_cursor: encodeCursor({ shard: s.id, skip: index }) };
      }
    }
    if (i === shards.length - 1 && shards.length === SHARDS_PER_PAGE) return { samples, next_cursor: encodeCursor({ shard: s.id + 1, skip: 0 }) };
  }
  return { samples, next_cursor: null };
}
