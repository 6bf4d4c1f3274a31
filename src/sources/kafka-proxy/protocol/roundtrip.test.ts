/**
 * Round trips with generated messages: for every version of every API, random requests and responses generated
 * from Kafka's definitions (test/support/kafka-codec.ts) are encoded by the codec and by the independent reference encoder; the
 * bytes must be identical, decoding them must give back the message (unknown tagged fields included), and
 * encoding the decoded message must give back the bytes. Seeded: a failure names its seed.
 */
import { describe, expect, it } from "vitest";
import {
  generateBody,
  type KafkaMessage,
  loadMessage,
  Rng,
  referenceEncode,
} from "../../../../test/support/kafka-codec.ts";
import {
  APIS,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  readRequestHeader,
  responseHeaderVersion,
} from "./index.ts";

const MESSAGES_PER_VERSION = 25;

function check(name: string, seed: number, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    throw new Error(`${name} with seed ${seed}: ${(e as Error).message}`, { cause: e });
  }
}

describe.each([...APIS.values()].map((api) => [api.name, api] as const))("%s", (_name, api) => {
  it("requests of every version round-trip, byte for byte with the reference encoder", () => {
    const msg: KafkaMessage = loadMessage(`${api.name}Request`);
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      for (let i = 0; i < MESSAGES_PER_VERSION; i++) {
        const seed = api.key * 100_000 + v * 1000 + i;
        check(`${api.name}Request v${v}`, seed, () => {
          const rng = new Rng(seed);
          const body = generateBody(msg, v, rng);
          const clientId = rng.chance(0.2) ? null : `client-${i}`;
          const sized = encodeRequest(
            { apiKey: api.key, apiVersion: v, correlationId: seed, clientId },
            body,
          );
          expect(sized.readInt32BE(0)).toBe(sized.length - 4);
          const frame = sized.subarray(4);
          const header = readRequestHeader(frame);
          expect(header).toEqual({
            apiKey: api.key,
            apiVersion: v,
            correlationId: seed,
            clientId,
            bodyOffset:
              10 + (clientId === null ? 0 : Buffer.byteLength(clientId)) + (v >= api.flexibleFrom ? 1 : 0),
          });
          expect(frame.subarray(header.bodyOffset)).toEqual(referenceEncode(msg, v, body));
          const decoded = decodeRequest(header, frame);
          expect(decoded).toStrictEqual(body);
          expect(encodeRequest(header, decoded)).toEqual(sized);
        });
      }
    }
  });

  it("responses of every version round-trip, byte for byte with the reference encoder", () => {
    const msg: KafkaMessage = loadMessage(`${api.name}Response`);
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      for (let i = 0; i < MESSAGES_PER_VERSION; i++) {
        const seed = api.key * 100_000 + v * 1000 + 500 + i;
        check(`${api.name}Response v${v}`, seed, () => {
          const body = generateBody(msg, v, new Rng(seed));
          const sized = encodeResponse(api.key, v, -seed, body);
          expect(sized.readInt32BE(0)).toBe(sized.length - 4);
          const headerSize = 4 + responseHeaderVersion(api.key, v);
          expect(sized.subarray(4 + headerSize)).toEqual(referenceEncode(msg, v, body));
          const decoded = decodeResponse(api.key, v, sized.subarray(4));
          expect(decoded).toStrictEqual({ correlationId: -seed, body });
          expect(encodeResponse(api.key, v, decoded.correlationId, decoded.body)).toEqual(sized);
        });
      }
    }
  });
});

it("a round trip that can fail: a field the codec does not write is caught", () => {
  const msg = loadMessage("ProduceRequest");
  const body = generateBody(msg, 9, new Rng(1));
  const reference = referenceEncode(msg, 9, { ...body, acks: 2 });
  const frame = encodeRequest({ apiKey: 0, apiVersion: 9, correlationId: 1, clientId: null }, body).subarray(
    4,
  );
  expect(frame.subarray(readRequestHeader(frame).bodyOffset)).not.toEqual(reference);
});
