/**
 * What the source decides itself (kafka/errors.test.ts covers the classification every Kafka client shares):
 * messages without an action (the source's log and status name the topic), the ACLs a consumer group needs,
 * a fenced static member, the group protocol's "start over" answers and a topic that does not exist yet.
 */
import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  TimeoutError,
  UserError,
} from "@platformatic/kafka";
import { describe, expect, it } from "vitest";
import { classifyConsumeError } from "./errors.ts";

const PASSWORD = "s3cret-Pa55";
const ctx = { topic: "_redpanda.audit_log", groupId: "vigil-redpanda", secrets: [PASSWORD] };

/** A failure as the library reports one: the real error wrapped in a retryable NetworkError, attempts gathered. */
function asLibraryReports(inner: Error): Error {
  const attempt = () =>
    new MultipleErrors("Cannot connect to any broker.", [
      new NetworkError("Connection to 127.0.0.1:9093 failed.", { cause: inner }),
    ]);
  return new MultipleErrors("joinGroup failed 3 times.", [attempt(), attempt(), attempt()]);
}

const systemError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe("classifyConsumeError", () => {
  it.each([
    [
      "a wrong password",
      asLibraryReports(
        new AuthenticationError("SASL authentication failed.", {
          cause: new ProtocolError("SASL_AUTHENTICATION_FAILED", `bad password ${PASSWORD}`),
        }),
      ),
      /^authentication failed \(bad password \[redacted\]\); check security\.sasl_username, sasl_password and sasl_mechanism$/,
    ],
    [
      "a missing topic ACL",
      new ProtocolError("TOPIC_AUTHORIZATION_FAILED"),
      /^not authorized \(TOPIC_AUTHORIZATION_FAILED\); grant READ and DESCRIBE on topic _redpanda\.audit_log and READ on group vigil-redpanda$/,
    ],
    [
      "a missing group ACL",
      asLibraryReports(new ProtocolError("GROUP_AUTHORIZATION_FAILED")),
      /^not authorized \(GROUP_AUTHORIZATION_FAILED\)/,
    ],
    [
      "another consumer with the same instance id",
      new ProtocolError("FENCED_INSTANCE_ID"),
      /^another consumer joined group vigil-redpanda with this source's instance id/,
    ],
    [
      "bad options",
      new UserError("/options/groupId must match pattern"),
      /^\/options\/groupId must match pattern \(permanent/,
    ],
  ])("stops on %s", (_what, error, message) => {
    const judged = classifyConsumeError(error, ctx);
    expect(judged.permanent).toBe(true);
    expect(judged.message).toMatch(message);
    expect(judged.message).not.toContain(PASSWORD);
  });

  it.each([
    [
      "a broker that is down",
      asLibraryReports(systemError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:9093")),
      "connect ECONNREFUSED 127.0.0.1:9093",
    ],
    ["a timeout", new TimeoutError("Request timed out"), "Request timed out"],
    [
      "a coordinator still loading",
      new ProtocolError("COORDINATOR_LOAD_IN_PROGRESS"),
      "COORDINATOR_LOAD_IN_PROGRESS",
    ],
    ["a rebalance", new ProtocolError("REBALANCE_IN_PROGRESS"), "REBALANCE_IN_PROGRESS"],
    ["a member the group forgot", new ProtocolError("UNKNOWN_MEMBER_ID"), "UNKNOWN_MEMBER_ID"],
    [
      "a missing topic",
      new UserError("Unknown topic _redpanda.audit_log."),
      "topic _redpanda.audit_log does not exist (yet)",
    ],
    ["an error of Vigil's own", new Error("the consumer's stream closed"), "the consumer's stream closed"],
  ])("retries on %s", (_what, error, message) => {
    const judged = classifyConsumeError(error, ctx);
    expect(judged.permanent).toBe(false);
    expect(judged.message).toMatch(message);
  });
});
