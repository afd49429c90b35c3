import { describe, expect, it } from "vitest";
import { bindsHeap, childCommand, DEFAULT_MAX_HEAP_MB, HEAP_BOUND_CHILD_MARK, heapBoundToApply, maxHeapMb, nodeOptionsList, type LaunchContext } from "../../src/cli/heap-bound.ts";

const serve = (env: Record<string, string> = {}, execArgv: string[] = []): LaunchContext => ({ args: ["serve"], execArgv, env });

describe("the heap bound custos serve starts under", () => {
  it("is 128 MB when nothing is set", () => {
    expect(heapBoundToApply(serve())).toBe(DEFAULT_MAX_HEAP_MB);
    expect(DEFAULT_MAX_HEAP_MB).toBe(128);
  });

  it("is CUSTOS_MAX_HEAP_MB when set", () => {
    expect(heapBoundToApply(serve({ CUSTOS_MAX_HEAP_MB: "512" }))).toBe(512);
  });

  it.each(["abc", "128MB", "-1", "0", "63", "65537", "1.5", " 128", "9999999"])("refuses CUSTOS_MAX_HEAP_MB=%j, naming the setting", (value) => {
    expect(() => maxHeapMb({ CUSTOS_MAX_HEAP_MB: value })).toThrow(/^invalid configuration: CUSTOS_MAX_HEAP_MB must be a whole number of megabytes from 64 to 65536/);
  });

  it("reports an invalid CUSTOS_MAX_HEAP_MB as a configuration error (exit 2), even when the operator's own bound wins", () => {
    expect(() => heapBoundToApply(serve({ CUSTOS_MAX_HEAP_MB: "lots", NODE_OPTIONS: "--max-old-space-size=256" }))).toThrow(expect.objectContaining({ name: "ConfigError" }));
  });

  it.each([
    "--max-old-space-size=256",
    "--max_old_space_size=256",
    "--max-heap-size=300",
    "--enable-source-maps --max-old-space-size=256",
    "--max-old-space-size 256",
  ])("leaves the heap to the operator when NODE_OPTIONS is %j", (nodeOptions) => {
    expect(heapBoundToApply(serve({ NODE_OPTIONS: nodeOptions }))).toBeUndefined();
  });

  it("leaves the heap to the operator when node itself was started with a bound", () => {
    expect(heapBoundToApply(serve({}, ["--max-old-space-size=1024"]))).toBeUndefined();
  });

  it("still applies when NODE_OPTIONS holds other flags only", () => {
    expect(heapBoundToApply(serve({ NODE_OPTIONS: "--enable-source-maps --max-semi-space-size=4" }))).toBe(DEFAULT_MAX_HEAP_MB);
  });

  it("is not applied again in the server process the launcher started", () => {
    expect(heapBoundToApply(serve({ [HEAP_BOUND_CHILD_MARK]: "128" }))).toBeUndefined();
  });

  it.each([["dev"], ["migrate"], ["audit", "verify"], [], ["--help"]])("is not applied to other commands (%j), and their CUSTOS_MAX_HEAP_MB is not read", (...args) => {
    expect(heapBoundToApply({ args, execArgv: [], env: { CUSTOS_MAX_HEAP_MB: "nonsense" } })).toBeUndefined();
  });
});

describe("the server process's command", () => {
  it("keeps the launcher's node flags, adds the bound, and runs the same script with the same arguments", () => {
    expect(childCommand("/opt/custos/bin/custos.mjs", { args: ["serve"], execArgv: ["--liftoff-only"], env: {} }, 192))
      .toEqual(["--liftoff-only", "--max-old-space-size=192", "/opt/custos/bin/custos.mjs", "serve"]);
  });
});

describe("reading heap flags", () => {
  it("splits NODE_OPTIONS on whitespace and ignores an empty one", () => {
    expect(nodeOptionsList("  --a   --b=1 ")).toEqual(["--a", "--b=1"]);
    expect(nodeOptionsList(undefined)).toEqual([]);
  });

  it("does not mistake a longer flag for a bound", () => {
    expect(bindsHeap(["--max-old-space-size-percentage=50"])).toBe(false);
    expect(bindsHeap(["--max-semi-space-size=4"])).toBe(false);
  });
});
