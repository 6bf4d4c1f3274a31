/**
 * Free loopback ports for servers the tests start (Kafka, rsyslog, moto, receivers) that must be told their
 * port up front, and keep it across a stop and restart (outage tests).
 *
 * Ports come from below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by
 * default): the kernel hands ephemeral ports to outgoing connections and to `listen(0)`, which other tests make
 * all the time, so a port from that range could be taken between our check and the server's bind (Kafka formats
 * its storage for seconds before it binds) or while a server is stopped for an outage. Ports below it are only
 * taken by a bind that asks for them by number, as these do. Each candidate is picked at random (suites run in
 * parallel workers) and checked free for both TCP and UDP.
 */
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** [first, last) of the range ports are drawn from: below the ephemeral range, above well-known services. */
function range(): [number, number] {
  let ephemeralStart = 32768;
  try {
    const [start] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    if (Number(start) > 12_000) ephemeralStart = Number(start);
  } catch {
    // Not Linux: keep the IANA default's lower bound.
  }
  return [10_000, ephemeralStart];
}

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => resolve(false));
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/** A port nothing listens on at `host` right now, over TCP or UDP. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const [low, high] = range();
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if ((await tcpFree(port, host)) && (await udpFree(port, host))) return port;
  }
  throw new Error(`no free port between ${low} and ${high} on ${host}`);
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = "127.0.0.1"): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}
