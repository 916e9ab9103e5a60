// Additive-increase, multiplicative-decrease concurrency for one provider model, shared by every
// consumer invocation (held in a Durable Object, see model-throttle.ts). TCP's congestion rule
// fits rate limits well: grow by about one call per round of successes, halve on a 429, and when
// the provider names a retry-after, pause everyone until then instead of letting each consumer
// discover the limit with its own failed calls.

export interface AimdOptions {
  initial: number;
  min: number;
  max: number;
  /** Consumers not seen for this long no longer share the limit (a crashed invocation). */
  staleMs: number;
}

export interface Grant {
  /** Concurrent calls this consumer may make to the model now (0 while paused). */
  permits: number;
  /** Seconds until the model may be called again, when paused. */
  waitSeconds: number;
  limit: number;
}

export interface Report {
  ok: number;
  limited: number;
  retryAfterSeconds?: number;
}

export const DEFAULT_AIMD: AimdOptions = { initial: 12, min: 1, max: 256, staleMs: 15 * 60_000 };

export class Aimd {
  limit: number;
  pausedUntil = 0;
  private lastCut = 0;
  private consumers = new Map<string, number>();

  constructor(private opts: AimdOptions = DEFAULT_AIMD) {
    this.limit = opts.initial;
  }

  acquire(consumer: string, now: number): Grant {
    if (now < this.pausedUntil) return { permits: 0, waitSeconds: Math.ceil((this.pausedUntil - now) / 1000), limit: this.limit };
    for (const [id, seen] of this.consumers) if (now - seen > this.opts.staleMs) this.consumers.delete(id);
    this.consumers.set(consumer, now);
    // An equal share of the limit, but never zero: a consumer that got a task must make progress.
    return { permits: Math.max(1, Math.floor(this.limit / this.consumers.size)), waitSeconds: 0, limit: this.limit };
  }

  report(consumer: string, r: Report, now: number): void {
    this.consumers.delete(consumer);
    if (r.limited > 0) {
      // One cut per congestion event: the 429s of one burst arrive together from many consumers.
      if (now - this.lastCut > 1000) {
        this.limit = Math.max(this.opts.min, this.limit / 2);
        this.lastCut = now;
      }
      this.pausedUntil = Math.max(this.pausedUntil, now + Math.max(1, r.retryAfterSeconds ?? 1) * 1000);
    } else if (r.ok > 0) {
      // +1 per `limit` successes: about one more concurrent call per round trip.
      this.limit = Math.min(this.opts.max, this.limit + r.ok / this.limit);
    }
  }
}
