/**
 * The load generator, in its own process (bench/secret-read.bench.ts spawns it): autocannon
 * against one URL, then one JSON line on stdout with the rate, the latencies and the answers.
 *
 *   LOAD_HEADERS='{"authorization":"Bearer …"}' node --import tsx bench/support/load.ts <url> <requests> <connections>
 *
 * Headers come in the environment, not on the command line, where any process could read a bearer.
 *
 * autocannon's own duration, and its end with `amount`, move in whole-second ticks: the rate
 * is taken from the first request to the last response instead.
 */
import autocannon from "autocannon";

const [url, amountArg, connectionsArg] = process.argv.slice(2);
if (url === undefined || amountArg === undefined || connectionsArg === undefined) {
  console.error("usage: LOAD_HEADERS='{…}' load.ts <url> <requests> <connections>");
  process.exit(2);
}
const amount = Number(amountArg);
const headers = JSON.parse(process.env.LOAD_HEADERS ?? "{}") as Record<string, string>;

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
