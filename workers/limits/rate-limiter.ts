// Per-key API rate limits: one Durable Object per key (or per client IP for anonymous reads)
// holding a token bucket, so the limit holds across every isolate and colo. The bucket refills
// continuously at `perMinute / 60` tokens a second and holds at most `perMinute`, which allows a
// burst of one minute's worth and then the steady rate. In memory: an evicted object starts full.
import { DurableObject } from "cloudflare:workers";

export interface Verdict {
  ok: boolean;
  /** Whole seconds until one token is available again (0 when ok). */
  retryAfterSeconds: number;
  remaining: number;
}

export class RateLimiter extends DurableObject {
  private tokens = -1;
  private at = 0;

  take(perMinute: number): Verdict {
    const now = Date.now();
    const rate = perMinute / 60_000;
    this.tokens = this.tokens < 0 ? perMinute : Math.min(perMinute, this.tokens + (now - this.at) * rate);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true, retryAfterSeconds: 0, remaining: Math.floor(this.tokens) };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.tokens) / rate / 1000)), remaining: 0 };
  }
}
