import { describe, expect, it } from "vitest";
import { devBanner } from "../../src/cli/dev.action.ts";

describe("custos dev's banner", () => {
  it("names the console's URL as the first thing to open, and the console pages of journeys 2 and 3", () => {
    const banner = devBanner({
      url: "http://127.0.0.1:8080",
      issuer: "http://127.0.0.1:9090",
      factsFile: ".custos/dev.json",
      nskFile: ".custos/demo-node.nsk",
      facts: { node_id: "n-1", kid: "k-1", secret_name: "database-password" },
      dataDir: ".custos",
    });
    const lines = banner.split("\n").filter((line) => line.includes("http://"));
    expect(lines[0]).toContain("OPEN      http://127.0.0.1:8080/console/");
    expect(banner).toContain("http://127.0.0.1:8080/console/nodes");
    expect(banner).toContain("http://127.0.0.1:8080/console/audit");
    expect(banner).toContain("npx custos node fetch --url http://127.0.0.1:8080 --node-id n-1 --kid k-1 --nsk-file .custos/demo-node.nsk database-password");
  });
});
