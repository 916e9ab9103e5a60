// The daily cron: a release for every dataset with accepted samples newer than its latest
// published release. Datasets are compiled one after another so memory stays that of one
// compile; one failing (it is marked failed and logged) does not stop the others.
import { sql } from "drizzle-orm";
import type { DatasetRow } from "./datasets";
import { db, schema } from "./db";
import type { Env } from "./env";
import { startRelease } from "./releases/compile";

/** Datasets with a shard holding accepted samples above their latest published release's mark. */
export async function datasetsWithNewSamples(env: Env): Promise<DatasetRow[]> {
  const d = schema.datasets;
  return db(env)
    .select()
    .from(d)
    .where(
      sql`EXISTS (
        SELECT 1 FROM shards s
         WHERE s.dataset_id = ${d.id} AND s.accepted > 0
           AND s.id > coalesce((SELECT max(r.shard_high) FROM releases r WHERE r.dataset_id = ${d.id} AND r.status = 'published'), 0))`,
    )
    .orderBy(d.name)
    .all();
}

export async function scheduled(controller: ScheduledController, env: Env, _ctx: ExecutionContext): Promise<void> {
  const now = new Date(controller.scheduledTime);
  const due = await datasetsWithNewSamples(env);
  let published = 0;
  for (const dataset of due) {
    try {
      const out = await startRelease(env, dataset, { now });
      if (out) {
        published++;
        console.log(`release ${dataset.name}@${out.version}: ${"status" in out ? "compiling in steps" : `${out.counts.rows} rows`}`);
      }
    } catch (e) {
      console.error(`release of ${dataset.name} failed`, e);
    }
  }
  console.log(`cron ${controller.cron}: ${published} of ${due.length} due datasets released`);
}
