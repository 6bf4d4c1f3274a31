/**
 * What the destination decides itself (kafka/errors.test.ts covers the classification every Kafka client
 * shares): batches too large, the idempotent producer's state, a missing topic Vigil creates or may not, and
 * the DeliveryError it all becomes.
 */
import { MultipleErrors, NetworkError, ProtocolError, UserError } from "@platformatic/kafka";
import { describe, expect, it } from "vitest";
import { DeliveryError } from "../destination.ts";
import { type KafkaCallContext, kafkaError } from "./errors.ts";

const ctx: KafkaCallContext = {
  action: "producing to topic audit (kafka:9092)",
  topic: "audit",
  grant: "WRITE and DESCRIBE on topic audit",
  createTopic: true,
  secrets: ["s3cr3t-pa55"],
};

/** A broker's answer with an error code, as the library wraps it. */
function answered(api: string, id: string, serverMessage: string | null = null): MultipleErrors {
  const response = new MultipleErrors(`Received response with error while executing API ${api}(v11)`, [
    new ProtocolError(id, serverMessage),
  ]);
  return new MultipleErrors("Producing messages failed.", [response]);
}

describe("Kafka destination errors", () => {
  it("is a DeliveryError naming what was being done, without the password", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9092 s3cr3t-pa55"), {
      code: "ECONNREFUSED",
    });
    const cause = new MultipleErrors("Cannot connect to any broker.", [
      new NetworkError("Connection to 127.0.0.1:9092 failed.", { cause: refused }),
    ]);
    const e = kafkaError(cause, ctx);
    expect(e).toBeInstanceOf(DeliveryError);
    expect(e).toMatchObject({
      retryable: true,
      tooLarge: false,
      cause,
      message: "producing to topic audit (kafka:9092) failed: connect ECONNREFUSED 127.0.0.1:9092 [redacted]",
    });
    expect(kafkaError(answered("Produce", "TOPIC_AUTHORIZATION_FAILED"), ctx)).toMatchObject({
      retryable: false,
      tooLarge: false,
      message: expect.stringMatching(/^producing to topic audit \(kafka:9092\): not authorized/),
    });
  });

  it("says a batch over max.message.bytes is too large", () => {
    for (const id of ["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE"]) {
      expect(kafkaError(answered("Produce", id), ctx)).toMatchObject({
        retryable: true,
        tooLarge: true,
        message:
          `producing to topic audit (kafka:9092): the broker refused the batch as too large (${id}: over the ` +
          "topic's max.message.bytes)",
      });
    }
  });

  it("retries what an idempotent producer recovers from by starting over", () => {
    for (const id of ["OUT_OF_ORDER_SEQUENCE_NUMBER", "UNKNOWN_PRODUCER_ID", "INVALID_PRODUCER_EPOCH"]) {
      const e = kafkaError(answered("Produce", id, "start over"), ctx);
      expect(e.retryable, id).toBe(true);
      expect(e.message).toBe(`producing to topic audit (kafka:9092) failed: ${id}: start over`);
    }
  });

  it("retries a missing topic Vigil creates, and parks on one it may not", () => {
    const unknown = new UserError("Unknown topic audit.");
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
});
