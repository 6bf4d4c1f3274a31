/**
 * The primitives (Reader, Writer), the request and response headers, and countRecords: edge values, the errors
 * malformed input gets (type, what was read, offset), and what the writer refuses to write.
 */
import { describe, expect, it } from "vitest";
import { crc32c, recordBatch } from "../../../../test/support/kafka-codec.ts";
import { KafkaProtocolError, Reader, Writer } from "./bytes.ts";
import {
  countRecords,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  readRequestHeader,
  responseHeaderVersion,
} from "./index.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

function written(write: (w: Writer) => void): Buffer {
  const w = new Writer(1);
  write(w);
  return w.finish();
}

function thrown(fn: () => unknown): KafkaProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KafkaProtocolError);
    return e as KafkaProtocolError;
  }
  throw new Error("did not throw");
}

describe("Reader and Writer", () => {
  it("read back what they write at the edges of every integer type", () => {
    const ints = [
      ["int8", [-128, -1, 0, 127]],
      ["int16", [-32768, -1, 0, 32767]],
      ["uint16", [0, 65535]],
      ["int32", [-(2 ** 31), -1, 0, 2 ** 31 - 1]],
      ["uint32", [0, 2 ** 32 - 1]],
      ["varint", [-(2 ** 31), -1, 0, 1, 63, 64, 2 ** 31 - 1]],
      ["uvarint", [0, 127, 128, 16383, 16384, 2 ** 32 - 1]],
      ["float64", [0, -1.5, Number.MAX_VALUE, Number.POSITIVE_INFINITY]],
    ] as const;
    for (const [type, values] of ints) {
      for (const v of values) {
        const bytes = written((w) => w[type](v));
        const r = new Reader(bytes);
        expect(r[type]()).toBe(v);
        expect(r.remaining).toBe(0);
      }
    }
    for (const v of [-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]) {
      expect(new Reader(written((w) => w.int64(v))).int64()).toBe(v);
      const varlong = written((w) => w.varlong(v));
      expect(new Reader(varlong).varlong()).toBe(v);
      expect(varlong.length).toBeLessThanOrEqual(10);
    }
  });

  it("write varints as Kafka does: zigzag for signed, 7 bits a byte, low bits first", () => {
    expect(written((w) => w.uvarint(300))).toEqual(hex("ac 02"));
    expect(written((w) => w.varint(-1))).toEqual(hex("01"));
    expect(written((w) => w.varint(1))).toEqual(hex("02"));
    expect(written((w) => w.varlong(-2n))).toEqual(hex("03"));
    expect(written((w) => w.uvarint(2 ** 32 - 1))).toEqual(hex("ff ff ff ff 0f"));
  });

  it("refuse varints that never end or exceed their size", () => {
    expect(thrown(() => new Reader(hex("ff ff ff ff ff ff")).uvarint()).message).toBe(
      "unsigned varint at offset 0 exceeds 32 bits",
    );
    expect(thrown(() => new Reader(hex("ff ff ff ff 1f")).uvarint()).message).toContain("exceeds 32 bits");
    expect(thrown(() => new Reader(hex("80 80")).uvarint()).message).toBe(
      "truncated unsigned varint at offset 0",
    );
    expect(thrown(() => new Reader(Buffer.alloc(11, 0xff)).varlong()).message).toContain("exceeds 64 bits");
    expect(thrown(() => new Reader(hex("ff ff")).varlong()).message).toBe("truncated varlong at offset 0");
  });

  it("read strings, bytes and arrays in both encodings, null where nullable", () => {
    expect(new Reader(hex("0003 616263")).string()).toBe("abc");
    expect(new Reader(hex("ffff")).nullableString()).toBeNull();
    expect(new Reader(hex("04 616263")).compactString()).toBe("abc");
    expect(new Reader(hex("00")).compactNullableString()).toBeNull();
    expect(new Reader(hex("00000002 beef")).bytes()).toEqual(hex("beef"));
    expect(new Reader(hex("ffffffff")).nullableBytes()).toBeNull();
    expect(new Reader(hex("03 beef")).compactBytes()).toEqual(hex("beef"));
    expect(new Reader(hex("00")).compactNullableBytes()).toBeNull();
    expect(new Reader(hex("ffffffff")).arrayLength(4, true)).toBe(-1);
    expect(new Reader(hex("00")).compactArrayLength(4, true)).toBe(-1);
    expect(new Reader(hex("03 0000 0000")).compactArrayLength(2, false)).toBe(2);
  });

  it("slice bytes from the frame without copying them", () => {
    const frame = hex("00000003 010203");
    const b = new Reader(frame).bytes();
    frame[5] = 0x99;
    expect(b[1]).toBe(0x99);
  });

  it("read a uuid as Kafka prints it, and write it back", () => {
    const bytes = hex("a4cb7be6b2934b119a85ffe8c0626068");
    const id = new Reader(bytes).uuid();
    expect(id).toBe("pMt75rKTSxGahf_owGJgaA");
    expect(written((w) => w.uuid(id))).toEqual(bytes);
    expect(thrown(() => written((w) => w.uuid("pMt75rKTSxGahf_owGJgaB"))).message).toContain("uuid");
    expect(thrown(() => written((w) => w.uuid("a4cb7be6-b293-4b11-9a85-ffe8c0626068"))).message).toContain(
      "uuid",
    );
  });

  it("refuse truncated values and lengths that do not fit, naming what and where", () => {
    expect(thrown(() => new Reader(hex("0000 00"), 1).int32()).message).toBe(
      "truncated int32 at offset 1: needs 4 bytes, 2 left",
    );
    expect(thrown(() => new Reader(hex("0005 6162")).string()).message).toBe(
      "truncated string at offset 2: needs 5 bytes, 2 left",
    );
    expect(thrown(() => new Reader(hex("ffff")).string()).message).toBe(
      "string length -1 at offset 0 is invalid (null where not nullable)",
    );
    expect(thrown(() => new Reader(hex("fffe")).nullableString()).message).toContain("length -2");
    expect(thrown(() => new Reader(hex("80000000")).nullableBytes()).message).toContain("length -2147483648");
    expect(thrown(() => new Reader(hex("00")).compactString()).message).toContain("null where not nullable");
    expect(thrown(() => new Reader(hex("7fffffff 00")).arrayLength(1, false)).message).toBe(
      "array of 2147483647 elements at offset 0 cannot fit in the 1 bytes left",
    );
    // Two int32 elements need 8 bytes, not the 5 left.
    expect(thrown(() => new Reader(hex("03 0000000000")).compactArrayLength(4, false)).message).toContain(
      "cannot fit",
    );
  });

  it("check tagged fields: their count, and that a known field's value fills its size", () => {
    const visited: [number, string][] = [];
    new Reader(hex("02 00 01 07 05 02 beef")).taggedFields((tag, f) => {
      visited.push([tag, f.raw(f.remaining).toString("hex")]);
    });
    expect(visited).toEqual([
      [0, "07"],
      [5, "beef"],
    ]);
    expect(thrown(() => new Reader(hex("7f 00")).taggedFields(() => {})).message).toContain("cannot fit");
    expect(thrown(() => new Reader(hex("01 00 02 07 07")).taggedFields((_t, f) => f.int8())).message).toBe(
      "tagged field 0 at offset 3 has 2 bytes but its value took 1",
    );
  });

  it("refuse to write values of the wrong type or range", () => {
    const cases: [(w: Writer) => void, string][] = [
      [(w) => w.int8(128), "expected int8, got number 128"],
      [(w) => w.int16(1.5), "expected int16, got number 1.5"],
      [(w) => w.int32("1"), 'expected int32, got string "1"'],
      [(w) => w.int64(1), "expected int64 (a bigint), got number 1"],
      [(w) => w.int64(2n ** 63n), "expected int64 (a bigint), got bigint 9223372036854775808n"],
      [(w) => w.bool(1), "expected bool, got number 1"],
      [(w) => w.string(null), "expected string, got object null"],
      [(w) => w.bytes("ab"), 'expected bytes (a Buffer), got string "ab"'],
      [(w) => w.string("x".repeat(40_000)), "string of 40000 bytes exceeds the int16 length"],
    ];
    for (const [write, message] of cases) expect(thrown(() => written(write)).message).toBe(message);
  });
});

describe("headers", () => {
  it("read a request header v1 and v2, and give an unknown API's header with its body's offset", () => {
    // Metadata v8 (not flexible): header v1.
    const v1 = hex("0003 0008 0000002a 0003 636c69 ffffffff 00 00 00");
    expect(readRequestHeader(v1)).toEqual({
      apiKey: 3,
      apiVersion: 8,
      correlationId: 42,
      clientId: "cli",
      bodyOffset: 13,
    });
    // Metadata v9 (flexible): header v2, one tagged field skipped.
    const v2 = hex("0003 0009 0000002a ffff 01 05 01 00 01 00 00");
    expect(readRequestHeader(v2)).toMatchObject({ clientId: null, bodyOffset: 14 });
    // An unknown API key: header v1, even if its version might be flexible.
    const unknown = hex("7fff 0063 00000001 0001 78 deadbeef");
    expect(readRequestHeader(unknown)).toMatchObject({ apiKey: 32767, apiVersion: 99, bodyOffset: 11 });
    expect(thrown(() => decodeRequest(readRequestHeader(unknown), unknown)).message).toBe(
      "API key 32767 is not supported",
    );
    expect(thrown(() => readRequestHeader(hex("0003 0009 0000"))).message).toBe(
      "request header: truncated int32 at offset 4: needs 4 bytes, 2 left",
    );
  });

  it("use response header v1 for flexible versions, except ApiVersions' v0", () => {
    expect(responseHeaderVersion(3, 8)).toBe(0);
    expect(responseHeaderVersion(3, 9)).toBe(1);
    expect(responseHeaderVersion(18, 3)).toBe(0);
    expect(responseHeaderVersion(18, 4)).toBe(0);
    expect(responseHeaderVersion(32767, 9)).toBe(0);
  });

  it("refuse versions outside an API's range and bodies with bytes left over", () => {
    const heartbeat = { groupId: "g", generationId: 1, memberId: "m", groupInstanceId: null };
    const frame = encodeRequest({ apiKey: 12, apiVersion: 3, correlationId: 1, clientId: null }, heartbeat);
    const tooNew = Buffer.from(frame.subarray(4));
    tooNew.writeInt16BE(5, 2);
    expect(thrown(() => decodeRequest(readRequestHeader(tooNew), tooNew)).message).toBe(
      "HeartbeatRequest version 5 is not supported (versions 0-4)",
    );
    const longer = Buffer.concat([frame.subarray(4), hex("00")]);
    expect(thrown(() => decodeRequest(readRequestHeader(longer), longer)).message).toBe(
      `HeartbeatRequest v3: 1 bytes left over at offset ${longer.length - 1} after the body`,
    );
    const response = encodeResponse(12, 3, 7, { throttleTimeMs: 0, errorCode: 0 });
    expect(decodeResponse(12, 3, response.subarray(4))).toEqual({
      correlationId: 7,
      body: { throttleTimeMs: 0, errorCode: 0 },
    });
    expect(thrown(() => decodeResponse(12, 3, response.subarray(4, 13))).message).toBe(
      "HeartbeatResponse v3: errorCode: truncated int16 at offset 8: needs 2 bytes, 1 left",
    );
  });

  it("name the path to a malformed field, and what an encoded value lacks", () => {
    const body = { acks: -1, timeoutMs: 1000, transactionalId: null, topicData: [] as unknown[] };
    body.topicData.push({ name: "t", partitionData: [{ index: 0, records: hex("0102") }] });
    const frame = encodeRequest(
      { apiKey: 0, apiVersion: 8, correlationId: 1, clientId: null },
      body,
    ).subarray(4);
    const cut = frame.subarray(0, frame.length - 1);
    expect(thrown(() => decodeRequest(readRequestHeader(cut), cut)).message).toBe(
      `ProduceRequest v8: topicData[0].partitionData[0].records: truncated bytes at offset ${cut.length - 1}: needs 2 bytes, 1 left`,
    );
    const bad = { ...body, topicData: [{ name: "t", partitionData: [{ index: 0 }] }] };
    expect(
      thrown(() => encodeRequest({ apiKey: 0, apiVersion: 8, correlationId: 1, clientId: null }, bad))
        .message,
    ).toBe(
      "encoding ProduceRequest v8: topicData[0].partitionData[0].records: expected nullable bytes (a Buffer), got undefined undefined",
    );
  });
});

describe("countRecords", () => {
  const ts = 1_700_000_000_000n;

  it("counts batches and records from the batch headers, without decompressing", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    const a = recordBatch([Buffer.from("x"), Buffer.from("y"), Buffer.from("z")], ts);
    const b = recordBatch([Buffer.alloc(1000)], ts);
    expect(countRecords(Buffer.concat([a, b]))).toEqual({
      batches: 2,
      records: 4,
      bytes: a.length + b.length,
    });
    expect(countRecords(null)).toEqual({ batches: 0, records: 0, bytes: 0 });
    expect(countRecords(Buffer.alloc(0))).toEqual({ batches: 0, records: 0, bytes: 0 });
    // A compressed batch: the count is in the header, the records need not be readable.
    const compressed = Buffer.from(a);
    compressed.writeInt16BE(4, 21);
    compressed.fill(0xee, 61);
    expect(countRecords(compressed)).toEqual({ batches: 1, records: 3, bytes: a.length });
  });

  it("leaves a batch cut short at the end uncounted, and says so by the bytes it counted", () => {
    const a = recordBatch([Buffer.from("x")], ts);
    const b = recordBatch([Buffer.from("y"), Buffer.from("z")], ts);
    const both = Buffer.concat([a, b]);
    for (const cut of [a.length + 5, a.length + 40, both.length - 1]) {
      expect(countRecords(both.subarray(0, cut))).toEqual({ batches: 1, records: 1, bytes: a.length });
    }
  });

  it("counts legacy message sets (magic 0 and 1) message by message", () => {
    // offset, size, crc, magic 1, attributes, timestamp, key -1, value "v"
    const v1 = hex("0000000000000000 00000017 00000000 01 00 0000018bcfe56800 ffffffff 00000001 76");
    // offset, size, crc, magic 0, attributes, key -1, value -1
    const v0 = hex("0000000000000001 0000000e 00000000 00 00 ffffffff ffffffff");
    expect(countRecords(Buffer.concat([v1, v0]))).toEqual({
      batches: 2,
      records: 2,
      bytes: v1.length + v0.length,
    });
  });

  it("refuses unknown magic, lengths below the header and negative counts", () => {
    const a = recordBatch([Buffer.from("x")], ts);
    const magic = Buffer.from(a);
    magic[16] = 3;
    expect(thrown(() => countRecords(magic)).message).toBe("record batch at offset 0 has unknown magic 3");
    const short = Buffer.from(a);
    short.writeInt32BE(48, 8);
    expect(thrown(() => countRecords(short)).message).toBe(
      "record batch at offset 0 has length 48, less than its header's 49",
    );
    const negative = Buffer.from(a);
    negative.writeInt32BE(-1, 57);
    expect(thrown(() => countRecords(negative)).message).toBe(
      "record batch at offset 0 has a records count of -1",
    );
  });
});
