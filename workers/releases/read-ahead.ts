// Reads a few items ahead of the one being handled, in order.
//
// A compile reads one R2 object per shard (its segment's head, then its body), thousands per
// step. One at a time, a step waits out every read's round trip; in production that is ~10–30 ms
// each, several times the step's own work. With a few reads in flight the waits overlap (under
// local Miniflare, which runs in the same process, they are only ~15% cheaper: BENCHMARKS.md).
// The depth stays under the six connections a Worker invocation may hold open, leaving room for
// the multipart uploads the same step makes; every `fetch` here reads its body to the end, so no
// connection is held by an item waiting its turn. What is read ahead is also held in memory, so
// reads whose size is known up front are bounded by bytes as well.

/** Read-ahead depth of a compile's segment reads: below the platform's 6 open connections. */
export const READ_AHEAD = 4;
/** Bytes a compile's read-ahead may hold beyond the item being handled (a 400-row segment's body is ~100 KB). */
export const READ_AHEAD_BYTES = 2 * 1024 * 1024;

export interface ReadAheadOptions<T> {
  /** Fetches in flight or done but not yet handed out, at most. */
  depth?: number;
  /** With `weight`: the bytes those may add up to; the next item is always fetched, whatever its weight. */
  bytes?: number;
  /** What an item's fetch will hold in memory, when known before it is read (0: unknown). */
  weight?: (item: T) => number;
}

/**
 * Yields `[item, await fetch(item)]` for every item of `source`, in order, with fetches started
 * ahead of the consumer within `depth` and `bytes`. A consumer that stops early leaves the fetches
 * ahead of it unused (their results and errors are dropped) and closes `source`.
 */
export async function* readAhead<T, R>(source: AsyncIterable<T>, fetch: (item: T) => Promise<R>, opts: ReadAheadOptions<T> = {}): AsyncGenerator<[T, R]> {
  const { depth = READ_AHEAD, bytes = Infinity, weight = () => 0 } = opts;
  const it = source[Symbol.asyncIterator]();
  const queue: { item: T; result: Promise<R>; weight: number }[] = [];
  let held = 0;
  /** An item taken from the source whose fetch waits for room. */
  let next: { item: T } | null = null;
  let done = false;
  const fill = async () => {
    while (queue.length < depth) {
      if (!next) {
        if (done) return;
        const r = await it.next();
        if (r.done) {
          done = true;
          return;
        }
        next = { item: r.value };
      }
      const w = weight(next.item);
      if (queue.length && held + w > bytes) return;
      const result = fetch(next.item);
      // Settled now or later, an unused result must not surface as an unhandled rejection.
      result.catch(() => {});
      queue.push({ item: next.item, result, weight: w });
      held += w;
      next = null;
    }
  };
  try {
    for (;;) {
      await fill();
      const head = queue.shift();
      if (!head) return;
      held -= head.weight;
      yield [head.item, await head.result];
    }
  } finally {
    if (!done) await it.return?.();
  }
}
