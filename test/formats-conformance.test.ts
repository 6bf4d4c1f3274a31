/**
 * Conformance of the formats over every shared fixture (issue 4, point 10): each record is decoded (or parsed,
 * for the Kafka logs), validated by prepareEvents, sealed, and encoded in every format. Each encoding must
 * rebuild the exact sealed record, whose signature verifies; OCSF must pass the schema validator and CloudEvents
 * the spec's required attributes; only events that did not come from Kubernetes have no Kubernetes form. The
 * number of records per fixture is fixed, so a line lost anywhere on the way fails the test.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { EventOrigin, InputEvent } from "../src/event/schema.ts";
import { prepareEvents } from "../src/event/validate.ts";
import { decode } from "../src/formats/decode.ts";
import {
  createEncoder,
  FORMAT_NAMES,
  type FormatName,
  readSealedRecord,
  type SealedRecord,
} from "../src/formats/encoder.ts";
import { EVENT_ANNOTATION, INTEGRITY_ANNOTATION } from "../src/formats/kubernetes/encode.ts";
import { validateOcsfEvent } from "../src/formats/ocsf/schema.ts";
import { canonicalize } from "../src/integrity/canonical.ts";
import {
  checkRecordSignature,
  EMPTY_CHAIN,
  formatRecord,
  type Integrity,
  parseRecord,
  Sealer,
} from "../src/integrity/chain.ts";
import { keyFromSecret } from "../src/integrity/keys.ts";
import { parseLines, unparsedEvent } from "../src/sources/authorizer-log/parse.ts";
import { fixturePath } from "./support/fixtures.ts";

type Json = Record<string, unknown>;

const key = keyFromSecret(Buffer.alloc(32, 11), "test");
const origin: EventOrigin = { source: "import", address: "127.0.0.1" };
const encoders = FORMAT_NAMES.map((format) =>
  createEncoder(format, { productVersion: "0.1.0", logOrigin: "audit.example.com/conformance" }),
);

interface Fixture {
  name: string;
  /** Native input events, in file order. */
  inputs: InputEvent[];
  /** Records expected from the file: its lines, less those that are not audit records (said where). */
  expected: number;
  /** Events decoded from Kubernetes audit Events: the only ones with a Kubernetes encoding. */
  kubernetes: boolean;
  /** Kafka logs: lines in the file, and lines parsed as events, unparsed or ignored; the two must agree. */
  lines?: { total: number; accounted: number };
}

function jsonLines(name: string): unknown[] {
  return readFileSync(fixturePath(name), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as unknown);
}

function decoded(name: string, expected: number, keep: (value: unknown) => boolean = () => true): Fixture {
  const inputs = jsonLines(name)
    .filter(keep)
    .flatMap((value) => decode(value));
  return { name, inputs, expected, kubernetes: name.startsWith("k8s/") };
}

/** A Kafka log: events, plus unparsed lines kept as `kafka.log_unparsed` events; no line may go unaccounted. */
function kafkaLog(name: string, lines: number, expected: number): Fixture {
  const text = readFileSync(fixturePath(name), "utf8");
  const parsed = parseLines(text);
  return {
    name,
    inputs: [...parsed.events, ...parsed.unparsed.map(unparsedEvent)],
    expected,
    kubernetes: false,
    lines: { total: lines, accounted: parsed.events.length + parsed.unparsed.length + parsed.ignored },
  };
}

const FALCO = "k8s/falco-k8s_audit/";
const falcoFiles = readdirSync(fixturePath(FALCO)).filter((f) => f !== "fal_01_003.json"); // `{"kind": 0}`

const fixtures = (): Fixture[] => [
  // One Event per file, except the six ConfigMap creations of create_configmap_sensitive_values.json.
  ...falcoFiles.map((f) => decoded(`${FALCO}${f}`, f === "create_configmap_sensitive_values.json" ? 6 : 1)),
  decoded("k8s/audit2rbac-demo.log", 37),
  // Line 4 is a GKE LogEntry (GCP's AuditLog, no Kubernetes Event inside): not decodable, left out.
  decoded("k8s/elastic-integrations-test-audit.log", 4, (v) => !("protoPayload" in (v as Json))),
  decoded("redpanda-ocsf-samples.ndjson", 8),
  decoded("confluent-audit-cloudevents.ndjson", 11),
  // 8 decisions, 1 logger comment kept as unparsed, 3 provenance comments ignored.
  kafkaLog("kafka/kafka-authorizer-acl-lines.log", 12, 9),
  // 3 StandardAuthorizer denials among 24 controller lines.
  kafkaLog("kafka/elastic-integrations-test-strimzi_kafka-4-1-1.log", 27, 3),
  kafkaLog("kafka/elastic-integrations-test-authlog.log", 3, 3),
];

function seal(inputs: InputEvent[]): SealedRecord[] {
  const sealer = new Sealer(key, EMPTY_CHAIN);
  return prepareEvents(
    inputs.map((value) => ({ value })),
    origin,
  ).map((e) => readSealedRecord(Buffer.from(sealer.seal(canonicalize(e)).line)));
}

/** The sealed record line rebuilt from one encoding alone, by the recipe in that encoder's header. */
function reassemble(format: FormatName, text: string): string {
  if (format === "native") return text;
  const value = JSON.parse(text) as Json;
  switch (format) {
    case "ocsf":
      return formatRecord(
        value.raw_data as string,
        (value.unmapped as { vigil_integrity: Integrity }).vigil_integrity,
      );
    case "cloudevents":
      return formatRecord(canonicalize(value.data), {
        sequence_number: Number(value.vigilseq),
        previous_signature: value.vigilprevsig as string,
        signature: value.vigilsig as string,
        key_id: value.vigilkeyid as string,
      });
    case "kubernetes": {
      const { annotations, ...body } = value;
      const added = annotations as Record<string, string>;
      const event = JSON.parse(added[EVENT_ANNOTATION] as string) as { details: { kubernetes: Json } };
      const kept = event.details.kubernetes;
      event.details.kubernetes = "annotations" in kept ? { ...body, annotations: kept.annotations } : body;
      return formatRecord(
        canonicalize(event),
        JSON.parse(added[INTEGRITY_ANNOTATION] as string) as Integrity,
      );
    }
  }
}

function verifies(line: string): string {
  const parsed = parseRecord(Buffer.from(line));
  return parsed.ok ? checkRecordSignature(parsed.record, key.secret) : parsed.reason;
}

/** The CloudEvents 1.0 required context attributes (spec §3.1) and the JSON format's `data`. */
function cloudEventProblems(ce: Json): string[] {
  const problems = ["id", "source", "specversion", "type"]
    .filter((name) => typeof ce[name] !== "string" || ce[name] === "")
    .map((name) => `${name}: required non-empty string`);
  if (ce.specversion !== "1.0") problems.push("specversion: not 1.0");
  if (!("data" in ce)) problems.push("data: missing");
  return problems;
}

describe("every fixture record through every format", () => {
  const all = fixtures();

  it("covers every fixture file, with the expected number of records each", () => {
    expect(falcoFiles).toHaveLength(46);
    expect(all.map((f) => f.inputs.length)).toEqual(all.map((f) => f.expected));
    for (const { lines } of all) if (lines) expect(lines.accounted).toBe(lines.total);
    expect(all.reduce((n, f) => n + f.expected, 0)).toBe(51 + 37 + 4 + 8 + 11 + 9 + 3 + 3);
  });

  it.each(all.map((f) => [f.name, f] as const))("%s", (_, fixture) => {
    const records = seal(fixture.inputs);
    expect(records).toHaveLength(fixture.expected);
    const skipped: number[] = [];
    for (const record of records) {
      const expected = Buffer.from(record.line).toString();
      for (const encoder of encoders) {
        const text = encoder.encode(record);
        if (text === undefined) {
          expect(encoder.format).toBe("kubernetes");
          skipped.push(record.integrity.sequence_number);
          continue;
        }
        const line = reassemble(encoder.format, text);
        expect(line, `${encoder.format} #${record.integrity.sequence_number}`).toBe(expected);
        expect(verifies(line)).toBe("valid");
        if (encoder.format === "ocsf") expect(validateOcsfEvent(JSON.parse(text)), text).toEqual([]);
        if (encoder.format === "cloudevents")
          expect(cloudEventProblems(JSON.parse(text) as Json)).toEqual([]);
      }
    }
    // Every record of a Kubernetes fixture has its Kubernetes form; no record of any other fixture does.
    expect(skipped).toEqual(fixture.kubernetes ? [] : records.map((r) => r.integrity.sequence_number));
  });
});
