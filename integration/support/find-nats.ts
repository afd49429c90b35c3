import { connect } from "node:net";

/**
 * Vitest global setup: the NATS JetStream tests run when a server answers. CI exports
 * NATS_TEST_URL when it started one; otherwise the default local address is tried, and when
 * nothing answers the run says loudly which tests it left out (they are visible skips).
 */
const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_PORT = 4222;

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (answered: boolean): void => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(1000, () => { done(false); });
    // A NATS server speaks first: its INFO line says it is NATS, not just an open port.
    socket.once("data", (chunk) => { done(chunk.toString("utf8").startsWith("INFO ")); });
    socket.once("error", () => { done(false); });
  });
}

export default async function setup(): Promise<void> {
  if (process.env.NATS_TEST_URL !== undefined && process.env.NATS_TEST_URL !== "") return;
  if (await answers(DEFAULT_HOST, DEFAULT_PORT)) {
    process.env.NATS_TEST_URL = `nats://${DEFAULT_HOST}:${String(DEFAULT_PORT)}`;
    return;
  }
  process.stderr.write(
    `\n  ⚠  NOT RUN: the NATS JetStream tests (no NATS_TEST_URL, and no NATS server answers at ${DEFAULT_HOST}:${String(DEFAULT_PORT)}).\n` +
      "     To run them: start nats-server -js, or set NATS_TEST_URL=nats://host:4222\n\n",
  );
}
