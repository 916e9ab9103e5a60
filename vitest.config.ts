import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import path from "node:path";
import { defineConfig } from "vitest/config";
import { startFakeOpenAI } from "./test/fake-openai.mjs";

export default defineConfig(async () => {
  // A real HTTP server on loopback that speaks OpenAI's wire format (and its errors). It runs
  // in this Node process; the Worker under test reaches it through OPENAI_BASE_URL.
  const fake = await startFakeOpenAI({ port: 0 });
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "d1/migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            OPENAI_BASE_URL: `${fake.url}/v1`,
            OPENAI_API_KEY: "sk-test",
            // The same fake answers Anthropic's Messages and Message Batches APIs.
            ANTHROPIC_BASE_URL: fake.url,
            ANTHROPIC_API_KEY: "sk-ant-test",
            ADMIN_TOKEN: "admin-test-token",
            TASK_LEASE_SECONDS: "30",
            PROVIDER_TIMEOUT_MS: "3000",
            FAKE_CONTROL_URL: fake.url,
            // Tests poll hard; the rate-limit test creates a key with its own low limit.
            API_RATE_LIMIT_PER_MIN: "1000000",
            BATCH_POLL_SECONDS: "1",
            // Models only the budget tests use, priced so that a few tasks cost real money.
            MODEL_PRICES: JSON.stringify({ "budget-teacher": { input: 10, output: 40 }, "judge-8": { input: 5, output: 20 } }),
          },
        },
      }),
    ],
    test: {
      include: ["**/*.test.ts"],
      exclude: ["node_modules/**", "test/node/**"],
      setupFiles: ["./test/apply-migrations.ts"],
      // Vitest's default is one worker fewer than the CPUs: one, on these 2-core machines. Most
      // of a file's time is workerd starting and the Worker's modules loading, so two overlap.
      maxWorkers: 2,
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
});
