// The meter counts what the bindings really do, and changes nothing they return: the same drizzle
// queries (selects, joins with repeated column names, inserts with returning, batches) give the
// same results through the metered env as through the plain one.
import { env } from "cloudflare:workers";
import { eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { alias, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { Env } from "./env";
import { Meter, resultColumnCount, withMetering } from "./metering";

const items = sqliteTable("meter_items", { id: integer("id").primaryKey(), name: text("name").notNull(), parentId: integer("parent_id") });

beforeAll(async () => {
  await env.DB.batch([
    env.DB.prepare("CREATE TABLE IF NOT EXISTS meter_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, parent_id INTEGER)"),
    env.DB.prepare("CREATE TABLE IF NOT EXISTS meter_tally (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"),
    env.DB.prepare("INSERT OR IGNORE INTO meter_tally (id, n) VALUES (1, 0)"),
    // Like d1/migrations' counters: a trigger's writes are billed rows too.
    env.DB.prepare("CREATE TRIGGER IF NOT EXISTS meter_items_count AFTER INSERT ON meter_items BEGIN UPDATE meter_tally SET n = n + 1 WHERE id = 1; END"),
  ]);
});

/** The same sequence of drizzle queries, on whichever env it is given. */
async function sequence(e: Env, base: number) {
  const d = drizzle(e.DB);
  const parent = alias(items, "parent");
  const inserted = await d.insert(items).values({ id: base, name: `root-${base}` }).returning();
  const child = await d.insert(items).values({ id: base + 1, name: `child-${base}`, parentId: base }).returning({ id: items.id });
  const [, updated] = await d.batch([
    d.insert(items).values({ id: base + 2, name: `other-${base}`, parentId: base }),
    d.update(items).set({ name: sql`${items.name} || '!'` }).where(eq(items.id, base + 2)).returning(),
  ]);
  const joined = await d
    .select({ id: items.id, name: items.name, parentName: parent.name })
    .from(items)
    .leftJoin(parent, eq(parent.id, items.parentId))
    .where(sql`${items.id} >= ${base} AND ${items.id} < ${base + 10}`)
    .orderBy(items.id)
    .all();
  const one = await d.select().from(items).where(eq(items.id, base)).get();
  const count = await e.DB.prepare("SELECT count(*) AS n FROM meter_items WHERE id >= ?1 AND id < ?2").bind(base, base + 10).first<number>("n");
  const row = await e.DB.prepare("SELECT name FROM meter_items WHERE id = ?1").bind(base).first();
  const none = await e.DB.prepare("SELECT name FROM meter_items WHERE id = -1").first();
  const raw = await e.DB.prepare("SELECT i.name, p.name FROM meter_items i JOIN meter_items p ON p.id = i.parent_id WHERE i.id = ?1").bind(base + 1).raw();
  return { inserted, child, updated, joined, one, count, row, none, raw };
}

describe("D1", () => {
  it("returns exactly what the plain binding returns, and counts every statement", async () => {
    const plain = await sequence(env, 1000);
    const meter = new Meter();
    const metered = await sequence(meter.wrap(env), 2000);
    const shift = (v: unknown) => JSON.parse(JSON.stringify(v).replace(/\b(-?)10(\d\d)\b/g, "$120$2"));
    expect(metered).toEqual(shift(plain));
    // Repeated names ("name" twice) keep both values, in order.
    expect(metered.raw).toEqual([["child-2000", "root-2000"]]);
    expect(metered.joined.map((r) => r.parentName)).toEqual([null, "root-2000", "root-2000"]);

    const c = meter.counts.d1;
    // 2 inserts, a batch of 2, 1 join, 1 get, 4 prepared: 10 statements.
    expect(c.queries).toBe(10);
    // Each insert writes its row and the trigger's tally row; the update writes one more.
    expect(c.rows_written).toBeGreaterThanOrEqual(3 * 2 + 1);
    expect(c.rows_read).toBeGreaterThan(0);
    expect(c.size_after).toBeGreaterThan(0);
  });

  it("reports the same rows read and written as the statements' own meta", async () => {
    const stmt = (e: Env, id: number) => e.DB.prepare("INSERT INTO meter_items (id, name) VALUES (?1, 'x')").bind(id);
    const direct = await stmt(env, 3000).run();
    const meter = new Meter();
    await stmt(meter.wrap(env), 3001).run();
    expect(meter.counts.d1).toMatchObject({ queries: 1, rows_read: direct.meta.rows_read, rows_written: direct.meta.rows_written });
    expect(direct.meta.rows_written).toBe(2); // the row and the trigger's update
  });
});

describe("R2, Queues, Durable Objects", () => {
  it("counts class A and B operations and the bytes stored", async () => {
    const meter = new Meter();
    const b = meter.wrap(env).BUCKET;
    await b.put("meter/a", "hello");
    expect(await (await b.get("meter/a"))?.text()).toBe("hello");
    expect((await b.head("meter/a"))?.size).toBe(5);
    expect((await b.list({ prefix: "meter/" })).objects.map((o) => o.key)).toContain("meter/a");
    const up = await b.createMultipartUpload("meter/mp");
    const part = await up.uploadPart(1, "world!");
    await up.complete([part]);
    await b.delete(["meter/a", "meter/mp"]);
    expect(meter.counts.r2).toEqual({
      class_a: 5, // put, list, create, part, complete
      class_b: 2, // get, head
      deletes: 1,
      bytes_put: 5 + 6,
      ops: { put: 1, get: 1, head: 1, list: 1, createMultipartUpload: 1, uploadPart: 1, completeMultipartUpload: 1, delete: 1 },
    });
  });

  it("counts queue messages and their 64 KB units", async () => {
    const meter = new Meter();
    const q = meter.wrap(env).TASKS as unknown as Queue<unknown>;
    // Bodies that break the task contract: the consumer drops them.
    await q.send({ meter: "x".repeat(70 * 1024) });
    await q.sendBatch([{ body: { meter: 1 } }, { body: { meter: 2 } }]);
    const small = JSON.stringify({ meter: 1 }).length;
    expect(meter.counts.queue).toMatchObject({ sent: 3, sent_units: 2 + 1 + 1, sent_bytes: JSON.stringify({ meter: "x".repeat(70 * 1024) }).length + 2 * small });
  });

  it("counts each stub call as one Durable Object request and passes results through", async () => {
    const meter = new Meter();
    const e = meter.wrap(env);
    const ns = e.THROTTLE;
    const stub = ns.get(ns.idFromName("meter-model"));
    const grant = await stub.acquire("meter-consumer");
    await stub.report("meter-consumer", { ok: 1, limited: 0 });
    expect(grant.permits).toBeGreaterThan(0);
    const verdict = await e.RATE_LIMITER.get(e.RATE_LIMITER.idFromName("meter-key")).take(1000);
    expect(verdict).toBeTruthy();
    expect(meter.counts.durable_objects).toEqual({ THROTTLE: 2, RATE_LIMITER: 1 });
  });
});

describe("withMetering", () => {
  it("passes the env through untouched when off, and prints one line per invocation when on", async () => {
    const seen: Env[] = [];
    const handler = withMetering({
      fetch: async (_req, e) => {
        seen.push(e);
        await e.BUCKET.head("meter/none");
        return new Response("ok", { status: 201 });
      },
      queue: async () => {},
      scheduled: async () => {},
    });
    const ctx = {} as ExecutionContext;
    await handler.fetch(new Request("http://x/v1/jobs/abc"), env, ctx);
    expect(seen[0]).toBe(env);

    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await handler.fetch(new Request("http://x/v1/jobs/abc"), { ...env, METER_PLATFORM: "1" }, ctx);
      await handler.queue(
        { queue: "q", messages: [{ body: { a: 1 }, attempts: 2 }] } as unknown as MessageBatch<unknown>,
        { ...env, METER_PLATFORM: "1" },
        ctx,
      );
      expect(seen[1]).not.toBe(env);
      const lines = log.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith("[meter] "));
      expect(lines).toHaveLength(2);
      const [f, q] = lines.map((l) => JSON.parse(l.slice(8)));
      expect(f).toMatchObject({ handler: "fetch", method: "GET", path: "/v1/jobs/abc", status: 201, r2: { class_b: 1 } });
      expect(q).toMatchObject({ handler: "queue", queue_name: "q", queue: { received: 1, received_units: 1, redelivered: 1 } });
    } finally {
      log.mockRestore();
    }
  });
});

describe("resultColumnCount", () => {
  it("counts top-level select and returning lists", () => {
    expect(resultColumnCount(`select "id", "name", (select max(x, y) from t) from "a"`)).toBe(3);
    expect(resultColumnCount(`select "a"."version", "parent"."version" from "a" left join "a" "parent" on "parent"."id" = "a"."parent_id"`)).toBe(2);
    expect(resultColumnCount(`insert into "t" ("a", "b") values (?, ?) returning "id", "a", "b"`)).toBe(3);
    expect(resultColumnCount(`select 'a, b' as "x, y" from t`)).toBe(1);
    expect(resultColumnCount(`select * from t`)).toBe(-1);
    expect(resultColumnCount(`update t set a = 1`)).toBe(-1);
  });
});
