import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { NativeEvent } from "../../event/schema.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import {
  checkRecordSignature,
  EMPTY_CHAIN,
  formatRecord,
  parseRecord,
  Sealer,
} from "../../integrity/chain.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import { createEncoder, readSealedRecord, type SealedRecord } from "../encoder.ts";
import { decodeKubernetes } from "./decode.ts";
import { EVENT_ANNOTATION, INTEGRITY_ANNOTATION } from "./encode.ts";

const FIXTURES = new URL("../../../../shared/fixtures/k8s/", import.meta.url);
const key = keyFromSecret(Buffer.alloc(32, 5), "test");
const encoder = createEncoder("kubernetes", { productVersion: "0.1.0" });

type Json = Record<string, unknown>;

function fixtureLines(name: string): Json[] {
  return readFileSync(new URL(name, FIXTURES), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Json);
}

let counter = 0;
function nativeEvent(fields: Partial<NativeEvent>): NativeEvent {
  counter++;
  return {
    timestamp: "2018-10-26T13:42:46Z",
    event_type: "k8s.create",
    event_id: `evt_${counter}`,
    version: "1.0",
    received_at: "2024-12-01T10:15:30.456Z",
    origin: { source: "kubernetes-webhook", address: "10.0.0.2" },
    ...fields,
  };
}

/** Native events as the Kubernetes decoder makes them from the API server's records. */
function decoded(originals: Json[]): NativeEvent[] {
  return originals
    .flatMap((o) => decodeKubernetes(o))
    .map((input) => nativeEvent(input as Partial<NativeEvent>));
}

function seal(events: NativeEvent[]): SealedRecord[] {
  const sealer = new Sealer(key, EMPTY_CHAIN);
  return events.map((e) => readSealedRecord(Buffer.from(sealer.seal(canonicalize(e)).line)));
}

function encode(record: SealedRecord): Json {
  const text = encoder.encode(record);
  if (text === undefined) throw new Error("not encoded");
  return JSON.parse(text) as Json;
}

/** The sealed record line rebuilt from the Kubernetes Event alone (the recipe in encode.ts). */
function reassemble(k8s: Json): string {
  const { annotations, ...body } = k8s;
  const added = annotations as Record<string, string>;
  const event = JSON.parse(added[EVENT_ANNOTATION] as string) as { details: { kubernetes: Json } };
  const kept = event.details.kubernetes;
  event.details.kubernetes = "annotations" in kept ? { ...body, annotations: kept.annotations } : body;
  return formatRecord(canonicalize(event), JSON.parse(added[INTEGRITY_ANNOTATION] as string));
}

function verifies(line: string): string {
  const parsed = parseRecord(Buffer.from(line));
  return parsed.ok ? checkRecordSignature(parsed.record, key.secret) : parsed.reason;
}

function withoutVigilAnnotations(k8s: Json): Json {
  const { [INTEGRITY_ANNOTATION]: _i, [EVENT_ANNOTATION]: _e, ...rest } = k8s.annotations as Json;
  const { annotations: _a, ...body } = k8s;
  return Object.keys(rest).length > 0 ? { ...body, annotations: rest } : body;
}

describe("Kubernetes encoder", () => {
  it("re-emits the API server's original Event (audit2rbac fixture) with the integrity annotation", () => {
    const originals = fixtureLines("audit2rbac-demo.log");
    const records = seal(decoded(originals));
    expect(records.length).toBe(originals.length);
    records.forEach((record, i) => {
      const k8s = encode(record);
      expect(withoutVigilAnnotations(k8s)).toEqual(originals[i]);
      expect(k8s.apiVersion).toBe("audit.k8s.io/v1");
      const annotations = k8s.annotations as Record<string, string>;
      expect(annotations[INTEGRITY_ANNOTATION]).toBe(JSON.stringify(record.integrity));
      expect(JSON.parse(annotations[INTEGRITY_ANNOTATION] as string)).toEqual({
        sequence_number: i + 1,
        previous_signature: record.integrity.previous_signature,
        signature: record.integrity.signature,
        key_id: key.id,
      });
    });
  });

  it("keeps the original's annotations beside Vigil's", () => {
    const [original] = fixtureLines("elastic-integrations-test-audit.log");
    const k8s = encode(seal(decoded([original as Json]))[0] as SealedRecord);
    expect(k8s.annotations).toMatchObject({
      "authorization.k8s.io/decision": "allow",
      "authorization.k8s.io/reason": "",
    });
    expect(withoutVigilAnnotations(k8s)).toEqual(original);
  });

  it("rebuilds every sealed record from the Event alone, and the signature verifies", () => {
    const falco = JSON.parse(
      readFileSync(new URL("falco-k8s_audit/attach_pod.json", FIXTURES), "utf8"),
    ) as Json;
    const originals = [
      ...fixtureLines("audit2rbac-demo.log").slice(0, 5),
      ...fixtureLines("elastic-integrations-test-audit.log").slice(0, 3),
      // No apiVersion (falco's captures): re-emitted as it came.
      falco,
      // An original that already carries Vigil's annotations: the record still comes back exactly.
      {
        ...falco,
        annotations: { [INTEGRITY_ANNOTATION]: "older", "authorization.k8s.io/decision": "allow" },
      },
      // Empty annotations are not the same as none.
      { ...falco, annotations: {} },
    ];
    const records = seal(decoded(originals));
    for (const record of records) {
      const line = reassemble(encode(record));
      expect(line).toBe(Buffer.from(record.line).toString());
      expect(verifies(line)).toBe("valid");
    }
    expect(encode(records[8] as SealedRecord)).not.toHaveProperty("apiVersion");
    const tampered = encode(records[0] as SealedRecord);
    tampered.verb = "delete";
    expect(verifies(reassemble(tampered))).toBe("invalid");
  });

  it("returns undefined for events that did not come from Kubernetes", () => {
    const records = seal([
      nativeEvent({ event_type: "backup.completed" }),
      nativeEvent({ details: { kubernetes: { kind: "Pod", apiVersion: "v1" } } }),
      nativeEvent({ details: { kubernetes: { kind: "Event", apiVersion: "v1", reason: "Scheduled" } } }),
      nativeEvent({ details: { kubernetes: "Event" } }),
    ]);
    for (const record of records) expect(encoder.encode(record)).toBeUndefined();
    expect(encoder.format).toBe("kubernetes");
    expect(encoder.mediaType).toBe("application/json");
  });
});
