import { defineConfig } from "drizzle-kit";

/**
 * drizzle-kit reads the typed tables (`*.table.ts`) that each capability owns. Migrations
 * are still written by hand under migrations/ (each with an up and a down, some of which
 * refuse), so use `npx drizzle-kit generate --out /tmp/draft` only to draft SQL for review.
 */
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/**/*.table.ts",
  out: "./drizzle",
  dbCredentials: { url: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/custos" },
});
