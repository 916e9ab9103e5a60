// Cloudflare list prices (Workers Paid, beyond the included usage), checked 2026-11 on the pages
// named in `source`. Free tiers and included usage are ignored on purpose: the figure is the
// marginal cost of one more run.
const M = 1e6;
export const PRICES = {
  workersRequest: { usd: 0.3 / M, text: "$0.30 / M requests", source: "https://developers.cloudflare.com/workers/platform/pricing/" },
  workersCpuMs: { usd: 0.02 / M, text: "$0.02 / M CPU ms", source: "https://developers.cloudflare.com/workers/platform/pricing/" },
  queueOp: { usd: 0.4 / M, text: "$0.40 / M operations (per 64 KB)", source: "https://developers.cloudflare.com/queues/platform/pricing/" },
  d1Read: { usd: 0.001 / M, text: "$0.001 / M rows", source: "https://developers.cloudflare.com/d1/platform/pricing/" },
  d1Write: { usd: 1.0 / M, text: "$1.00 / M rows", source: "https://developers.cloudflare.com/d1/platform/pricing/" },
  d1Storage: { usd: 0.75, text: "$0.75 / GB-month", source: "https://developers.cloudflare.com/d1/platform/pricing/" },
  r2ClassA: { usd: 4.5 / M, text: "$4.50 / M requests", source: "https://developers.cloudflare.com/r2/pricing/" },
  r2ClassB: { usd: 0.36 / M, text: "$0.36 / M requests", source: "https://developers.cloudflare.com/r2/pricing/" },
  r2Storage: { usd: 0.015, text: "$0.015 / GB-month", source: "https://developers.cloudflare.com/r2/pricing/" },
  doRequest: { usd: 0.15 / M, text: "$0.15 / M requests (each RPC method call)", source: "https://developers.cloudflare.com/durable-objects/platform/pricing/" },
  doGbS: { usd: 12.5 / M, text: "$12.50 / M GB-s", source: "https://developers.cloudflare.com/durable-objects/platform/pricing/" },
};

/** Priced rows for summed meter counts and the Worker CPU ms of the same work. */
export function price(m, cpuMs) {
  const P = PRICES;
  const row = (name, count, p) => ({ name, count, unitUsd: p.usd, priceText: p.text });
  return [
    row("Workers requests (API + queue invocations)", m.invocations.fetch + m.invocations.queue + m.invocations.scheduled, P.workersRequest),
    row("Workers CPU ms (workerd, upper bound)", cpuMs, P.workersCpuMs),
    row("Queues writes (64 KB units sent)", m.queue.sent_units, P.queueOp),
    row("Queues reads (64 KB units delivered, retries incl.)", m.queue.received_units, P.queueOp),
    row("Queues deletes (one per unit written)", m.queue.sent_units, P.queueOp),
    row("D1 rows read", m.d1.rows_read, P.d1Read),
    row("D1 rows written (triggers incl.)", m.d1.rows_written, P.d1Write),
    row("R2 class A (put, list, multipart)", m.r2.class_a, P.r2ClassA),
    row("R2 class B (get, head)", m.r2.class_b, P.r2ClassB),
    row("Durable Object requests (throttle + rate limiter)", m.durable_objects.THROTTLE + m.durable_objects.RATE_LIMITER, P.doRequest),
    // Not measurable locally (the clock does not move inside an invocation without I/O); both
    // objects answer from memory, so assume 10 ms active per request, generously.
    row("Durable Object duration (GB-s, assumed 10 ms × 128 MB per request)", (m.durable_objects.THROTTLE + m.durable_objects.RATE_LIMITER) * 0.01 * 0.128, P.doGbS),
  ];
}
