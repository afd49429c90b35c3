import net from "node:net";

export interface RawExchange {
  /** Everything the server sent before it closed the connection. */
  readonly response: string;
  /** The status code of the first response. */
  readonly status: number;
}

/**
 * Writes `request` as is on a fresh TCP connection and collects the answer until the server
 * closes the connection. For what fetch cannot send: malformed or huge request lines, bodies
 * that are declared but never sent.
 */
export function rawExchange(url: string, request: string | Buffer): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    // The server may reset the connection after answering: what arrived before still counts.
    socket.on("error", (error: NodeJS.ErrnoException) => { if (error.code !== "ECONNRESET" && error.code !== "EPIPE") reject(error); });
    socket.on("close", () => {
      const response = Buffer.concat(chunks).toString("latin1");
      resolve({ response, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? "0") });
    });
    socket.write(request);
  });
}
