// Reads a few items ahead of the one being handled, in order.
//
// A compile reads one R2 object per shard (its segment's head, then its body), thousands per
// step. One at a time, a step waits out every read's round trip; in production that is ~10–30 ms
// each, several times the step's own work. With a few reads in flight the waits overlap (and
// under local Miniflare a read ahead cost ~15% less, bench/release). The depth stays under the
// six connections a Worker invocation may hold open, leaving room for the multipart uploads the
// same step makes; every `fetch` here reads its body to the end, so no connection is held by an
// item waiting its turn.

/** Read-ahead depth of a compile's segment reads: below the platform's 6 open connections. */
export const READ_AHEAD = 4;

/**
 * Yields `[item, await fetch(item)]` for every item of `source`, in order, with up to `depth`
 * fetches started ahead of the consumer. A consumer that stops early leaves at most `depth - 1`
 * fetches unused (their results and errors are dropped) and closes `source`.
 */
export async function* readAhead<T, R>(source: AsyncIterable<T>, fetch: (item: T) => Promise<R>, depth = READ_AHEAD): AsyncGenerator<[T, R]> {
  const it = source[Symbol.asyncIterator]();
  const queue: { item: T; result: Promise<R> }[] = [];
  let done = false;
  const fill = async () => {
    while (!done && queue.length < depth) {
      const next = await it.next();
      if (next.done) done = true;
      else {
        const result = fetch(next.value);
        // Settled now or later, an unused result must not surface as an unhandled rejection.
        result.catch(() => {});
        queue.push({ item: next.value, result });
      }
    }
  };
  try {
    for (;;) {
      await fill();
      const head = queue.shift();
      if (!head) return;
      yield [head.item, await head.result];
    }
  } finally {
    if (!done) await it.return?.();
  }
}
