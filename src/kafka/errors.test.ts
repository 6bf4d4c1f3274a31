/**
 * The shared classifier against error trees built with the library's own classes, shaped as @platformatic/kafka
 * 2.12 throws them (recorded against the Kafka 4.4 test broker): retries wrapping per-attempt MultipleErrors,
 * NetworkErrors wrapping the SASL or TLS failure as their cause, ResponseErrors holding ProtocolErrors.
 */
import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  TimeoutError,
  UnsupportedCompressionError,
  UserError,
} from "@platformatic/kafka";
import { describe, expect, it } from "vitest";
import { classifyKafkaError, errorNodes, isUnknownTopic, type KafkaErrorContext } from "./errors.ts";

const ctx: KafkaErrorContext = {
  action: "producing to topic audit (kafka:9092)",
  grant: "WRITE and DESCRIBE on topic audit",
  unknownTopic: { retryable: true, message: "topic audit does not exist (yet)" },
  secrets: ["s3cr3t-pa55"],
};

/** What the library throws after its attempts: "<op> failed N times." over one tree per attempt. */
function attempts(op: string, ...each: Error[]): MultipleErrors {
  return new MultipleErrors(`${op} failed ${each.length} times.`, each);
}

/** A connection that failed because of `cause`, as the connection pool reports it. */
function connectionFailed(cause: Error): MultipleErrors {
  return new MultipleErrors("Cannot connect to any broker.", [
    new NetworkError("Connection to 127.0.0.1:9093 failed.", { cause }),
  ]);
}

/** A broker's answer with an error code, as the library wraps it. */
function answered(api: string, id: string, serverMessage: string | null = null): MultipleErrors {
  const response = new MultipleErrors(`Received response with error while executing API ${api}(v11)`, [
    new ProtocolError(id, serverMessage),
  ]);
  return new MultipleErrors("Producing messages failed.", [response]);
}

function systemError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("Kafka error classification", () => {
  it("walks the whole tree: errors of aggregates, causes of wrappers", () => {
    const root = attempts(
      "initProducerId",
      connectionFailed(systemError("ECONNREFUSED", "connect ECONNREFUSED")),
    );
    expect(errorNodes(root).map((n) => n.code)).toEqual([
      "PLT_KFK_MULTIPLE",
      "PLT_KFK_MULTIPLE",
      "PLT_KFK_NETWORK",
      "ECONNREFUSED",
    ]);
  });

  it("retries a broker that is down, naming the system error", () => {
    const refused = systemError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:9092");
    expect(
      classifyKafkaError(
        attempts("initProducerId", connectionFailed(refused), connectionFailed(refused)),
        ctx,
      ),
    ).toEqual({
      retryable: true,
      message: "producing to topic audit (kafka:9092) failed: connect ECONNREFUSED 127.0.0.1:9092",
    });
  });

  it("starts the message with what went wrong when the caller names no action", () => {
    const { action: _, ...bare } = ctx;
    const refused = systemError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:9092");
    expect(classifyKafkaError(connectionFailed(refused), bare).message).toBe(
      "connect ECONNREFUSED 127.0.0.1:9092",
    );
    expect(classifyKafkaError(answered("Fetch", "TOPIC_AUTHORIZATION_FAILED"), bare).message).toBe(
      "not authorized (TOPIC_AUTHORIZATION_FAILED); grant WRITE and DESCRIBE on topic audit",
    );
    expect(classifyKafkaError(new Error("the stream closed"), bare)).toEqual({
      retryable: true,
      message: "the stream closed",
    });
  });

  it("retries timeouts, whose code is PLT_KFK_NETWORK and canRetry false", () => {
    const timeout = new TimeoutError("Request timed out after 30000ms.");
    expect(timeout.canRetry).toBe(false);
    expect(classifyKafkaError(attempts("produce", timeout), ctx)).toEqual({
      retryable: true,
      message: "producing to topic audit (kafka:9092) failed: Request timed out after 30000ms.",
    });
  });

  it("retries protocol errors that mean not now, and those the caller says mean not now to it", () => {
    for (const id of ["NOT_ENOUGH_REPLICAS", "LEADER_NOT_AVAILABLE", "UNKNOWN_SERVER_ERROR"]) {
      expect(classifyKafkaError(answered("Produce", id, "try later"), ctx), id).toEqual({
        retryable: true,
        message: `producing to topic audit (kafka:9092) failed: ${id}: try later`,
      });
    }
    const rebalance = new ProtocolError("REBALANCE_IN_PROGRESS");
    expect(rebalance.canRetry).toBe(false);
    expect(classifyKafkaError(rebalance, ctx).retryable).toBe(false);
    expect(
      classifyKafkaError(rebalance, { ...ctx, transient: new Set(["REBALANCE_IN_PROGRESS"]) }).retryable,
    ).toBe(true);
  });

  it("refuses a wrong password as permanent, quoting the broker, never the password", () => {
    const failed = new AuthenticationError("SASL authentication failed.", {
      cause: answered(
        "SaslAuthenticate",
        "SASL_AUTHENTICATION_FAILED",
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256 (s3cr3t-pa55)",
      ),
    });
    expect(classifyKafkaError(attempts("initProducerId", connectionFailed(failed)), ctx)).toEqual({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): authentication failed (Authentication failed during authentication " +
        "due to invalid credentials with SASL mechanism SCRAM-SHA-256 ([redacted])); check security.sasl_username, " +
        "sasl_password and sasl_mechanism",
    });
  });

  it("refuses a SASL mechanism the broker does not enable", () => {
    const failed = new AuthenticationError("Cannot find a suitable SASL mechanism.", {
      cause: answered("SaslHandshake", "UNSUPPORTED_SASL_MECHANISM"),
    });
    expect(classifyKafkaError(attempts("initProducerId", connectionFailed(failed)), ctx)).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/does not accept this SASL mechanism; set security\.sasl_mechanism/),
    });
  });

  it("refuses authorization failures, naming what to grant", () => {
    expect(classifyKafkaError(answered("Produce", "TOPIC_AUTHORIZATION_FAILED"), ctx)).toEqual({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): not authorized (TOPIC_AUTHORIZATION_FAILED); grant WRITE and " +
        "DESCRIBE on topic audit",
    });
    expect(
      classifyKafkaError(answered("InitProducerId", "CLUSTER_AUTHORIZATION_FAILED", "denied"), ctx).message,
    ).toMatch(/not authorized \(CLUSTER_AUTHORIZATION_FAILED: denied\); grant WRITE/);
  });

  it("refuses a certificate it does not trust or that names another host, retries an expired one", () => {
    for (const code of [
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "ERR_TLS_CERT_ALTNAME_INVALID",
    ]) {
      const judged = classifyKafkaError(
        attempts("metadata", connectionFailed(systemError(code, "bad certificate"))),
        ctx,
      );
      expect(judged.retryable, code).toBe(false);
      expect(judged.message).toMatch(
        new RegExp(`TLS failed \\(${code}: bad certificate\\); set security\\.ssl_ca_file`),
      );
    }
    const expired = systemError("CERT_HAS_EXPIRED", "certificate has expired");
    expect(classifyKafkaError(attempts("metadata", connectionFailed(expired)), ctx)).toEqual({
      retryable: true,
      message: "producing to topic audit (kafka:9092) failed: certificate has expired",
    });
    const alert = systemError("ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR", "tlsv1 alert internal error");
    expect(classifyKafkaError(attempts("metadata", connectionFailed(alert)), ctx)).toEqual({
      retryable: true,
      message: "producing to topic audit (kafka:9092) failed: tlsv1 alert internal error",
    });
    const mismatch = systemError("ERR_OSSL_X509_KEY_VALUES_MISMATCH", "key values mismatch");
    expect(classifyKafkaError(mismatch, ctx).retryable).toBe(false);
  });

  it("refuses a plaintext client at a TLS listener; retries a TLS handshake cut short", () => {
    expect(classifyKafkaError(new UserError("Broker requires TLS."), ctx)).toMatchObject({
      retryable: false,
      message: expect.stringMatching(
        /listener requires TLS; set security\.security_protocol to SSL or SASL_SSL/,
      ),
    });
    const cut = new UserError("TLS handshake failed. Please verify the broker supports TLS.", {
      cause: systemError(
        "ECONNRESET",
        "Client network socket disconnected before secure TLS connection was established",
      ),
    });
    expect(classifyKafkaError(attempts("metadata", connectionFailed(cut)), ctx)).toMatchObject({
      retryable: true,
      message: expect.stringMatching(
        /^producing to topic audit \(kafka:9092\) failed: the connection closed during the TLS handshake \(is the broker's listener/,
      ),
    });
  });

  it("recognises a missing topic in every form, and judges it as the caller says", () => {
    const unknown = new UserError("Unknown topic audit.");
    expect(isUnknownTopic(unknown)).toBe(true);
    expect(isUnknownTopic(answered("Produce", "UNKNOWN_TOPIC_OR_PARTITION"))).toBe(true);
    expect(isUnknownTopic(answered("Fetch", "UNKNOWN_TOPIC_ID"))).toBe(true);
    expect(isUnknownTopic(answered("Produce", "NOT_ENOUGH_REPLICAS"))).toBe(false);
    expect(classifyKafkaError(unknown, ctx)).toEqual({
      retryable: true,
      message: "producing to topic audit (kafka:9092): topic audit does not exist (yet)",
    });
    expect(
      classifyKafkaError(unknown, { ...ctx, unknownTopic: { retryable: false, message: "create it" } }),
    ).toEqual({ retryable: false, message: "producing to topic audit (kafka:9092): create it" });
  });

  it("refuses what the broker or the library will never accept", () => {
    expect(
      classifyKafkaError(
        answered(
          "CreateTopics",
          "INVALID_REPLICATION_FACTOR",
          "Replication factor: 3 larger than available brokers: 1.",
        ),
        ctx,
      ),
    ).toEqual({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): the broker answered INVALID_REPLICATION_FACTOR: Replication factor: " +
        "3 larger than available brokers: 1. (permanent: the request will not succeed as it is)",
    });
    expect(classifyKafkaError(new UnsupportedCompressionError("zstd is not supported"), ctx)).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/zstd is not supported \(permanent/),
    });
    expect(classifyKafkaError(new UserError("/options/groupId must match pattern"), ctx)).toEqual({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): /options/groupId must match pattern (permanent: the request will " +
        "not succeed as it is)",
    });
  });
});
