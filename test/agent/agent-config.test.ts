import { describe, expect, it } from "vitest";
import { parseAgentConfig, type AccountDatabase } from "../../src/agent/agent-config.ts";
import { ConfigError } from "../../src/platform/config.ts";

const NODE_ID = "0b5c3a8e-3d0f-4b8e-9a41-7f0c2a1d9e55";
const accounts = (): AccountDatabase => ({ passwd: "root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n", group: "root:x:0:\nweb:x:33:\n" });

const minimal = () => ({
  url: "https://custos.example/",
  domain: "acme",
  node_id: NODE_ID,
  kid: "kid-current-1",
  nsk_file: "node.nsk",
  secrets: [{ name: "db-password", path: "secrets/db-password" }],
});

function refusal(document: unknown): string {
  try {
    parseAgentConfig(document, "/etc/custos/agent.yaml", accounts);
  } catch (error) {
    if (error instanceof ConfigError) return error.variable;
    throw error;
  }
  throw new Error("the configuration was accepted");
}

describe("parseAgentConfig()", () => {
  it("applies the defaults: paths beside the config file, state in <name>.state, mode 0600, leeway 30 s", () => {
    const config = parseAgentConfig(minimal(), "/etc/custos/agent.yaml", accounts);
    expect(config).toMatchObject({
      url: "https://custos.example",
      nskFile: "/etc/custos/node.nsk",
      stateDir: "/etc/custos/agent.state",
      eventKeyThumbprint: undefined,
      leewaySeconds: 30,
      secrets: [{ name: "db-password", path: "/etc/custos/secrets/db-password", mode: 0o600, owner: undefined, reload: undefined, reloadTimeoutMs: 30_000 }],
    });
  });

  it("reads modes, owners by number and by name, and reload commands", () => {
    const config = parseAgentConfig({
      ...minimal(),
      secrets: [
        { name: "a", path: "/run/a", mode: "0640", owner: "1001:33", reload: ["systemctl", "reload", "app"], reload_timeout_seconds: 5 },
        { name: "b", path: "/run/b", mode: 0o400, owner: "app" },
        { name: "c", path: "/run/c", owner: "app:web" },
      ],
    }, "/etc/custos/agent.yaml", accounts);
    expect(config.secrets.map(({ mode, owner, reload }) => ({ mode, owner, reload }))).toEqual([
      { mode: 0o640, owner: { uid: 1001, gid: 33 }, reload: ["systemctl", "reload", "app"] },
      { mode: 0o400, owner: { uid: 1001, gid: 1002 }, reload: undefined },
      { mode: 0o600, owner: { uid: 1001, gid: 33 }, reload: undefined },
    ]);
  });

  it.each([
    ["url", { url: "ftp://custos.example" }],
    ["domain", { domain: "Not A Domain" }],
    ["node_id", { node_id: "node-1" }],
    ["kid", { kid: "short" }],
    ["event_key_thumbprint", { event_key_thumbprint: "abc" }],
    ["leeway_seconds", { leeway_seconds: 3600 }],
    ["secrets", { secrets: [] }],
    ["secrets[0].mode", { secrets: [{ name: "a", path: "a", mode: "rw-------" }] }],
    ["secrets[0].name", { secrets: [{ name: "../a", path: "a" }] }],
    ["secrets[0].reload", { secrets: [{ name: "a", path: "a", reload: "systemctl reload app" }] }],
    ["secrets[0].owner", { secrets: [{ name: "a", path: "a", owner: "nobody-here" }] }],
    ["secrets[1].name", { secrets: [{ name: "a", path: "a" }, { name: "a", path: "b" }] }],
    ["secrets[1].path", { secrets: [{ name: "a", path: "a" }, { name: "b", path: "./a" }] }],
    ["nsk_files", { nsk_files: "typo" }],
  ])("refuses a bad %s, naming the setting", (setting, overrides) => {
    expect(refusal({ ...minimal(), ...overrides })).toBe(`/etc/custos/agent.yaml: ${setting}`);
  });

  it("refuses a missing required setting, naming it", () => {
    const document: Record<string, unknown> = minimal();
    delete document.nsk_file;
    expect(refusal(document)).toBe("/etc/custos/agent.yaml: nsk_file");
  });
});
