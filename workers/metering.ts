// Platform metering for bench/cost: with METER_PLATFORM="1", every invocation sees an Env whose
// D1, R2, Queue and Durable Object bindings count the billable operations they perform, and
// prints them as one `[meter] {json}` line when it ends. Counting happens at the bindings, so the
// figures are what the code really does (triggers, retries and all), not an estimate. Off (the
// default), handlers get the untouched env: nothing is wrapped.
import type { Env } from "./env";

/** Queues bill each started 64 KB of a message once for write, once per delivery (read) and once for delete. */
const QUEUE_UNIT_BYTES = 64 * 1024;

export interface MeterCounts {
  d1: { queries: number; rows_read: number; rows_written: number; size_after: number };
  r2: { class_a: number; class_b: number; deletes: number; bytes_put: number; ops: Record<string, number> };
  queue: { sent: number; sent_units: number; sent_bytes: number; received: number; received_units: number; received_bytes: number; redelivered: number };
  durable_objects: { THROTTLE: number; RATE_LIMITER: number };
}

export class Meter {
  readonly counts: MeterCounts = {
    d1: { queries: 0, rows_read: 0, rows_written: 0, size_after: 0 },
    r2: { class_a: 0, class_b: 0, deletes: 0, bytes_put: 0, ops: {} },
    queue: { sent: 0, sent_units: 0, sent_bytes: 0, received: 0, received_units: 0, received_bytes: 0, redelivered: 0 },
    durable_objects: { THROTTLE: 0, RATE_LIMITER: 0 },
  };

  /** A shallow copy of env with the metered bindings swapped in. */
  wrap(env: Env): Env {
    return {
      ...env,
      DB: new MeteredD1(env.DB, this) as unknown as D1Database,
      BUCKET: meteredBucket(env.BUCKET, this),
      TASKS: meteredQueue(env.TASKS, this),
      THROTTLE: meteredNamespace(env.THROTTLE, "THROTTLE", this),
      RATE_LIMITER: meteredNamespace(env.RATE_LIMITER, "RATE_LIMITER", this),
    };
  }

  d1(meta: D1Meta | undefined) {
    const d = this.counts.d1;
    d.queries++;
    d.rows_read += meta?.rows_read ?? 0;
    d.rows_written += meta?.rows_written ?? 0;
    // Local D1 reports the database's size after each statement: the last one is its storage.
    if (typeof meta?.size_after === "number") d.size_after = meta.size_after;
  }

  r2(op: string, cls: "a" | "b" | "free") {
    const r = this.counts.r2;
    r.ops[op] = (r.ops[op] ?? 0) + 1;
    if (cls === "a") r.class_a++;
    else if (cls === "b") r.class_b++;
    else r.deletes++;
  }

  /** Messages received by a queue invocation: every delivery, retries included, is a read. */
  received(messages: readonly Message<unknown>[]) {
    const q = this.counts.queue;
    for (const m of messages) {
      const bytes = messageBytes(m.body);
      q.received++;
      q.received_bytes += bytes;
      q.received_units += queueUnits(bytes);
      if (m.attempts > 1) q.redelivered++;
    }
  }

  line(invocation: Record<string, unknown>): string {
    return `[meter] ${JSON.stringify({ ...invocation, ...this.counts })}`;
  }
}

type D1Meta = { rows_read?: number; rows_written?: number; size_after?: number };

/** The D1 binding, counted per statement. drizzle runs most queries through `raw()`, which returns no meta. */
class MeteredD1 {
  constructor(
    private inner: D1Database,
    private meter: Meter,
  ) {}

  prepare(query: string) {
    return new MeteredStatement(this.inner.prepare(query), query, this.meter);
  }

  async batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
    const results = await this.inner.batch<T>(statements.map((s) => (s instanceof MeteredStatement ? s.inner : s)));
    for (const r of results) this.meter.d1(r.meta);
    return results;
  }

  async exec(query: string) {
    // exec returns no row counts; we never call it at run time, so this only keeps the count honest.
    const r = await this.inner.exec(query);
    for (let i = 0; i < r.count; i++) this.meter.d1(undefined);
    return r;
  }

  withSession(constraint?: string) {
    return this.inner.withSession(constraint);
  }

  dump() {
    return this.inner.dump();
  }
}

class MeteredStatement {
  constructor(
    readonly inner: D1PreparedStatement,
    private sql: string,
    private meter: Meter,
  ) {}

  bind(...values: unknown[]) {
    return new MeteredStatement(this.inner.bind(...values), this.sql, this.meter);
  }

  async run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    const r = await this.inner.run<T>();
    this.meter.d1(r.meta);
    return r;
  }

  async all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    const r = await this.inner.all<T>();
    this.meter.d1(r.meta);
    return r;
  }

  // D1's first() is all() then the first row (no LIMIT added), but it drops the meta.
  async first<T = unknown>(column?: string): Promise<T | null> {
    const row = (await this.all<Record<string, unknown>>()).results[0];
    if (!row) return null;
    if (column === undefined) return row as T;
    if (!(column in row)) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${column})`);
    return row[column] as T;
  }

  /**
   * raw() drops the meta, so run the statement with run() and turn its row objects back into
   * arrays in column order. That is exact only while the result's column names are unique (an
   * object keeps one value per name); a SELECT whose objects have fewer keys than its select
   * list has is re-read with raw() (reads have no side effects), and a write is never repeated.
   */
  async raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<T[] | [string[], ...T[]]> {
    const r = await this.run<Record<string, unknown>>();
    const rows = r.results;
    const names = rows.length ? Object.keys(rows[0]!) : [];
    const expected = resultColumnCount(this.sql);
    const read = isRead(this.sql);
    // A write's RETURNING list we cannot parse is `*` of its one table: unique names.
    if (rows.length && expected !== names.length && !(expected === -1 && !read)) {
      if (!read) throw new Error(`[meter] cannot map raw() rows of a write with duplicate column names: ${this.sql}`);
      return options?.columnNames ? this.inner.raw<T>({ columnNames: true }) : this.inner.raw<T>();
    }
    const arrays = rows.map((o) => Object.values(o)) as T[];
    // Column names for an empty result would need the statement's metadata; nothing asks for them.
    return options?.columnNames ? [names, ...arrays] : arrays;
  }
}

/**
 * How many columns a statement returns: the items of its top-level select list, or of its
 * RETURNING list. -1 when it cannot tell (which makes a SELECT fall back to raw()).
 */
export function resultColumnCount(sql: string): number {
  // Blank out quoted text and count items at parenthesis depth 0.
  const flat = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`/g, (m) => "q".repeat(m.length));
  let depth = 0;
  let top = "";
  for (const ch of flat) {
    if (ch === "(") {
      if (depth++ === 0) top += "x";
    } else if (ch === ")") depth--;
    else if (depth === 0) top += ch;
  }
  const returning = /\breturning\b([\s\S]*)$/i.exec(top);
  const select = /\bselect\b(?:\s+distinct\b)?([\s\S]*?)(?:\bfrom\b|$)/i.exec(top);
  const list = returning?.[1] ?? select?.[1];
  if (list === undefined || /(^|[\s,.])\*/.test(list)) return -1;
  return list.split(",").length;
}

/** A statement with no side effects, safe to run a second time. */
export function isRead(sql: string): boolean {
  return /^\s*(select|with)\b/i.test(sql) && !/\b(insert|update|delete|replace)\b/i.test(sql);
}

function messageBytes(body: unknown): number {
  // Queues serialise with v8 by default; JSON's UTF-8 length is within a few bytes of it for our plain objects.
  return new TextEncoder().encode(JSON.stringify(body) ?? "").length;
}

const queueUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / QUEUE_UNIT_BYTES));

function meteredQueue<T>(inner: Queue<T>, meter: Meter): Queue<T> {
  const q = meter.counts.queue;
  const sent = (body: unknown) => {
    const bytes = messageBytes(body);
    q.sent++;
    q.sent_bytes += bytes;
    q.sent_units += queueUnits(bytes);
  };
  return {
    send(body, options) {
      sent(body);
      return inner.send(body, options);
    },
    sendBatch(messages, options) {
      const all = [...messages];
      for (const m of all) sent(m.body);
      return inner.sendBatch(all, options);
    },
  } as Queue<T>;
}

function meteredBucket(inner: R2Bucket, meter: Meter): R2Bucket {
  const wrapUpload = (u: R2MultipartUpload): R2MultipartUpload => ({
    key: u.key,
    uploadId: u.uploadId,
    uploadPart: (...a: Parameters<R2MultipartUpload["uploadPart"]>) => (meter.r2("uploadPart", "a"), u.uploadPart(...a)),
    abort: () => (meter.r2("abortMultipartUpload", "free"), u.abort()),
    complete: async (parts: R2UploadedPart[]) => {
      meter.r2("completeMultipartUpload", "a");
      const o = await u.complete(parts);
      meter.counts.r2.bytes_put += o.size;
      return o;
    },
  });
  return {
    head: (key: string) => (meter.r2("head", "b"), inner.head(key)),
    get: ((key: string, options?: R2GetOptions) => (meter.r2("get", "b"), inner.get(key, options))) as R2Bucket["get"],
    put: (async (...a: Parameters<R2Bucket["put"]>) => {
      meter.r2("put", "a");
      const o = await inner.put(...a);
      if (o) meter.counts.r2.bytes_put += o.size;
      return o;
    }) as R2Bucket["put"],
    list: (options?: R2ListOptions) => (meter.r2("list", "a"), inner.list(options)),
    delete: (keys: string | string[]) => (meter.r2("delete", "free"), inner.delete(keys)),
    createMultipartUpload: async (key: string, options?: R2MultipartOptions) => (meter.r2("createMultipartUpload", "a"), wrapUpload(await inner.createMultipartUpload(key, options))),
    resumeMultipartUpload: (key: string, uploadId: string) => wrapUpload(inner.resumeMultipartUpload(key, uploadId)),
  } as R2Bucket;
}

/** A namespace whose stubs count each method call as one Durable Object request (each is its own RPC session). */
function meteredNamespace<N extends DurableObjectNamespace<any>>(inner: N, name: "THROTTLE" | "RATE_LIMITER", meter: Meter): N {
  const d = meter.counts.durable_objects;
  const meterStub = (stub: object) =>
    new Proxy(stub, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== "function" || prop === "then") return value;
        return (...args: unknown[]) => {
          d[name]++;
          return Reflect.apply(value, target, args);
        };
      },
    });
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      if (prop === "get" || prop === "getByName") return (...args: unknown[]) => meterStub(Reflect.apply(value, target, args));
      return value.bind(target);
    },
  });
}

const on = (env: Env) => env.METER_PLATFORM === "1";

/** The Worker's handlers, metered per invocation when METER_PLATFORM is "1". */
export function withMetering(handler: {
  fetch: (req: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;
  queue: (batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext) => Promise<void>;
  scheduled: (controller: ScheduledController, env: Env, ctx: ExecutionContext) => Promise<void>;
}) {
  return {
    async fetch(req: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
      if (!on(env)) return handler.fetch(req, env, ctx);
      const meter = new Meter();
      let status = 0;
      try {
        const res = await handler.fetch(req, meter.wrap(env), ctx);
        status = res.status;
        return res;
      } finally {
        console.log(meter.line({ handler: "fetch", method: req.method, path: new URL(req.url).pathname, status }));
      }
    },
    async queue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext): Promise<void> {
      if (!on(env)) return handler.queue(batch, env, ctx);
      const meter = new Meter();
      meter.received(batch.messages);
      try {
        await handler.queue(batch, meter.wrap(env), ctx);
      } finally {
        console.log(meter.line({ handler: "queue", queue_name: batch.queue }));
      }
    },
    async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
      if (!on(env)) return handler.scheduled(controller, env, ctx);
      const meter = new Meter();
      try {
        await handler.scheduled(controller, meter.wrap(env), ctx);
      } finally {
        console.log(meter.line({ handler: "scheduled", cron: controller.cron }));
      }
    },
  };
}
