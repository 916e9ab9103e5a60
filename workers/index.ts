// The one Worker: `fetch` serves the API (and viewer), `queue` runs tasks and records dead
// ones, `scheduled` compiles the daily releases.
import { app } from "./app";
import type { Env } from "./env";
import { handleQueue } from "./jobs/queue";
import { withMetering } from "./metering";
import { scheduled } from "./scheduled";

export { ModelThrottle } from "./limits/model-throttle";
export { RateLimiter } from "./limits/rate-limiter";

// bench/cost sets METER_PLATFORM=1 to count every binding operation; off, the env passes through.
export default withMetering({
  fetch: app.fetch,
  queue: handleQueue,
  scheduled,
}) satisfies ExportedHandler<Env, unknown>;
