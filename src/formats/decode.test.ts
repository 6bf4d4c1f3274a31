import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import { type DecodeFormat, decode, detectFormat } from "./decode.ts";

const FIXTURES = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const FALCO = `${FIXTURES}k8s/falco-k8s_audit/`;

/** Every JSON value in a fixture file: the whole file, or one per line. */
function values(path: string): unknown[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
}

/** What each fixture line is, from /work/shared/fixtures/README.md and reading the files. */
const expected: [string, (DecodeFormat | undefined)[]][] = [
  ...readdirSync(FALCO).map((f): [string, (DecodeFormat | undefined)[]] => [
    `k8s/falco-k8s_audit/${f}`,
    // fal_01_003.json is `{"kind": 0}`; create_configmap_sensitive_values.json holds six events.
    f === "fal_01_003.json" ? [undefined] : values(`${FALCO}${f}`).map(() => "kubernetes"),
  ]),
  ["k8s/audit2rbac-demo.log", Array(37).fill("kubernetes")],
  // Three plain v1 Events, a GKE LogEntry (GCP's AuditLog, refused), an AKS record (unwrapped).
  [
    "k8s/elastic-integrations-test-audit.log",
    ["kubernetes", "kubernetes", "kubernetes", undefined, "kubernetes"],
  ],
  ["redpanda-ocsf-samples.ndjson", Array(8).fill("ocsf")],
  ["confluent-audit-cloudevents.ndjson", Array(11).fill("cloudevents")],
];

describe("detectFormat", () => {
  it.each(expected)("%s: every line", (file, formats) => {
    expect(values(`${FIXTURES}${file}`).map(detectFormat)).toEqual(formats);
  });

  it("reads 51 events from the 47 falco files, whose one other file is no event", () => {
    const falco = expected.filter(([file]) => file.startsWith("k8s/falco")).flatMap(([, f]) => f);
    expect(falco.filter((f) => f === "kubernetes")).toHaveLength(51);
  });

  it("tells audit Events from look-alikes", () => {
    expect(detectFormat({ kind: "Event", apiVersion: "v1", involvedObject: {} })).toBeUndefined();
    expect(detectFormat({ kind: "Event", apiVersion: "events.k8s.io/v1" })).toBeUndefined();
    expect(detectFormat({ kind: "Event", verb: "get" })).toBeUndefined();
    expect(detectFormat({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items: [] })).toBe("kubernetes");
    expect(detectFormat({ event_type: "backup.started" })).toBeUndefined();
    expect(detectFormat(null)).toBeUndefined();
    expect(detectFormat("Event")).toBeUndefined();
  });

  it("recognises a CloudEvents batch, and nothing else as a list", () => {
    const ce = values(`${FIXTURES}confluent-audit-cloudevents.ndjson`);
    expect(detectFormat(ce)).toBe("cloudevents");
    expect(detectFormat([])).toBeUndefined();
    expect(detectFormat([...ce, values(`${FIXTURES}redpanda-ocsf-samples.ndjson`)[0]])).toBeUndefined();
  });
});

describe("decode", () => {
  it("decodes each fixture line as its detected format, the same as naming the format", () => {
    let decoded = 0;
    for (const [file, formats] of expected) {
      values(`${FIXTURES}${file}`).forEach((value, i) => {
        const format = formats[i];
        if (format === undefined) return;
        const events = decode(value);
        expect(events).toEqual(decode(value, format));
        decoded += events.length;
      });
    }
    expect(decoded).toBe(51 + 37 + 4 + 8 + 11);
  });

  it("refuses a value of no known format, and a record named as the wrong format", () => {
    const gke = values(`${FIXTURES}k8s/elastic-integrations-test-audit.log`)[3];
    expect(() => decode(gke)).toThrow(ValidationError);
    expect(() => decode(gke)).toThrow(/not a recognised audit record/);
    const ocsf = values(`${FIXTURES}redpanda-ocsf-samples.ndjson`)[0];
    expect(() => decode(ocsf, "cloudevents")).toThrow(/specversion/);
    expect(() => decode(ocsf, "kubernetes")).toThrow(/kind/);
  });
});
