/**
 * A counting semaphore: at most `limit` calls run at once. One limiter is shared by every message
 * of a batch, because the platform allows 6 simultaneous outgoing connections per invocation.
 * `setLimit` changes the bound for calls not yet started (a throttle shrinking on a 429).
 */
export function limiter(n: number) {
  let limit = n;
  let active = 0;
  const waiting: (() => void)[] = [];
  const run = async function run<T>(fn: () => Promise<T>): Promise<T> {
    while (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
  return Object.assign(run, {
    setLimit(next: number) {
      limit = Math.max(1, Math.floor(next));
      // Wake as many waiters as the new bound admits; the rest re-check and wait again.
      for (let i = active; i < limit && waiting.length; i++) waiting.shift()?.();
    },
  });
}

/** A stable pseudo-random number in [0, 1) from a string (FNV-1a), for reproducible choices. */
export function stableUnit(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}
