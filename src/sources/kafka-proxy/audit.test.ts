/**
 * What exchangeEvent records of the requests whose subject is not a topic list: ACL bindings and filters
 * (CreateAcls, DeleteAcls, DescribeAcls, spelled as Kafka's enums), config resources with the names of the
 * configs (never their values), the groups and transactional ids FindCoordinator and DescribeGroups name.
 */
import { describe, expect, it } from "vitest";
import { type Exchange, exchangeEvent, type Peer } from "./audit.ts";
import { APIS, type ApiSpec } from "./protocol/index.ts";

const peer: Peer = {
  principal: "alice",
  address: "127.0.0.1",
  port: 50000,
  listener: "bootstrap",
  broker: "1",
};
type Json = Record<string, unknown>;

function event(name: string, apiVersion: number, request: Json, response: Json = {}): Json {
  const api = [...APIS.values()].find((a) => a.name === name) as ApiSpec;
  const x: Exchange = {
    api,
    apiVersion,
    correlationId: 7,
    clientId: "tool",
    request,
    response,
    startedAt: Date.parse("2026-11-22T12:00:00Z"),
    durationMs: 1.5,
  };
  return exchangeEvent(x, peer, new Map());
}
const kafka = (e: Json) => (e.details as { kafka: Json }).kafka;

describe("exchangeEvent: ACLs, configs, coordinators", () => {
  it("records the ACLs CreateAcls creates, spelled as Kafka's enums, on the resource of the first", () => {
    const e = event("CreateAcls", 3, {
      creations: [
        {
          resourceType: 2,
          resourceName: "orders",
          resourcePatternType: 4,
          principal: "User:bob",
          host: "*",
          operation: 4,
          permissionType: 3,
        },
      ],
    });
    expect(e.resource).toEqual({ type: "topic", id: "orders" });
    expect(kafka(e).acls).toEqual([
      {
        resource_type: "TOPIC",
        resource_name: "orders",
        pattern_type: "PREFIXED",
        principal: "User:bob",
        host: "*",
        operation: "WRITE",
        permission: "ALLOW",
      },
    ]);
  });

  it("reads version 0 (no pattern type) as LITERAL, and keeps null filter fields null", () => {
    const del = event("DeleteAcls", 0, {
      filters: [
        {
          resourceTypeFilter: 3,
          resourceNameFilter: null,
          principalFilter: null,
          hostFilter: null,
          operation: 1,
          permissionType: 1,
        },
      ],
    });
    expect(kafka(del).acls).toEqual([
      {
        resource_type: "GROUP",
        resource_name: null,
        pattern_type: "LITERAL",
        principal: null,
        host: null,
        operation: "ANY",
        permission: "ANY",
      },
    ]);
    const described = event("DescribeAcls", 3, {
      resourceTypeFilter: 4,
      resourceNameFilter: "kafka-cluster",
      patternTypeFilter: 3,
      principalFilter: "User:alice",
      hostFilter: null,
      operation: 7,
      permissionType: 2,
    });
    expect(kafka(described).acls).toMatchObject([
      { resource_type: "CLUSTER", principal: "User:alice", operation: "ALTER", permission: "DENY" },
    ]);
    expect(described.resource).toEqual({ type: "cluster", id: "kafka-cluster" });
  });

  it("records config resources and the names of the configs changed, never their values", () => {
    const e = event("IncrementalAlterConfigs", 1, {
      resources: [
        {
          resourceType: 4,
          resourceName: "1",
          configs: [
            {
              name: "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
              configOperation: 0,
              value: "secret!",
            },
          ],
        },
        {
          resourceType: 2,
          resourceName: "orders",
          configs: [{ name: "retention.ms", configOperation: 0, value: "1" }],
        },
      ],
      validateOnly: false,
    });
    expect(e.resource).toEqual({ type: "broker", id: "1" });
    expect(kafka(e).config_resources).toEqual([
      { type: "BROKER", name: "1", configs: ["listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config"] },
      { type: "TOPIC", name: "orders", configs: ["retention.ms"] },
    ]);
    expect(JSON.stringify(e)).not.toContain("secret!");
    const all = event("DescribeConfigs", 4, {
      resources: [{ resourceType: 2, resourceName: "orders", configurationKeys: null }],
    });
    expect(kafka(all).config_resources).toEqual([{ type: "TOPIC", name: "orders" }]);
    expect(all.resource).toEqual({ type: "topic", id: "orders" });
  });

  it("names the groups and transactions FindCoordinator looks up, and the groups DescribeGroups describes", () => {
    expect(kafka(event("FindCoordinator", 3, { key: "payments", keyType: 0 })).groups).toEqual(["payments"]);
    const txn = event("FindCoordinator", 4, { keyType: 1, coordinatorKeys: ["tx-1", "tx-2"] });
    expect(kafka(txn).transactional_ids).toEqual(["tx-1", "tx-2"]);
    expect(txn.resource).toEqual({ type: "transactional_id", id: "tx-1" });
    const described = event("DescribeGroups", 5, {
      groups: ["g1", "g2"],
      includeAuthorizedOperations: false,
    });
    expect(kafka(described).groups).toEqual(["g1", "g2"]);
    expect(described.resource).toEqual({ type: "group", id: "g1" });
  });
});
