// The consumer's side of rate limiting, per teacher model:
//   - once per batch, ask the model's ModelThrottle object how many calls this invocation may
//     run at once (its AIMD share), or whether the model is paused by a recent retry-after;
//   - within the batch, a 429 closes the model's gate: the slot that got it is re-queued with
//     the provider's delay, and the other slots wait for the gate (or, for a long wait, are
//     re-queued too) instead of each discovering the limit with its own failed call;
//   - at the end, report successes and 429s, which is what moves the shared limit.
import type { Grant, Report } from "../limits/aimd";
import type { Env } from "../env";
import { ProviderError } from "../../models/types";
import { limiter } from "./limit";

/** Waits up to this long in the invocation for a closed gate; longer ones are re-queued. */
const INLINE_WAIT_SECONDS = 10;

interface ModelState {
  grant: Grant;
  /** This invocation's own AIMD on top of its share: halve on a 429, grow with successes. */
  local: number;
  run: ReturnType<typeof limiter>;
  gateUntil: number;
  report: Report;
}

export class Throttles {
  private models = new Map<string, ModelState>();

  constructor(
    private env: Env,
    private consumer: string,
    private maxPerInvocation: number,
  ) {}

  /** Asks each model's throttle for this batch's share. Returns the models that are paused, with their wait. */
  async acquire(models: Iterable<string>): Promise<Map<string, number>> {
    const paused = new Map<string, number>();
    await Promise.all(
      [...new Set(models)].filter((m) => !this.models.has(m)).map(async (model) => {
        // A throttle that cannot be reached must not stop the work: fall back to the local cap.
        const grant = await this.stub(model)
          .acquire(this.consumer)
          .catch((e: unknown): Grant => (console.error(`throttle for ${model} unavailable`, e), { permits: this.maxPerInvocation, waitSeconds: 0, limit: this.maxPerInvocation }));
        if (grant.waitSeconds > 0) return void paused.set(model, grant.waitSeconds);
        const local = Math.min(this.maxPerInvocation, grant.permits);
        this.models.set(model, { grant, local, run: limiter(local), gateUntil: 0, report: { ok: 0, limited: 0 } });
      }),
    );
    return paused;
  }

  /** Runs a call within the model's share of concurrency. */
  run<T>(model: string, fn: () => Promise<T>): Promise<T> {
    const m = this.models.get(model);
    return m ? m.run(fn) : fn();
  }

  /** Before a call: wait for the model's gate, or a ProviderError to re-queue with if the wait is long. */
  async gate(model: string): Promise<ProviderError | null> {
    const m = this.models.get(model);
    const wait = m ? m.gateUntil - Date.now() : 0;
    if (wait <= 0) return null;
    if (wait > INLINE_WAIT_SECONDS * 1000)
      return new ProviderError("rate_limited", `${model} is rate limited; waiting ${Math.ceil(wait / 1000)} s before calling again`, true, 429, Math.ceil(wait / 1000));
    await new Promise((r) => setTimeout(r, wait));
    return null;
  }

  /** After a call: count it, and close the gate on a 429. */
  record(model: string, error: ProviderError | null) {
    const m = this.models.get(model);
    if (!m) return;
    if (error?.code === "rate_limited") {
      m.report.limited++;
      const seconds = Math.max(1, error.retryAfterSeconds ?? 1);
      m.report.retryAfterSeconds = Math.max(m.report.retryAfterSeconds ?? 0, seconds);
      m.gateUntil = Math.max(m.gateUntil, Date.now() + seconds * 1000);
      m.local = Math.max(1, m.local / 2);
    } else if (!error) {
      m.report.ok++;
      // Once this batch has met the limit, probe upwards four times more slowly: another 429
      // costs everyone a retry-after pause.
      m.local = Math.min(this.maxPerInvocation, m.grant.permits, m.local + 1 / (m.local * (m.report.limited ? 4 : 1)));
    } else return;
    m.run.setLimit(m.local);
  }

  /** Tell every model's throttle how this batch went; never fails the batch. */
  async report(): Promise<void> {
    await Promise.all(
      [...this.models].map(([model, m]) => this.stub(model).report(this.consumer, m.report).catch((e: unknown) => console.error(`throttle report for ${model} failed`, e))),
    );
  }

  private stub(model: string) {
    return this.env.THROTTLE.get(this.env.THROTTLE.idFromName(model));
  }
}
