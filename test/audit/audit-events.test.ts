import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AUDIT_ACTIONS } from "../../src/audit/audit-vocabulary.ts";
import { reasonsInCode } from "./audit-events-source.ts";

/**
 * docs/audit-events.md against the code: no action, decision or reason an audit record can
 * carry is left undocumented, and no documented action or decision is one the code lost.
 */
const DOC = readFileSync(new URL("../../docs/audit-events.md", import.meta.url), "utf8");

/** The backticked first cells of the table rows under `## title`. */
function firstCells(title: string): Set<string> {
  const start = DOC.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/audit-events.md has no section ${title}`);
  const end = DOC.indexOf("\n## ", start + 1);
  const cells = new Set<string>();
  for (const line of DOC.slice(start, end < 0 ? undefined : end).split("\n")) {
    if (!line.startsWith("| `")) continue;
    const close = line.indexOf("`", 3);
    cells.add(line.slice(3, close));
  }
  return cells;
}

describe("the audit event dictionary", () => {
  const code = reasonsInCode();

  it("lists exactly the actions of AUDIT_ACTIONS", () => {
    expect([...firstCells("Actions")].sort()).toEqual([...AUDIT_ACTIONS].sort());
  });

  it("lists exactly the decisions of AuditDecision", () => {
    expect([...firstCells("Decisions")].sort()).toEqual([...code.decisions].sort());
  });

  it("documents every reason the code can write", () => {
    const documented = firstCells("Reasons");
    const missing = [...code.reasons].filter(([reason]) => !documented.has(reason)).map(([reason, where]) => `${reason} (${[...where].join("; ")})`);
    expect(missing).toEqual([]);
    expect(code.reasons.size).toBeGreaterThan(50);
  });
}, 120_000);
