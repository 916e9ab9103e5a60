// Operations over many objects at once, in the pages R2 takes and gives.

/** Every key under `prefix`, page by page (R2 lists at most 1,000 a call). */
export async function listKeys(bucket: R2Bucket, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (let cursor: string | undefined, more = true; more; ) {
    const page = await bucket.list({ prefix, cursor, limit: 1000 });
    out.push(...page.objects.map((o) => o.key));
    more = page.truncated;
    cursor = page.truncated ? page.cursor : undefined;
  }
  return out;
}

/**
 * Deletes `keys` from `bucket`, 1,000 a call (the most one R2 delete takes). With `bestEffort`, a
 * call that fails is skipped and the rest still run: for cleanups that must not fail their caller.
 */
export async function deleteKeys(bucket: R2Bucket, keys: string[], opts: { bestEffort?: boolean } = {}): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const done = bucket.delete(keys.slice(i, i + 1000));
    await (opts.bestEffort ? done.catch(() => {}) : done);
  }
}
