import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

/** A stream name and subject prefix of one test file's own, so parallel files never collide. */
export function isolatedStream(label: string): { readonly stream: string; readonly subjectPrefix: string } {
  const suffix = randomBytes(5).toString("hex");
  return { stream: `CUSTOS_TEST_${label}_${suffix}`, subjectPrefix: `test-${suffix}.events` };
}

/** Deletes the file's stream at the end (a test that failed half-way leaves nothing behind). */
export async function deleteStream(url: string, stream: string): Promise<void> {
  const address = new URL(url);
  const nc = await connect({ servers: `${address.hostname}:${address.port}` });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}
