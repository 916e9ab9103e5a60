// Reads V8's `--trace-gc --trace-gc-verbose` output (passed to workerd through
// ./wrangler-preload.cjs) into per-isolate memory figures. Each GC prints
//   [pid:0xISOLATE]  1234 ms: Scavenge 71.0 (123.8) -> 33.3 (116.0) MB, …
// then a table ending in "External memory reported: N KB". The heap figures are V8's object
// bytes before and after the collection; external memory is what the embedder reported (workerd
// reports ArrayBuffer backing stores and native buffers there). A GC runs whenever the heap
// reaches its limit, so the largest "before" is the heap's peak, within one young generation.

const GC = /^\[(\d+):(0x[0-9a-f]+)\]\s+[\d.]+ ms: ([A-Za-z -]+?)(?: \([a-z ]+\))? ([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;
const EXTERNAL = /^\[(\d+):(0x[0-9a-f]+)\] External memory reported:\s+(\d+) KB/;

/**
 * @param {string[]} lines wrangler output lines (a "[wrangler] " prefix is allowed)
 * @returns {Map<string, {gcs: number, markCompacts: number, heapPeakMB: number, liveMaxMB: number, externalPeakMB: number, totalPeakMB: number}>}
 */
export function gcFigures(lines) {
  const out = new Map();
  const last = new Map(); // isolate → heap MB before its latest GC
  for (const raw of lines) {
    const line = raw.replace(/^\s*\[wrangler\]\s*/, "");
    let m = GC.exec(line);
    if (m) {
      const iso = m[2];
      const f = out.get(iso) ?? { gcs: 0, markCompacts: 0, heapPeakMB: 0, liveMaxMB: 0, externalPeakMB: 0, totalPeakMB: 0 };
      const before = Number(m[4]);
      const after = Number(m[6]);
      f.gcs++;
      f.heapPeakMB = Math.max(f.heapPeakMB, before);
      // Only a full collection's result is the live set; a scavenge leaves old garbage in place.
      if (/Mark/.test(m[3]) && !/Minor/.test(m[3])) {
        f.markCompacts++;
        f.liveMaxMB = Math.max(f.liveMaxMB, after);
      }
      last.set(iso, before);
      out.set(iso, f);
      continue;
    }
    m = EXTERNAL.exec(line);
    if (m && out.has(m[2])) {
      const f = out.get(m[2]);
      const ext = Number(m[3]) / 1024;
      f.externalPeakMB = Math.max(f.externalPeakMB, ext);
      f.totalPeakMB = Math.max(f.totalPeakMB, (last.get(m[2]) ?? 0) + ext);
    }
  }
  return out;
}

/** The isolate with the largest heap: the Worker's own (Miniflare's D1/R2/queue isolates are small). */
export function largestIsolate(figures) {
  let best = null;
  for (const [isolate, f] of figures) if (!best || f.heapPeakMB > best.heapPeakMB) best = { isolate, ...f };
  return best;
}
