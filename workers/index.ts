// The one Worker: `fetch` serves the API (and viewer), `queue` runs tasks and records dead
// ones, `scheduled` compiles the daily releases.
import { app } from "./app";
import type { Env } from "./env";
import { handleQueue } from "./jobs/queue";
import { scheduled } from "./scheduled";

export { ModelThrottle } from "./limits/model-throttle";
export { RateLimiter } from "./limits/rate-limiter";

export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled,
} satisfies ExportedHandler<Env, unknown>;
