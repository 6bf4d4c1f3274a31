/**
 * RFC 5424 formatting: PRI from facility and severity, TIMESTAMP, header fields in their character sets and
 * lengths (NILVALUE when empty), SD-PARAM escaping, the BOM and the space before MSG.
 */
import { describe, expect, it } from "vitest";
import type { NativeEvent } from "../../event/schema.ts";
import type { Integrity } from "../../integrity/chain.ts";
import {
  escapeParamValue,
  FACILITIES,
  facilityCode,
  headerField,
  priority,
  rfc5424Timestamp,
  SEVERITY_INFORMATIONAL,
  SEVERITY_WARNING,
  SyslogFormatter,
  severityOf,
} from "./format.ts";

const integrity: Integrity = {
  sequence_number: 42,
  previous_signature: "sha256:00",
  signature: "sha256:abc",
  key_id: "key-1",
};

function event(extra: Partial<NativeEvent> = {}): NativeEvent {
  return {
    timestamp: "2024-12-01T10:15:30.123Z",
    event_type: "backup.completed",
    event_id: "evt_1",
    version: "1.0",
    received_at: "2024-12-01T10:15:31.000Z",
    origin: { source: "http" },
    ...extra,
  };
}

const formatter = new SyslogFormatter({ facility: 16, hostname: "node-7", appName: "vigil", procId: "4242" });

describe("syslog message format", () => {
  it("writes header, structured data, a space, the BOM and MSG", () => {
    const msg = '{"event":{},"integrity":{}}';
    expect(formatter.format(event(), integrity, msg).toString("utf8")).toBe(
      '<134>1 2024-12-01T10:15:30.123Z node-7 vigil 4242 backup.completed [vigil@32473 seq="42" key="key-1" ' +
        `sig="sha256:abc"] \uFEFF${msg}`,
    );
  });

  it("starts MSG with the UTF-8 BOM and keeps UTF-8 as it is", () => {
    const bytes = formatter.format(event(), integrity, '{"a":"café ✓"}');
    const start = bytes.indexOf(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(bytes.subarray(start + 3).toString("utf8")).toBe('{"a":"café ✓"}');
    expect(bytes[start - 1]).toBe(0x20);
  });

  it("computes PRI as facility × 8 + severity: warning for failures, informational otherwise", () => {
    expect(priority(0, 0)).toBe(0);
    expect(priority(23, 7)).toBe(191);
    expect(severityOf(event())).toBe(SEVERITY_INFORMATIONAL);
    expect(severityOf(event({ event_type: "auth.failed" }))).toBe(SEVERITY_WARNING);
    expect(severityOf(event({ event_type: "access.denied" }))).toBe(SEVERITY_WARNING);
    expect(severityOf(event({ event_type: "auth.login", action: { result: "failure" } }))).toBe(
      SEVERITY_WARNING,
    );
    expect(severityOf(event({ event_type: "a.b", action: { result: "ERROR" } }))).toBe(SEVERITY_WARNING);
    expect(severityOf(event({ event_type: "a.b", action: { result: "Denied" } }))).toBe(SEVERITY_WARNING);
    expect(severityOf(event({ event_type: "a.b", action: { result: "success" } }))).toBe(
      SEVERITY_INFORMATIONAL,
    );
    expect(severityOf(event({ event_type: "failed.login" }))).toBe(SEVERITY_INFORMATIONAL);
    const auth = new SyslogFormatter({ facility: 4, hostname: "h", appName: "a", procId: "1" });
    expect(auth.format(event({ event_type: "auth.failed" }), integrity, "{}").toString()).toMatch(/^<36>1 /);
    expect(auth.format(event(), integrity, "{}").toString()).toMatch(/^<38>1 /);
  });

  it("maps facility names and numbers to codes", () => {
    expect(Object.keys(FACILITIES)).toHaveLength(20);
    expect(facilityCode("kern")).toBe(0);
    expect(facilityCode("ftp")).toBe(11);
    expect(facilityCode("local0")).toBe(16);
    expect(facilityCode(23)).toBe(23);
    expect(facilityCode(24)).toBeUndefined();
    expect(facilityCode(1.5)).toBeUndefined();
    expect(facilityCode("toString")).toBeUndefined();
    expect(facilityCode("LOCAL0")).toBeUndefined();
  });

  it("writes TIMESTAMP with an upper-case T and Z and at most 6 fraction digits", () => {
    expect(rfc5424Timestamp("2024-12-01T10:15:30.123Z")).toBe("2024-12-01T10:15:30.123Z");
    expect(rfc5424Timestamp("2024-12-01t10:15:30.123456789z")).toBe("2024-12-01T10:15:30.123456Z");
    expect(rfc5424Timestamp("2024-12-01T10:15:30+02:00")).toBe("2024-12-01T10:15:30+02:00");
    expect(rfc5424Timestamp("2024-12-01T10:15:30.5-07:30")).toBe("2024-12-01T10:15:30.5-07:30");
    expect(rfc5424Timestamp("2016-12-31T23:59:60Z")).toBeUndefined(); // RFC 5424 forbids leap seconds
    expect(rfc5424Timestamp("2024-13-01T10:15:30Z")).toBeUndefined();
    expect(rfc5424Timestamp("yesterday")).toBeUndefined();
    expect(rfc5424Timestamp(undefined)).toBeUndefined();
  });

  it("falls back to the receive time, then NILVALUE, for a timestamp RFC 5424 cannot carry", () => {
    const leap = event({ timestamp: "2016-12-31T23:59:60Z" });
    expect(formatter.format(leap, integrity, "{}").toString()).toMatch(/^<134>1 2024-12-01T10:15:31\.000Z /);
    const neither = event({ timestamp: "soon", received_at: "later" });
    expect(formatter.format(neither, integrity, "{}").toString()).toMatch(/^<134>1 - node-7 /);
  });

  it("keeps header fields to printable ASCII and their lengths, NILVALUE when empty", () => {
    expect(headerField("node-7.example.com", 255)).toBe("node-7.example.com");
    expect(headerField("my host\tnäme", 255)).toBe("my_host_n_me");
    expect(headerField("a".repeat(300), 255)).toHaveLength(255);
    expect(headerField("", 48)).toBe("-");
    const odd = new SyslogFormatter({ facility: 1, hostname: "", appName: "a b", procId: "" });
    const long = event({ event_type: `very.long.${"x".repeat(40)}` });
    const text = odd.format(long, integrity, "{}").toString();
    expect(text).toMatch(/^<14>1 \S+ - a_b - very\.long\.x{22} \[/);
  });

  it("escapes quote, backslash and closing bracket in SD-PARAM values", () => {
    expect(escapeParamValue('a"b\\c]d[e')).toBe('a\\"b\\\\c\\]d[e');
    const text = formatter.format(event(), { ...integrity, key_id: 'k"]\\' }, "{}").toString();
    expect(text).toContain('[vigil@32473 seq="42" key="k\\"\\]\\\\" sig="sha256:abc"] ');
  });
});
