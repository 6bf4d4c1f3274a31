/**
 * Helpers for tests of the Kafka audit proxy (src/sources/kafka-proxy/proxy.ts): an in-process proxy in front of a
 * test broker whose events and log lines are collected, and accessors for the events' Kafka details.
 */
import { type HostPort, KafkaProxy, type KafkaProxyOptions } from "../../src/sources/kafka-proxy/proxy.ts";

export type Json = Record<string, unknown>;

/** `host:port` (as test/support/kafka.ts gives listeners) as a HostPort. */
export function hostPort(text: string): HostPort {
  const i = text.lastIndexOf(":");
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

/**
 * Starts a proxy on a free loopback port in front of `upstream` (the broker's listener), any free port for each
 * broker; `options` adds to or overrides the defaults (TLS to the broker, protected topics, failure policy…).
 */
export async function proxyTo(
  upstream: string,
  options: Partial<Omit<KafkaProxyOptions, "emit" | "log">> = {},
): Promise<{ proxy: KafkaProxy; events: Json[]; logs: string[]; bootstrap: string }> {
  const events: Json[] = [];
  const logs: string[] = [];
  const proxy = new KafkaProxy({
    listen: { host: "127.0.0.1", port: 0 },
    bootstrap: [hostPort(upstream)],
    brokerPorts: { first: 0, count: 0 },
    ...options,
    emit: (e) => events.push(e),
    log: (m) => logs.push(m),
  });
  await proxy.start();
  return { proxy, events, logs, bootstrap: `${proxy.address.host}:${proxy.address.port}` };
}

/** An event's `details.kafka`. */
export const kafkaOf = (e: Json): Json => (e.details as { kafka: Json }).kafka;

/** The events of one type. */
export const ofType = (events: Json[], type: string): Json[] => events.filter((e) => e.event_type === type);

/** Polls `probe` until it gives a value (every 10 ms, at most `ms`): the proxy's events arrive asynchronously. */
export async function until<T>(what: string, probe: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
