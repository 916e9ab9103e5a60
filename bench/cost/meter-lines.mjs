// The `[meter] {json}` lines workers/metering.ts prints, parsed, classified and summed.

/** Meter records in some log lines, split into the user's status polls of `jobId` and the rest. */
export function classify(lines, jobId) {
  const all = [];
  for (const line of lines) {
    const i = line.indexOf("[meter] {");
    if (i < 0) continue;
    try {
      all.push(JSON.parse(line.slice(i + 8)));
    } catch {
      throw new Error(`unparsable meter line: ${line.slice(0, 300)}`);
    }
  }
  const isPoll = (m) => m.handler === "fetch" && m.method === "GET" && m.path === `/v1/jobs/${jobId}`;
  // Health checks come from the bench's start-up wait only.
  const isHealth = (m) => m.handler === "fetch" && m.path === "/healthz";
  return { all, polls: all.filter(isPoll), work: all.filter((m) => !isPoll(m) && !isHealth(m)) };
}

/** Sums meter records (or earlier sums) field by field; `invocations` counts them per handler. */
export function sumMeters(records) {
  const out = {
    invocations: { fetch: 0, queue: 0, scheduled: 0 },
    d1: { queries: 0, rows_read: 0, rows_written: 0 },
    r2: { class_a: 0, class_b: 0, deletes: 0, bytes_put: 0, ops: {} },
    queue: { sent: 0, sent_units: 0, sent_bytes: 0, received: 0, received_units: 0, received_bytes: 0, redelivered: 0 },
    durable_objects: { THROTTLE: 0, RATE_LIMITER: 0 },
  };
  const add = (into, from) => {
    for (const [k, v] of Object.entries(from ?? {})) {
      if (typeof v === "number") into[k] = (into[k] ?? 0) + v;
      else if (v && typeof v === "object") add((into[k] ??= {}), v);
    }
  };
  for (const m of records) {
    if (m.invocations) add(out.invocations, m.invocations);
    else out.invocations[m.handler]++;
    const { size_after: _size, ...d1 } = m.d1 ?? {};
    add(out.d1, d1);
    add(out.r2, m.r2);
    add(out.queue, m.queue);
    add(out.durable_objects, m.durable_objects);
  }
  return out;
}
