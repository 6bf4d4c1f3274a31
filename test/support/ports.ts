/**
 * Free loopback ports for servers the tests start (Kafka, rsyslog, moto, receivers) that must be told their
 * port up front. The OS hands out port 0 binds from its ephemeral range, so two suites running at once do not
 * get the same port unless it was released and reused in between; callers start their server right away.
 */
import { createServer } from "node:net";

/** A port nothing listens on at 127.0.0.1 right now. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}
