import { defineConfig } from "drizzle-kit";

// drizzle-kit writes SQL migrations; wrangler (`wrangler d1 migrations apply`) applies them.
export default defineConfig({
  dialect: "sqlite",
  schema: "./d1/schema.ts",
  out: "./d1/migrations",
});
