/**
 * A counting semaphore: at most `n` calls run at once. One limiter is shared by every message of
 * a batch, because the platform allows 6 simultaneous outgoing connections per invocation.
 */
export function limiter(n: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(fn: () => Promise<T>): Promise<T> {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
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
