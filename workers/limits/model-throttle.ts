// One Durable Object per provider model (`idFromName("openai/gpt-4o-mini")`): the AIMD limit that
// every consumer invocation shares. A consumer asks once per batch and reports once at its end,
// so the object costs two requests per ~400 candidates, not one per call. State is in memory:
// an evicted object restarts from the initial limit, which is safe (it only probes again).
import { DurableObject } from "cloudflare:workers";
import { Aimd, type Grant, type Report } from "./aimd";

export class ModelThrottle extends DurableObject {
  private aimd = new Aimd();

  acquire(consumer: string): Grant {
    return this.aimd.acquire(consumer, Date.now());
  }

  report(consumer: string, r: Report): void {
    this.aimd.report(consumer, r, Date.now());
  }
}
