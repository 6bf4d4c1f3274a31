/**
 * Malformed input: valid requests and responses of every version of every API, mutated (cut at every length,
 * random bytes changed, lengths overwritten with huge and negative values, varints that never end, bytes
 * inserted and deleted), must decode or throw KafkaProtocolError: never another error, never taking long, and never
 * into more values than the frame has bytes (so a hostile length cannot make the decoder allocate). Seeded: a
 * failure names the seed and the mutation.
 */
import { expect, it } from "vitest";
import { generateBody, loadMessage, Rng, recordBatch } from "../../../../test/support/kafka-codec.ts";
import { KafkaProtocolError } from "./bytes.ts";
import {
  APIS,
  countRecords,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  readRequestHeader,
} from "./index.ts";

const SEED = 7_042;
const MESSAGES_PER_VERSION = 2;
const RANDOM_MUTATIONS = 150;
/**
 * Generous: a decode takes microseconds; this only catches loops that run away. A decode slower than this is run
 * again and its CPU time measured, so that a busy machine which descheduled the test does not fail it.
 */
const SLOWEST_DECODE_MS = 250;

const HOSTILE = [
  "7fffffff",
  "ffffffff",
  "80000000",
  "fffffffe",
  "7fff",
  "8000",
  "fffe",
  "ff",
  "80",
  "ffffffffffffffffffff",
  "8080808080808080",
].map((h) => Buffer.from(h, "hex"));

/** Mutations of `frame`: every truncation, then random ones. Each comes with a description. */
function* mutations(frame: Buffer, rng: Rng): Generator<[string, Buffer]> {
  for (let n = 0; n < frame.length; n++) yield [`cut at ${n}`, frame.subarray(0, n)];
  for (let i = 0; i < RANDOM_MUTATIONS; i++) {
    const at = rng.int(0, frame.length - 1);
    const m = Buffer.from(frame);
    switch (rng.int(0, 3)) {
      case 0: {
        const n = rng.int(1, 3);
        for (let k = 0; k < n; k++) m[rng.int(0, m.length - 1)] = rng.int(0, 255);
        yield [`${n} random bytes`, m];
        break;
      }
      case 1: {
        const h = HOSTILE[rng.int(0, HOSTILE.length - 1)] as Buffer;
        h.copy(m, at);
        yield [`${h.toString("hex")} at ${at}`, m];
        break;
      }
      case 2: {
        const h = HOSTILE[rng.int(0, HOSTILE.length - 1)] as Buffer;
        yield [
          `${h.toString("hex")} inserted at ${at}`,
          Buffer.concat([frame.subarray(0, at), h, frame.subarray(at)]),
        ];
        break;
      }
      default: {
        const n = rng.int(1, 8);
        yield [`${n} bytes deleted at ${at}`, Buffer.concat([frame.subarray(0, at), frame.subarray(at + n)])];
      }
    }
  }
}

/** How many values a decoded message holds (objects, arrays and their elements, leaves). */
function values(x: unknown): number {
  if (Array.isArray(x)) return 1 + x.reduce((sum: number, e) => sum + values(e), 0);
  if (x !== null && typeof x === "object" && !Buffer.isBuffer(x) && !(x instanceof Map)) {
    return 1 + Object.values(x).reduce((sum: number, e) => sum + values(e), 0);
  }
  return 1;
}

/** Runs `decode` on `frame`; fails the test on any error but KafkaProtocolError, a slow decode or a blow-up. */
function survive(what: string, frame: Buffer, decode: (frame: Buffer) => unknown): "ok" | "refused" {
  const start = performance.now();
  const outcome = attempt(what, frame, decode);
  if (performance.now() - start > SLOWEST_DECODE_MS) {
    const cpu = process.cpuUsage();
    attempt(what, frame, decode);
    const used = process.cpuUsage(cpu);
    const ms = (used.user + used.system) / 1000;
    if (ms > SLOWEST_DECODE_MS) throw new Error(`${what}: took ${ms.toFixed(0)} ms of CPU`);
  }
  return outcome;
}

function attempt(what: string, frame: Buffer, decode: (frame: Buffer) => unknown): "ok" | "refused" {
  try {
    const decoded = decode(frame);
    expect(values(decoded), `${what}: values`).toBeLessThanOrEqual(frame.length + 1);
    return "ok";
  } catch (e) {
    if (e instanceof KafkaProtocolError) return "refused";
    throw new Error(`${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
  }
}

const decodeRequestFrame = (frame: Buffer) => decodeRequest(readRequestHeader(frame), frame);

for (const api of APIS.values()) {
  it(`${api.name}: mutated requests and responses decode or throw KafkaProtocolError`, () => {
    const requestJson = loadMessage(`${api.name}Request`);
    const responseJson = loadMessage(`${api.name}Response`);
    const outcomes = { ok: 0, refused: 0 };
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      for (let i = 0; i < MESSAGES_PER_VERSION; i++) {
        const seed = SEED + api.key * 10_000 + v * 100 + i;
        const rng = new Rng(seed);
        const header = { apiKey: api.key, apiVersion: v, correlationId: i, clientId: "fuzz" };
        const request = encodeRequest(header, generateBody(requestJson, v, rng)).subarray(4);
        for (const [mutation, frame] of mutations(request, rng)) {
          outcomes[
            survive(`${api.name}Request v${v} seed ${seed}, ${mutation}`, frame, decodeRequestFrame)
          ]++;
        }
        const response = encodeResponse(api.key, v, i, generateBody(responseJson, v, rng)).subarray(4);
        for (const [mutation, frame] of mutations(response, rng)) {
          const decode = (f: Buffer) => decodeResponse(api.key, v, f);
          outcomes[survive(`${api.name}Response v${v} seed ${seed}, ${mutation}`, frame, decode)]++;
        }
      }
    }
    // Both outcomes happen: the mutations reach past the parts of frames that any bytes would do for.
    expect(outcomes.refused).toBeGreaterThan(0);
    expect(outcomes.ok).toBeGreaterThan(0);
  });
}

it("countRecords: mutated record batches count or throw KafkaProtocolError", () => {
  const rng = new Rng(SEED);
  const batches = Buffer.concat([
    recordBatch([Buffer.from("a"), Buffer.from("bc")], 1_700_000_000_000n),
    recordBatch([Buffer.alloc(50)], 1_700_000_000_001n),
  ]);
  for (const [mutation, frame] of mutations(batches, rng)) {
    survive(`record batches, ${mutation}`, frame, (f) => {
      const counted = countRecords(f);
      expect(counted.bytes).toBeLessThanOrEqual(f.length);
      return [];
    });
  }
});

it("a length of 2^31-1 is refused at once, without allocating or looping", () => {
  // Metadata v8: topics array claiming 2147483647 elements in a 14-byte body.
  const frame = Buffer.from(
    "0003 0008 00000001 ffff 7fffffff 00 00 00 00 00 00 00 00 00 00".replace(/ /g, ""),
    "hex",
  );
  expect(() => decodeRequestFrame(frame)).toThrow(
    "MetadataRequest v8: topics: array of 2147483647 elements at offset 10 cannot fit in the 10 bytes left",
  );
});
