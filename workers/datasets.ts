import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { db, schema } from "./db";
import type { AppContext } from "./env";
import { notFound } from "./errors";

export type DatasetRow = typeof schema.datasets.$inferSelect;

/**
 * The dataset a caller may see: their own, or (for reads) a public one. Anything else is a
 * 404, so another key cannot even learn that a private dataset exists from a read.
 */
export async function loadDataset(c: Context<AppContext>, name: string, access: "read" | "write"): Promise<DatasetRow> {
  const row = await db(c.env).select().from(schema.datasets).where(eq(schema.datasets.name, name)).get();
  const keyId = c.get("keyId");
  if (!row) throw notFound(`dataset '${name}'`);
  if (row.keyId === keyId) return row;
  if (access === "read" && row.visibility === "public") return row;
  throw notFound(`dataset '${name}'`);
}
