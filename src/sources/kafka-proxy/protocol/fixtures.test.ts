/**
 * Hand-made frames, byte by byte as the protocol guide describes them, decoded field by field and encoded back
 * to the same bytes: ApiVersions v0 and v3, Metadata v12, Produce v9 with a real record batch, SaslHandshake v1,
 * SaslAuthenticate v2. Each frame is what follows the 4-byte size prefix.
 */
import { describe, expect, it } from "vitest";
import { crc32c, recordBatch } from "../../../../test/support/kafka-codec.ts";
import {
  countRecords,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  readRequestHeader,
} from "./index.ts";

/** Hex with spaces, newlines and `#` comments to the end of a line. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/#.*$/gm, "").replace(/\s+/g, ""), "hex");
}

function sized(frame: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(frame.length);
  return Buffer.concat([size, frame]);
}

/** Decodes a request frame, checks the header, and that encoding it again gives the frame. */
function request(frame: Buffer, header: object): Record<string, unknown> {
  const h = readRequestHeader(frame);
  expect(h).toEqual(header);
  const body = decodeRequest(h, frame);
  expect(encodeRequest(h, body)).toEqual(sized(frame));
  return body;
}

/** Decodes a response frame, checks the correlation id, and that encoding it again gives the frame. */
function response(
  apiKey: number,
  version: number,
  frame: Buffer,
  correlationId: number,
): Record<string, unknown> {
  const decoded = decodeResponse(apiKey, version, frame);
  expect(decoded.correlationId).toBe(correlationId);
  expect(encodeResponse(apiKey, version, correlationId, decoded.body)).toEqual(sized(frame));
  return decoded.body;
}

describe("ApiVersions", () => {
  it("v0 request: header v1 and an empty body", () => {
    const frame = hex(`
      0012             # api_key 18 (ApiVersions)
      0000             # api_version 0
      00000001         # correlation_id 1
      0005 766967696c  # client_id "vigil" (int16 length)
    `);
    expect(
      request(frame, { apiKey: 18, apiVersion: 0, correlationId: 1, clientId: "vigil", bodyOffset: 15 }),
    ).toEqual({});
  });

  it("v0 response: error code and the API ranges", () => {
    const frame = hex(`
      00000001         # correlation_id 1 (response header v0)
      0000             # error_code 0
      00000002         # api_keys: int32 count 2
        0000 0003 000d #   Produce 3-13
        0012 0000 0004 #   ApiVersions 0-4
    `);
    expect(response(18, 0, frame, 1)).toEqual({
      errorCode: 0,
      apiKeys: [
        { apiKey: 0, minVersion: 3, maxVersion: 13 },
        { apiKey: 18, minVersion: 0, maxVersion: 4 },
      ],
    });
  });

  it("v3 request: header v2 (tagged fields) and compact strings", () => {
    const frame = hex(`
      0012 0003 00000002          # api_key 18, api_version 3, correlation_id 2
      0005 766967696c             # client_id "vigil": still an int16 length in header v2
      00                          # header tagged fields: none
      0b 76696769 6c2d7465 7374   # client_software_name "vigil-test": compact, length + 1 = 11
      06 342e342e30               # client_software_version "4.4.0"
      00                          # tagged fields: none
    `);
    expect(
      request(frame, { apiKey: 18, apiVersion: 3, correlationId: 2, clientId: "vigil", bodyOffset: 16 }),
    ).toEqual({ clientSoftwareName: "vigil-test", clientSoftwareVersion: "4.4.0" });
  });

  it("v3 response: header v0 despite a flexible body, tagged features, an unknown tag kept", () => {
    const frame = hex(`
      00000002                    # correlation_id 2: ApiVersions responses always have header v0
      0000                        # error_code 0
      03                          # api_keys: compact array, 2 + 1
        0000 0003 000d 00         #   Produce 3-13, no tagged fields
        0012 0000 0004 00         #   ApiVersions 0-4
      00000000                    # throttle_time_ms 0
      03                          # 3 tagged fields
        00 17                     #   tag 0 (supported_features), 23 bytes:
          02                      #     compact array of 1
          11 6d657461646174612e76657273696f6e  # name "metadata.version"
          0001 001b 00            #     min_version 1, max_version 27, no tagged fields
        01 08 0000000000000005    #   tag 1 (finalized_features_epoch), 8 bytes: 5
        09 01 ff                  #   tag 9: unknown to Kafka 4.4, 1 byte
    `);
    expect(response(18, 3, frame, 2)).toEqual({
      errorCode: 0,
      apiKeys: [
        { apiKey: 0, minVersion: 3, maxVersion: 13 },
        { apiKey: 18, minVersion: 0, maxVersion: 4 },
      ],
      throttleTimeMs: 0,
      supportedFeatures: [{ name: "metadata.version", minVersion: 1, maxVersion: 27 }],
      finalizedFeaturesEpoch: 5n,
      _tagged: new Map([[9, Buffer.from([0xff])]]),
    });
  });
});

it("Metadata v12 response: brokers, cluster, a topic with its id and a partition", () => {
  const frame = hex(`
    00000003 00                 # correlation_id 3, header v1 with no tagged fields
    00000000                    # throttle_time_ms 0
    02                          # brokers: 1
      00000001                  #   node_id 1
      0a 6c6f63616c686f7374     #   host "localhost"
      00002384                  #   port 9092
      00                        #   rack: null
      00                        #   no tagged fields
    04 616263                   # cluster_id "abc"
    00000001                    # controller_id 1
    02                          # topics: 1
      0000                      #   error_code 0
      07 6f7264657273           #   name "orders" (nullable from v12)
      a4cb7be6b2934b119a85ffe8c0626068  # topic_id
      00                        #   is_internal false
      02                        #   partitions: 1
        0000 00000000 00000001  #     error_code 0, partition_index 0, leader_id 1
        00000000                #     leader_epoch 0
        02 00000001             #     replica_nodes [1]
        02 00000001             #     isr_nodes [1]
        01                      #     offline_replicas []
        00                      #     no tagged fields
      80000000                  #   topic_authorized_operations: -2^31 (not asked for)
      00                        #   no tagged fields
    00                          # no tagged fields
  `);
  expect(response(3, 12, frame, 3)).toEqual({
    throttleTimeMs: 0,
    brokers: [{ nodeId: 1, host: "localhost", port: 9092, rack: null }],
    clusterId: "abc",
    controllerId: 1,
    topics: [
      {
        errorCode: 0,
        name: "orders",
        topicId: "pMt75rKTSxGahf_owGJgaA",
        isInternal: false,
        partitions: [
          {
            errorCode: 0,
            partitionIndex: 0,
            leaderId: 1,
            leaderEpoch: 0,
            replicaNodes: [1],
            isrNodes: [1],
            offlineReplicas: [],
          },
        ],
        topicAuthorizedOperations: -(2 ** 31),
      },
    ],
  });
});

it("Produce v9 request with a real record batch, counted without reading its records", () => {
  const batch = hex(`
    0000000000000000          # base_offset 0
    0000003f                  # batch_length 63: the bytes after this field
    ffffffff                  # partition_leader_epoch -1
    02                        # magic 2
    34368e37                  # crc: CRC-32C of the bytes from attributes to the end
    0000                      # attributes: no compression, create time
    00000000                  # last_offset_delta 0
    0000018bcfe56800          # base_timestamp 1700000000000
    0000018bcfe56800          # max_timestamp
    ffffffffffffffff ffff ffffffff  # producer_id -1, producer_epoch -1, base_sequence -1
    00000001                  # records_count 1
    1a                        # record length 13 (zigzag varint)
      00 00 00                #   attributes, timestamp_delta 0, offset_delta 0
      0a 6b65792d30           #   key "key-0" (varint length 5)
      04 6869                 #   value "hi"
      00                      #   headers: none
  `);
  expect(batch).toEqual(recordBatch([Buffer.from("hi")], 1_700_000_000_000n));
  expect(crc32c(batch.subarray(21))).toBe(batch.readUInt32BE(17));
  const frame = Buffer.concat([
    hex(`
      0000 0009 00000004        # api_key 0 (Produce), api_version 9, correlation_id 4
      0005 766967696c 00        # client_id "vigil", no header tagged fields
      00                        # transactional_id: null
      ffff                      # acks -1
      00007530                  # timeout_ms 30000
      02                        # topic_data: 1
        07 6f7264657273         #   name "orders"
        02                      #   partition_data: 1
          00000000              #     index 0
          4c                    #     records: compact, 75 + 1 bytes
    `),
    batch,
    hex(`
          00                    #     no tagged fields
        00                      #   no tagged fields
      00                        # no tagged fields
    `),
  ]);
  const body = request(frame, {
    apiKey: 0,
    apiVersion: 9,
    correlationId: 4,
    clientId: "vigil",
    bodyOffset: 16,
  });
  expect(body).toEqual({
    transactionalId: null,
    acks: -1,
    timeoutMs: 30000,
    topicData: [{ name: "orders", partitionData: [{ index: 0, records: batch }] }],
  });
  const records = (body.topicData as { partitionData: { records: Buffer }[] }[])[0]?.partitionData[0]
    ?.records;
  expect(records?.buffer).toBe(frame.buffer);
  expect(countRecords(records ?? null)).toEqual({ batches: 1, records: 1, bytes: 75 });
});

describe("SASL", () => {
  it("SaslHandshake v1: the mechanism asked for and those enabled", () => {
    const req = hex(`
      0011 0001 00000005        # api_key 17 (SaslHandshake), api_version 1, correlation_id 5
      0005 766967696c           # client_id "vigil" (header v1: SaslHandshake is never flexible)
      000d 5343 52414d2d 5348412d 323536  # mechanism "SCRAM-SHA-256"
    `);
    expect(
      request(req, { apiKey: 17, apiVersion: 1, correlationId: 5, clientId: "vigil", bodyOffset: 15 }),
    ).toEqual({
      mechanism: "SCRAM-SHA-256",
    });
    const res = hex(`
      00000005                  # correlation_id 5
      0000                      # error_code 0
      00000002                  # mechanisms: 2
        000d 5343 52414d2d 5348412d 323536  # "SCRAM-SHA-256"
        000d 5343 52414d2d 5348412d 353132  # "SCRAM-SHA-512"
    `);
    expect(response(17, 1, res, 5)).toEqual({ errorCode: 0, mechanisms: ["SCRAM-SHA-256", "SCRAM-SHA-512"] });
  });

  it("SaslAuthenticate v2: the mechanism's bytes as compact bytes, and the session lifetime", () => {
    const req = hex(`
      0024 0002 00000006        # api_key 36 (SaslAuthenticate), api_version 2, correlation_id 6
      0005 766967696c 00        # client_id "vigil", no header tagged fields
      11 6e2c2c6e3d766967696c2c723d616263  # auth_bytes "n,,n=vigil,r=abc" (SCRAM client-first)
      00                        # no tagged fields
    `);
    expect(
      request(req, { apiKey: 36, apiVersion: 2, correlationId: 6, clientId: "vigil", bodyOffset: 16 }),
    ).toEqual({
      authBytes: Buffer.from("n,,n=vigil,r=abc"),
    });
    const res = hex(`
      00000006 00               # correlation_id 6, header v1 with no tagged fields
      0000                      # error_code 0
      00                        # error_message: null
      1b 723d6162636465662c733d6332467364413d3d2c693d34303936  # auth_bytes "r=abcdef,s=c2FsdA==,i=4096"
      0000000000000000          # session_lifetime_ms 0
      00                        # no tagged fields
    `);
    expect(response(36, 2, res, 6)).toEqual({
      errorCode: 0,
      errorMessage: null,
      authBytes: Buffer.from("r=abcdef,s=c2FsdA==,i=4096"),
      sessionLifetimeMs: 0n,
    });
  });
});
