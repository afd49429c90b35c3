import path from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPlaintextFreeColumnName } from "../../src/nodes/nodes.table.ts";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";
import { REPO_ROOT } from "../support/cli.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";

function compile(file: string): string[] {
  const configPath = path.join(REPO_ROOT, "tsconfig.json");
  const read = ts.readConfigFile(configPath, (f) => ts.sys.readFile(f));
  const { options } = ts.parseJsonConfigFileContent(read.config as object, ts.sys, REPO_ROOT);
  const program = ts.createProgram([file], { ...options, noEmit: true });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

describe("the node_secret_keys column guard", () => {
  it("makes the type check fail, naming the column, when a column able to hold plaintext key material is added", () => {
    const errors = compile(path.join(REPO_ROOT, "integration", "fixtures", "nsk-guard", "plaintext-column.ts"));
    expect(errors.join("\n")).toMatch(/Type '"nsk"' does not satisfy the constraint 'never'/);
  });

  it("accepts the real table", () => {
    expect(compile(path.join(REPO_ROOT, "src", "nodes", "nodes.table.ts"))).toEqual([]);
  });
});

describe.each(storeKinds())("the live node_secret_keys schema on %s", (kind) => {
  let store: IsolatedStore;
  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrateUp(store.db, await loadMigrations(MIGRATIONS_DIR));
  });
  afterAll(async () => {
    await store.dispose();
  });

  it("has no column that could hold plaintext key material, and no binary column at all", async () => {
    const columns = await store.db.query<{ column_name: string; data_type: string }>(
      "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'node_secret_keys' ORDER BY ordinal_position",
    );
    expect(columns.length).toBeGreaterThan(0);
    expect(columns.filter((c) => !isPlaintextFreeColumnName(c.column_name))).toEqual([]);
    expect(columns.filter((c) => c.data_type === "bytea")).toEqual([]);
  });
});
