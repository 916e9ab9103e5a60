import type { D1Migration } from "cloudflare:test";
import type { Env as WinnowEnv } from "../workers/env";

declare global {
  namespace Cloudflare {
    interface Env extends WinnowEnv {
      TEST_MIGRATIONS: D1Migration[];
      FAKE_CONTROL_URL: string;
    }
  }
}
