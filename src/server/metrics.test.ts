/**
 * The Kafka proxy's metrics: what an alert on the failure policy reads (issue 7, point 4): the audit path's
 * state per source, the requests refused or forwarded unaudited, the events dropped, the requests audited.
 */
import { describe, expect, it } from "vitest";
import type { KafkaProxyStatus } from "../sources/kafka-proxy/source.ts";
import { Metrics } from "./metrics.ts";

function status(over: Partial<KafkaProxyStatus>): KafkaProxyStatus {
  return {
    state: "running",
    listen: "127.0.0.1:9192",
    advertisedHost: "127.0.0.1",
    bootstrapServers: ["kafka-1:9092"],
    brokerPorts: "9193-9208",
    brokers: [],
    emittedEvents: 10,
    auditedRequests: 250,
    ingestedEvents: 10,
    sealedEvents: 10,
    excludedEvents: 0,
    droppedEvents: 3,
    reducedEvents: 0,
    refusedEvents: 0,
    foldingEvents: 0,
    queueLength: 50_000,
    queueMaxEvents: 50_000,
    ingestFailures: 0,
    ...over,
  };
}

describe("Kafka proxy metrics", () => {
  it("exports the audit path's state and the failure policy's counts per source", async () => {
    const metrics = new Metrics({
      durableSequence: () => 0,
      pendingEvents: () => 0,
      groupCommits: () => 0,
      destinations: () => [],
      kafkaProxies: () => [
        {
          name: "prod",
          status: status({
            failure: {
              policy: "reject",
              auditPathFull: true,
              fullSince: Date.now(),
              refused: { Produce: 40, Fetch: 2 },
              forwardedUnaudited: { Metadata: 5 },
              lastRefusalAt: Date.now(),
            },
          }),
        },
        { name: "dev", status: status({ queueLength: 3 }) },
      ],
    });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^vigil_kafka_proxy_audit_path_full\{source="prod"\} 1$/m);
    expect(text).toMatch(/^vigil_kafka_proxy_audit_path_full\{source="dev"\} 0$/m);
    expect(text).toMatch(/^vigil_kafka_proxy_requests_refused_total\{source="prod"\} 42$/m);
    expect(text).toMatch(/^vigil_kafka_proxy_requests_unaudited_total\{source="prod"\} 5$/m);
    expect(text).toMatch(/^vigil_kafka_proxy_events_dropped_total\{source="prod"\} 3$/m);
    expect(text).toMatch(/^vigil_kafka_proxy_requests_total\{source="dev"\} 250$/m);
    expect(text).toMatch(/^vigil_kafka_proxy_queue_events\{source="dev"\} 3$/m);
  });
});
