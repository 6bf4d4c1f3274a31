/**
 * `vigil status`'s table for sources: a Kafka proxy's address, requests audited and queue, and a full audit path
 * said loudly with what the failure policy is doing about it (the command then exits 1, tested through the
 * server in test/kafka-proxy-serve.test.ts for the healthy case).
 */
import { describe, expect, it } from "vitest";
import { render } from "./status.ts";

const base = {
  chain: { sequence: 9, key_id: "k1" },
  journal: { durable_sequence: 9, pending_events: 0 },
  ready: true,
  checkpoints: { state: "running", size: 9 },
  destinations: [],
};

const proxy = (failure: Record<string, unknown>) => ({
  name: "kafka-prod",
  type: "kafka_proxy",
  state: "running",
  listen: "127.0.0.1:9192",
  auditedRequests: 1200,
  queueLength: 50000,
  queueMaxEvents: 50000,
  failure: { refused: {}, forwardedUnaudited: {}, ...failure },
});

describe("vigil status: sources", () => {
  it("says a proxy's audit path is full, and what the failure policy does", () => {
    const rejecting = render({
      ...base,
      sources: [proxy({ policy: "reject", auditPathFull: true, refused: { Produce: 40, Fetch: 2 } })],
    });
    expect(rejecting).toMatch(/^SOURCE +TYPE +STATE +DETAIL$/m);
    expect(rejecting).toMatch(
      /^kafka-prod +kafka_proxy +running +listening on 127\.0\.0\.1:9192, 1200 requests audited, queue 50000\/50000, AUDIT PATH FULL: refusing requests \(42 so far\)$/m,
    );
    const permitting = render({
      ...base,
      sources: [proxy({ policy: "permit", auditPathFull: true, forwardedUnaudited: { Produce: 7 } })],
    });
    expect(permitting).toContain("AUDIT PATH FULL: forwarding requests unaudited (7 so far)");
    const fine = render({ ...base, sources: [proxy({ policy: "reject", auditPathFull: false })] });
    expect(fine).not.toContain("AUDIT PATH FULL");
  });

  it("shows other sources' state and last error", () => {
    const out = render({
      ...base,
      sources: [
        { name: "audit-in", type: "audit_topic", state: "retrying", lastError: "broker unreachable" },
      ],
    });
    expect(out).toMatch(/^audit-in +audit_topic +retrying +broker unreachable$/m);
  });
});
