/**
 * The load generator, in its own process (bench/secret-read.bench.ts spawns it): autocannon
 * against one URL, then one JSON line on stdout with the rate, the latencies and the answers.
 *
 *   node --import tsx bench/support/load.ts <url> <requests> <connections> [header: value]…
 *
 * autocannon's own duration, and its end with `amount`, move in whole-second ticks: the rate
 * is taken from the first request to the last response instead.
 */
import autocannon from "autocannon";

const [url, amountArg, connectionsArg, ...headerArgs] = process.argv.slice(2);
if (url === undefined || amountArg === undefined || connectionsArg === undefined) {
  console.error("usage: load.ts <url> <requests> <connections> [header: value]…");
  process.exit(2);
}
const amount = Number(amountArg);
const headers: Record<string, string> = {};
for (const header of headerArgs) {
  const colon = header.indexOf(":");
  headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
}

const startedAt = Date.now();
const started = performance.now();
let lastResponse = started;
const result = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon({ url, connections: Number(connectionsArg), amount, headers }, (error, answer) => {
    if (error) reject(error instanceof Error ? error : new Error(String(error)));
    else resolve(answer);
  });
  instance.on("response", () => { lastResponse = performance.now(); });
});
const seconds = (lastResponse - started) / 1000;
console.log(JSON.stringify({
  rate: amount / seconds,
  p50: result.latency.p50,
  p99: result.latency.p99,
  ok: result["2xx"],
  notOk: result.non2xx,
  errors: result.errors,
  startedAt,
  endedAt: startedAt + Math.round(lastResponse - started),
}));
