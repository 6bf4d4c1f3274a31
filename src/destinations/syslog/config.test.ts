/**
 * The `type: syslog` keys, through the real config loader (so each problem names its key and line): defaults per
 * protocol, every key resolved, the server forms, and the problems the schema and checkSyslogDestination report.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../config/load.ts";
import { ValidationError } from "../../errors.ts";
import { DEFAULT_DELIVERY } from "../delivery.ts";
import { parseServer, type SyslogDestinationConfig, syslogTarget } from "./config.ts";

function yaml(...entry: string[]): string {
  return `audit:\n  destination:\n    type: syslog\n${entry.map((l) => `    ${l}\n`).join("")}`;
}

function load(text: string, path?: string): SyslogDestinationConfig {
  return parseConfig(text, path, {}).audit.destinations[0] as SyslogDestinationConfig;
}

function problems(text: string, path?: string): { field: string; line?: number; message: string }[] {
  try {
    parseConfig(text, path, {});
  } catch (e) {
    if (e instanceof ValidationError) return e.problems;
    throw e;
  }
  throw new Error("expected the config to be refused");
}

describe("syslog destination config", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "vigil-syslog-config-"));
    await writeFile(join(dir, "ca.pem"), "CA PEM");
    await writeFile(join(dir, "client.pem"), "CERT PEM");
    await writeFile(join(dir, "client.key"), "KEY PEM");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("defaults: tcp to port 514, local0, app vigil, this host, 8 KiB messages, octet counting, a 5 s window", () => {
    const config = load(yaml("server: logs.example.com"));
    expect(config).toEqual({
      type: "syslog",
      name: "syslog:logs.example.com:514",
      format: "native",
      host: "logs.example.com",
      port: 514,
      protocol: "tcp",
      facility: 16,
      appName: "vigil",
      hostname: hostname(),
      maxMessageBytes: 8192,
      framing: "octet_counting",
      replayWindowMs: 1000,
      tls: { insecureSkipVerify: false },
      delivery: DEFAULT_DELIVERY,
    });
    expect(syslogTarget(config)).toBe("syslog:tcp://logs.example.com:514");
  });

  it("resolves every key; tls defaults to port 6514 and reads its files relative to the config", () => {
    const config = load(
      yaml(
        "name: siem",
        "server: logs.example.com",
        "protocol: tls",
        "facility: 13",
        "app_name: audit-trail",
        "hostname: node-7.example.com",
        "max_message_bytes: 65536",
        "framing: non_transparent",
        "replay_window_secs: 2.5",
        "format: ocsf",
        "on_oversize: park",
        "tls: { ca_file: ca.pem, cert_file: client.pem, key_file: client.key }",
      ),
      join(dir, "vigil.yaml"),
    );
    expect(config).toEqual({
      type: "syslog",
      name: "siem",
      format: "ocsf",
      host: "logs.example.com",
      port: 6514,
      protocol: "tls",
      facility: 13,
      appName: "audit-trail",
      hostname: "node-7.example.com",
      maxMessageBytes: 65536,
      framing: "non_transparent",
      replayWindowMs: 2500,
      tls: { ca: "CA PEM", cert: "CERT PEM", key: "KEY PEM", insecureSkipVerify: false },
      delivery: { ...DEFAULT_DELIVERY, onOversize: "park" },
    });
    expect(syslogTarget(config)).toBe("syslog:tls://logs.example.com:6514");
  });

  it("reads the server as host:port, host, [IPv6]:port or a bare IPv6 address", () => {
    expect(parseServer("10.0.0.5:1514", "udp")).toEqual({ host: "10.0.0.5", port: 1514 });
    expect(parseServer("10.0.0.5", "udp")).toEqual({ host: "10.0.0.5", port: 514 });
    expect(parseServer("[2001:db8::1]:6514", "tls")).toEqual({ host: "2001:db8::1", port: 6514 });
    expect(parseServer("[2001:db8::1]", "tls")).toEqual({ host: "2001:db8::1", port: 6514 });
    expect(parseServer("2001:db8::1", "tcp")).toEqual({ host: "2001:db8::1", port: 514 });
    const config = load(yaml("server: '[::1]:5514'", "protocol: udp"));
    expect(config).toMatchObject({ name: "syslog:[::1]:5514", host: "::1", port: 5514, protocol: "udp" });
    expect(syslogTarget(config)).toBe("syslog:udp://[::1]:5514");
  });

  it("accepts every facility name and 0 to 23", () => {
    expect(load(yaml("server: h", "facility: kern")).facility).toBe(0);
    expect(load(yaml("server: h", "facility: authpriv")).facility).toBe(10);
    expect(load(yaml("server: h", "facility: local7")).facility).toBe(23);
    expect(load(yaml("server: h", "facility: 0")).facility).toBe(0);
    expect(load(yaml("server: h", "facility: 23")).facility).toBe(23);
  });

  it("names the key of each problem", () => {
    const field = (key: string) => `audit.destination.${key}`;
    expect(problems(yaml("server: tcp://logs:514"))).toEqual([
      {
        field: field("server"),
        line: 4,
        message: "must be host:port without a scheme (the protocol goes in protocol:)",
      },
    ]);
    expect(problems(yaml("server: logs:70000"))[0]?.message).toBe(
      "has an invalid port: it must be 1 to 65535",
    );
    expect(problems(yaml("server: 'logs:'"))[0]?.message).toBe("has an invalid port: it must be 1 to 65535");
    expect(problems(yaml("server: 2001:db8::1:514x"))[0]?.message).toBe(
      "must put an IPv6 address in brackets: [2001:db8::1]:514",
    );
    expect(problems(yaml("server: '[logs]:514'"))[0]?.message).toBe(
      "must hold an IPv6 address between the brackets",
    );
    expect(problems(yaml("server: h", "facility: local8"))).toEqual([
      {
        field: field("facility"),
        line: 5,
        message: expect.stringMatching(/^must be one of kern, user, .*, local7, or a number from 0 to 23$/),
      },
    ]);
    expect(problems(yaml("server: h", "facility: 24"))[0]?.field).toBe(field("facility"));
    expect(problems(yaml("server: h", "facility: [1]"))).toHaveLength(1);
    expect(problems(yaml("server: h", "app_name: two words"))).toEqual([
      {
        field: field("app_name"),
        line: 5,
        message: "must be 1 to 48 printable ASCII characters, without spaces",
      },
    ]);
    expect(problems(yaml("server: h", `app_name: ${"a".repeat(49)}`))[0]?.field).toBe(field("app_name"));
    expect(problems(yaml("server: h", "hostname: héte"))[0]).toMatchObject({
      field: field("hostname"),
      message: "must be 1 to 255 printable ASCII characters, without spaces",
    });
    expect(problems(yaml("server: h", "protocol: relp"))[0]).toMatchObject({
      field: field("protocol"),
      message: "must be one of tcp, udp, tls",
    });
  });

  it("refuses keys that do not fit the protocol, and messages larger than it carries", () => {
    const field = (key: string) => `audit.destination.${key}`;
    expect(problems(yaml("server: h", "protocol: udp", "max_message_bytes: 65508"))).toEqual([
      {
        field: field("max_message_bytes"),
        line: 6,
        message: "must be at most 65507 over udp (the largest datagram)",
      },
    ]);
    expect(load(yaml("server: h", "protocol: udp", "max_message_bytes: 65507")).maxMessageBytes).toBe(65507);
    expect(problems(yaml("server: h", "max_message_bytes: 200001"))[0]?.field).toBe(
      field("max_message_bytes"),
    );
    expect(problems(yaml("server: h", "max_message_bytes: 512"))[0]).toMatchObject({
      field: field("max_message_bytes"),
      message: "must be at least 1024",
    });
    expect(problems(yaml("server: h", "protocol: udp", "framing: non_transparent"))).toEqual([
      { field: field("framing"), line: 6, message: "applies only to protocol tcp or tls" },
    ]);
    expect(problems(yaml("server: h", "protocol: udp", "replay_window_secs: 1"))[0]?.message).toBe(
      "applies only to protocol tcp or tls",
    );
    expect(problems(yaml("server: h", "tls: { insecure_skip_verify: true }"))).toEqual([
      { field: field("tls"), line: 5, message: "applies only with protocol: tls" },
    ]);
    expect(
      problems(yaml("server: h", "protocol: tls", "tls: { cert_file: c.pem }"), join(dir, "v.yaml")),
    ).toEqual([
      { field: field("tls"), line: 6, message: "cert_file and key_file go together" },
      { field: field("tls.cert_file"), line: 6, message: "cannot read c.pem: no such file" },
    ]);
    expect(problems(yaml("server: h", "replay_window_secs: -1"))[0]).toMatchObject({
      field: field("replay_window_secs"),
      message: "must be at least 0",
    });
  });
});
