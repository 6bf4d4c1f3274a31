/**
 * The classifier against error trees built with the library's own classes, shaped as @platformatic/kafka
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
import { errorNodes, isUnknownTopic, type KafkaCallContext, kafkaError } from "./errors.ts";

const ctx: KafkaCallContext = {
  action: "producing to topic audit (kafka:9092)",
  topic: "audit",
  grant: "WRITE and DESCRIBE on topic audit",
  createTopic: true,
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
    const e = kafkaError(
      attempts("initProducerId", connectionFailed(refused), connectionFailed(refused)),
      ctx,
    );
    expect(e).toMatchObject({
      retryable: true,
      tooLarge: false,
      message: "producing to topic audit (kafka:9092) failed: connect ECONNREFUSED 127.0.0.1:9092",
    });
  });

  it("retries timeouts, whose code is PLT_KFK_NETWORK and canRetry false", () => {
    const timeout = new TimeoutError("Request timed out after 30000ms.");
    expect(timeout.canRetry).toBe(false);
    expect(kafkaError(attempts("produce", timeout), ctx)).toMatchObject({
      retryable: true,
      message: "producing to topic audit (kafka:9092) failed: Request timed out after 30000ms.",
    });
  });

  it("retries protocol errors that mean not now, and those an idempotent producer recovers from", () => {
    for (const id of [
      "NOT_ENOUGH_REPLICAS",
      "LEADER_NOT_AVAILABLE",
      "OUT_OF_ORDER_SEQUENCE_NUMBER",
      "UNKNOWN_SERVER_ERROR",
    ]) {
      const e = kafkaError(answered("Produce", id, "try later"), ctx);
      expect(e.retryable, id).toBe(true);
      expect(e.message).toBe(`producing to topic audit (kafka:9092) failed: ${id}: try later`);
    }
  });

  it("says a batch over max.message.bytes is too large", () => {
    expect(kafkaError(answered("Produce", "MESSAGE_TOO_LARGE"), ctx)).toMatchObject({
      tooLarge: true,
      message: expect.stringMatching(
        /refused the batch as too large \(MESSAGE_TOO_LARGE: over the topic's max\.message\.bytes\)$/,
      ),
    });
  });

  it("parks on a wrong password, quoting the broker, never the password", () => {
    const failed = new AuthenticationError("SASL authentication failed.", {
      cause: answered(
        "SaslAuthenticate",
        "SASL_AUTHENTICATION_FAILED",
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256 (s3cr3t-pa55)",
      ),
    });
    const e = kafkaError(attempts("initProducerId", connectionFailed(failed)), ctx);
    expect(e).toMatchObject({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): authentication failed (Authentication failed during authentication " +
        "due to invalid credentials with SASL mechanism SCRAM-SHA-256 ([redacted])); check security.sasl_username, " +
        "sasl_password and sasl_mechanism",
    });
  });

  it("parks on a SASL mechanism the broker does not enable", () => {
    const failed = new AuthenticationError("Cannot find a suitable SASL mechanism.", {
      cause: answered("SaslHandshake", "UNSUPPORTED_SASL_MECHANISM"),
    });
    expect(kafkaError(attempts("initProducerId", connectionFailed(failed)), ctx)).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/does not accept this SASL mechanism; set security\.sasl_mechanism/),
    });
  });

  it("parks on authorization failures, naming what to grant", () => {
    expect(kafkaError(answered("Produce", "TOPIC_AUTHORIZATION_FAILED"), ctx)).toMatchObject({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): not authorized (TOPIC_AUTHORIZATION_FAILED); grant WRITE and " +
        "DESCRIBE on topic audit",
    });
    expect(
      kafkaError(answered("InitProducerId", "CLUSTER_AUTHORIZATION_FAILED", "denied"), ctx).message,
    ).toMatch(/not authorized \(CLUSTER_AUTHORIZATION_FAILED: denied\); grant WRITE/);
  });

  it("parks on a certificate it does not trust or that names another host, retries an expired one", () => {
    for (const code of [
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "ERR_TLS_CERT_ALTNAME_INVALID",
    ]) {
      const e = kafkaError(attempts("metadata", connectionFailed(systemError(code, "bad certificate"))), ctx);
      expect(e.retryable, code).toBe(false);
      expect(e.message).toMatch(
        new RegExp(`TLS failed \\(${code}: bad certificate\\); set security\\.ssl_ca_file`),
      );
    }
    const expired = systemError("CERT_HAS_EXPIRED", "certificate has expired");
    expect(kafkaError(attempts("metadata", connectionFailed(expired)), ctx)).toMatchObject({
      retryable: true,
      message: "producing to topic audit (kafka:9092) failed: certificate has expired",
    });
    const alert = systemError("ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR", "tlsv1 alert internal error");
    expect(kafkaError(attempts("metadata", connectionFailed(alert)), ctx).retryable).toBe(true);
    const mismatch = systemError("ERR_OSSL_X509_KEY_VALUES_MISMATCH", "key values mismatch");
    expect(kafkaError(mismatch, ctx).retryable).toBe(false);
  });

  it("parks when a plaintext client meets a TLS listener; retries a TLS handshake cut short", () => {
    expect(kafkaError(new UserError("Broker requires TLS."), ctx)).toMatchObject({
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
    expect(kafkaError(attempts("metadata", connectionFailed(cut)), ctx)).toMatchObject({
      retryable: true,
      message: expect.stringMatching(
        /the connection closed during the TLS handshake \(is the broker's listener/,
      ),
    });
  });

  it("retries a missing topic Vigil creates, and parks on one it may not", () => {
    const unknown = new UserError("Unknown topic audit.");
    expect(isUnknownTopic(unknown)).toBe(true);
    expect(isUnknownTopic(answered("Produce", "UNKNOWN_TOPIC_OR_PARTITION"))).toBe(true);
    expect(kafkaError(unknown, ctx)).toMatchObject({
      retryable: true,
      message:
        "producing to topic audit (kafka:9092): topic audit does not exist; it is created again before the next attempt",
    });
    expect(kafkaError(unknown, { ...ctx, createTopic: false })).toMatchObject({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): topic audit does not exist; create it, or set create_topic: true",
    });
  });

  it("parks on what the broker or the library will never accept", () => {
    expect(
      kafkaError(
        answered(
          "CreateTopics",
          "INVALID_REPLICATION_FACTOR",
          "Replication factor: 3 larger than available brokers: 1.",
        ),
        ctx,
      ),
    ).toMatchObject({
      retryable: false,
      message:
        "producing to topic audit (kafka:9092): the broker answered INVALID_REPLICATION_FACTOR: Replication factor: " +
        "3 larger than available brokers: 1. (permanent: the request will not succeed as it is)",
    });
    expect(kafkaError(new UnsupportedCompressionError("zstd is not supported"), ctx)).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/zstd is not supported \(permanent/),
    });
  });
});
