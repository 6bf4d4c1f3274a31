// biome-ignore-all lint/suspicious/noTemplateCurlyInString: config texts under test are written with ${VAR}

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DELIVERY } from "../destinations/delivery.ts";
import { type FieldProblem, formatProblem, ValidationError, VigilError } from "../errors.ts";
import { type ConfigOverrides, defaultConfig, loadConfig, parseConfig, parseListen } from "./load.ts";
import type { VigilConfig } from "./types.ts";

const MIB = 1024 * 1024;

/** Every problem parseConfig reports for `text`; fails the test when it reports none. */
function problemsOf(
  text: string,
  env: NodeJS.ProcessEnv = {},
  overrides: ConfigOverrides = {},
): FieldProblem[] {
  try {
    parseConfig(text, undefined, env, overrides);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    expect(e.code).toBe("invalid_config");
    return e.problems;
  }
  throw new Error("expected the config to be refused");
}

function lines(...text: string[]): string {
  return `${text.join("\n")}\n`;
}

/** The resolved config for an empty file, which the expectations below modify. */
function defaults(): VigilConfig {
  const dataDir = resolve("vigil-data");
  return {
    dataDir,
    server: { listen: { host: "127.0.0.1", port: 7470 }, maxBodyBytes: 8 * MIB, tokens: [] },
    audit: {
      enabled: true,
      destinations: [
        {
          type: "file",
          name: `file:${dataDir}/audit.log`,
          path: `${dataDir}/audit.log`,
          format: "native",
          delivery: DEFAULT_DELIVERY,
        },
      ],
      sources: [],
      policy: { excludeEvents: [] },
      integrity: { checkpoints: { everyRecords: 1000, everySeconds: 10, idleSeconds: 1 } },
      failurePolicy: "reject",
      queueMaxEvents: 100_000,
      index: { enabled: true, path: `${dataDir}/index.duckdb` },
    },
    journal: { segmentBytes: 64 * MIB },
    limits: { maxDepth: 32, maxEventBytes: 256 * 1024 },
  };
}

// The enterprise.audit blocks of spec/000, pasted verbatim (`\${` is how a template literal writes `${`).
const SPEC = {
  basic: `enterprise:
  audit:
    enabled: true

    # Where to send audit logs
    destination:
      type: file
      path: /var/log/kafka-backup/audit.log

    # What to log
    events:
      - backup.started
      - backup.completed
      - backup.failed
      - restore.started
      - restore.completed
      - restore.failed
      - access.denied
      - config.changed
`,
  file: `enterprise:
  audit:
    destination:
      type: file
      path: /var/log/kafka-backup/audit.log
      rotation:
        max_size_mb: 100
        max_files: 10
        compress: true
`,
  s3: `enterprise:
  audit:
    destination:
      type: s3
      bucket: audit-logs
      prefix: kafka-backup/
      region: us-west-2
      # Logs are batched and uploaded periodically
      batch_interval_secs: 60
`,
  cloudwatch: `enterprise:
  audit:
    destination:
      type: cloudwatch
      log_group: /kafka-backup/audit
      log_stream: \${HOSTNAME}
      region: us-west-2
`,
  kafka: `enterprise:
  audit:
    destination:
      type: kafka
      bootstrap_servers:
        - kafka:9092
      topic: audit-events
      security:
        security_protocol: SASL_SSL
        sasl_mechanism: SCRAM-SHA-256
        sasl_username: audit-producer
        sasl_password: \${AUDIT_KAFKA_PASSWORD}
`,
  syslog: `enterprise:
  audit:
    destination:
      type: syslog
      server: syslog.company.com:514
      protocol: tcp  # or udp
      facility: local0
`,
  webhook: `enterprise:
  audit:
    destination:
      type: webhook
      url: https://siem.company.com/ingest
      headers:
        Authorization: Bearer \${WEBHOOK_TOKEN}
      batch_size: 100
      retry_attempts: 3
`,
  multiple: `enterprise:
  audit:
    destinations:
      - type: file
        path: /var/log/kafka-backup/audit.log

      - type: s3
        bucket: audit-archive
        prefix: kafka-backup/

      - type: kafka
        bootstrap_servers:
          - kafka:9092
        topic: audit-events
`,
  events: `enterprise:
  audit:
    events:
      # Backup events
      - backup.started
      - backup.completed
      - backup.failed
      - backup.checkpoint  # Include progress checkpoints

      # Restore events
      - restore.started
      - restore.completed
      - restore.failed

      # Security events (always recommended)
      - access.denied
      - auth.login
      - auth.logout
      - auth.failed

      # Configuration events
      - config.changed

    # Exclude specific events
    exclude_events:
      - backup.checkpoint  # If too verbose
`,
  immutable: `enterprise:
  audit:
    destination:
      type: s3
      bucket: compliance-audit-logs
      object_lock: true  # Use S3 Object Lock

    integrity:
      signing:
        enabled: true
        algorithm: HMAC-SHA256
        key_env_var: AUDIT_SIGNING_KEY

      chain:
        enabled: true  # Chain signatures for tamper detection
`,
  retention: `enterprise:
  audit:
    retention:
      min_days: 365  # Minimum retention (compliance)
      max_days: 2555  # Maximum retention (7 years)

    # S3 lifecycle
    lifecycle:
      - days: 90
        storage_class: STANDARD_IA
      - days: 365
        storage_class: GLACIER
`,
  alerts: `enterprise:
  audit:
    alerts:
      - name: backup-failure
        condition: "event_type == 'backup.failed'"
        severity: high
        notify:
          - type: slack
            webhook: \${SLACK_WEBHOOK}
          - type: pagerduty
            routing_key: \${PAGERDUTY_KEY}

      - name: access-denied-spike
        condition: "event_type == 'access.denied'"
        threshold: 10
        window: 5m
        severity: medium
        notify:
          - type: email
            to: security@company.com

      - name: unauthorized-restore
        condition: "event_type == 'restore.started' and context.environment == 'production'"
        severity: high
        notify:
          - type: slack
            channel: "#security-alerts"
`,
  /** The `audit.yaml` key of the Kubernetes ConfigMap, indented as it is there. */
  configMap: `    enterprise:
      audit:
        enabled: true
        destination:
          type: s3
          bucket: audit-logs
        events:
          - backup.*
          - restore.*
          - access.denied
`,
};

describe("spec/000 enterprise.audit blocks", () => {
  it("are pasted verbatim, and every one of spec/000's is here", async () => {
    const spec = await readFile(
      new URL("../../../shared/spec/000_c5fa3e11af4951d2.txt", import.meta.url),
      "utf8",
    );
    const yamlBlocks = [...spec.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
    const auditBlocks = yamlBlocks.filter((b) => b.startsWith("enterprise:\n  audit:"));
    expect(auditBlocks).toHaveLength(12);
    const pasted = Object.values(SPEC);
    for (const block of auditBlocks) expect(pasted).toContain(block);
    expect(yamlBlocks.some((b) => b.includes(`  audit.yaml: |\n${SPEC.configMap}`))).toBe(true);
  });

  it("basic: loads the file destination and the event list", () => {
    const expected = defaults();
    expected.audit.destinations = [
      {
        type: "file",
        name: "file:/var/log/kafka-backup/audit.log",
        path: "/var/log/kafka-backup/audit.log",
        format: "native",
        delivery: DEFAULT_DELIVERY,
      },
    ];
    expected.audit.policy.events = [
      "backup.started",
      "backup.completed",
      "backup.failed",
      "restore.started",
      "restore.completed",
      "restore.failed",
      "access.denied",
      "config.changed",
    ];
    expect(parseConfig(SPEC.basic, undefined, {})).toEqual(expected);
  });

  it("file with rotation: loads the rotation settings", () => {
    expect(parseConfig(SPEC.file, undefined, {}).audit.destinations).toMatchObject([
      {
        type: "file",
        name: "file:/var/log/kafka-backup/audit.log",
        path: "/var/log/kafka-backup/audit.log",
        format: "native",
        rotation: { maxSizeBytes: 100 * MIB, maxFiles: 10, compress: true },
      },
    ]);
  });

  it("event configuration: loads events and exclude_events, with the default destination", () => {
    const expected = defaults();
    expected.audit.policy = {
      events: [
        "backup.started",
        "backup.completed",
        "backup.failed",
        "backup.checkpoint",
        "restore.started",
        "restore.completed",
        "restore.failed",
        "access.denied",
        "auth.login",
        "auth.logout",
        "auth.failed",
        "config.changed",
      ],
      excludeEvents: ["backup.checkpoint"],
    };
    expect(parseConfig(SPEC.events, undefined, {})).toEqual(expected);
  });

  it("webhook: loads the spec's block, with the token from the environment and batch_size as the batch", () => {
    const config = parseConfig(SPEC.webhook, undefined, { WEBHOOK_TOKEN: "t0ps3cret" });
    expect(config.audit.destinations).toEqual([
      {
        type: "webhook",
        name: "webhook:https://siem.company.com/ingest",
        format: "native",
        url: "https://siem.company.com/ingest",
        headers: { Authorization: "Bearer t0ps3cret" },
        retryAttempts: 3,
        body: "json",
        tls: { insecureSkipVerify: false },
        delivery: { ...DEFAULT_DELIVERY, maxRecords: 100 },
      },
    ]);
    expect(problemsOf(SPEC.webhook, {})).toEqual([
      {
        field: "enterprise.audit.destination.headers.Authorization",
        line: 7,
        message: "environment variable WEBHOOK_TOKEN is not set",
      },
    ]);
  });

  it("s3: loads the spec's block, with batch_interval_secs as the batch's wait", () => {
    expect(parseConfig(SPEC.s3, undefined, {}).audit.destinations).toEqual([
      {
        type: "s3",
        name: "s3:audit-logs/kafka-backup/",
        format: "native",
        bucket: "audit-logs",
        prefix: "kafka-backup/",
        region: "us-west-2",
        forcePathStyle: false,
        delivery: { ...DEFAULT_DELIVERY, maxRecords: 100_000, maxBytes: 64 * MIB, maxWaitMs: 60_000 },
      },
    ]);
  });

  it("s3 immutable logging: loads object_lock as COMPLIANCE retention for 365 days, objects at the bucket's root", () => {
    const config = parseConfig(SPEC.immutable, undefined, { AUDIT_SIGNING_KEY: "never-read-here" });
    expect(config.audit.destinations).toEqual([
      {
        type: "s3",
        name: "s3:compliance-audit-logs/",
        format: "native",
        bucket: "compliance-audit-logs",
        prefix: "",
        forcePathStyle: false,
        objectLock: { mode: "COMPLIANCE", retainDays: 365 },
        delivery: { ...DEFAULT_DELIVERY, maxRecords: 100_000, maxBytes: 64 * MIB, maxWaitMs: 60_000 },
      },
    ]);
  });

  it("cloudwatch: loads the spec's block, the stream named after the host, created when missing", () => {
    const expected = {
      type: "cloudwatch",
      name: "cloudwatch:/kafka-backup/audit/node-7",
      format: "native",
      logGroup: "/kafka-backup/audit",
      logStream: "node-7",
      region: "us-west-2",
      createLogGroup: true,
      createLogStream: true,
      delivery: { ...DEFAULT_DELIVERY, maxRecords: 10_000, maxBytes: 1_048_576 - 260_000, maxWaitMs: 1000 },
    };
    expect(parseConfig(SPEC.cloudwatch, undefined, { HOSTNAME: "node-7" }).audit.destinations).toEqual([
      expected,
    ]);
    // HOSTNAME is rarely exported: the machine's name stands in.
    expect(parseConfig(SPEC.cloudwatch, undefined, {}).audit.destinations).toMatchObject([
      { logStream: hostname() },
    ]);
  });

  it("syslog: loads the spec's block, RFC 5424 over TCP to port 514 as facility local0 (16)", () => {
    expect(parseConfig(SPEC.syslog, undefined, {}).audit.destinations).toEqual([
      {
        type: "syslog",
        name: "syslog:syslog.company.com:514",
        format: "native",
        host: "syslog.company.com",
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
      },
    ]);
  });

  it("kafka: loads the spec's block, SCRAM over TLS with the password from the environment", () => {
    const config = parseConfig(SPEC.kafka, undefined, { AUDIT_KAFKA_PASSWORD: "t0ps3cret" });
    expect(config.audit.destinations).toEqual([
      {
        type: "kafka",
        name: "kafka:audit-events",
        format: "native",
        brokers: [{ host: "kafka", port: 9092 }],
        topic: "audit-events",
        securityProtocol: "SASL_SSL",
        sasl: { mechanism: "SCRAM-SHA-256", username: "audit-producer", password: "t0ps3cret" },
        tls: { insecureSkipVerify: false },
        createTopic: true,
        partitions: 1,
        retentionMs: 7 * 24 * 3600 * 1000,
        clientId: "vigil",
        compression: "none",
        publishCheckpoints: false,
        delivery: { ...DEFAULT_DELIVERY, maxRecords: 5000, maxBytes: MIB, maxWaitMs: 0 },
      },
    ]);
    expect(config.audit.policy.auditTopics).toEqual(["audit-events"]);
    expect(problemsOf(SPEC.kafka, {})).toEqual([
      {
        field: "enterprise.audit.destination.security.sasl_password",
        line: 12,
        message: "environment variable AUDIT_KAFKA_PASSWORD is not set",
      },
    ]);
  });

  it("multiple destinations: loads file, s3 and kafka", () => {
    const destinations = parseConfig(SPEC.multiple, undefined, {}).audit.destinations;
    expect(destinations.map((d) => d.name)).toEqual([
      "file:/var/log/kafka-backup/audit.log",
      "s3:audit-archive/kafka-backup/",
      "kafka:audit-events",
    ]);
    expect(destinations[2]).toMatchObject({
      brokers: [{ host: "kafka", port: 9092 }],
      topic: "audit-events",
      securityProtocol: "PLAINTEXT",
    });
  });

  it("immutable logging: the integrity block itself loads, recording only the key's variable name", () => {
    const text = SPEC.immutable.replace(
      "      type: s3\n      bucket: compliance-audit-logs\n      object_lock: true  # Use S3 Object Lock\n",
      "      type: file\n      path: /var/log/audit.log\n",
    );
    const config = parseConfig(text, undefined, { AUDIT_SIGNING_KEY: "never-read-here" });
    expect(config.audit.integrity).toEqual({
      keyEnvVar: "AUDIT_SIGNING_KEY",
      checkpoints: { everyRecords: 1000, everySeconds: 10, idleSeconds: 1 },
    });
    expect(JSON.stringify(config)).not.toContain("never-read-here");
  });

  it("Kubernetes ConfigMap audit.yaml: loads the s3 destination and the event list", () => {
    const config = parseConfig(SPEC.configMap, undefined, {});
    expect(config.audit.destinations).toMatchObject([
      { type: "s3", name: "s3:audit-logs/", bucket: "audit-logs", prefix: "" },
    ]);
    expect(config.audit.policy.events).toEqual(["backup.*", "restore.*", "access.denied"]);
  });

  it("retention: refuses retention and lifecycle", () => {
    expect(problemsOf(SPEC.retention)).toEqual([
      {
        field: "enterprise.audit.retention",
        line: 3,
        message: "not supported yet: retention policies arrive in a later release",
      },
      {
        field: "enterprise.audit.lifecycle",
        line: 8,
        message: "not supported yet: lifecycle rules arrive with retention policies in a later release",
      },
    ]);
  });

  it("alerts: refuses alerts without reporting the unset variables inside", () => {
    const error = (() => {
      try {
        parseConfig(SPEC.alerts, undefined, {});
      } catch (e) {
        return e as ValidationError;
      }
      throw new Error("expected the config to be refused");
    })();
    expect(error.message).toBe(
      "line 3: enterprise.audit.alerts: not supported yet: alerting arrives in a later release",
    );
  });
});

describe("parseConfig problems", () => {
  it("names a mistyped nested key, its line, and the key meant", () => {
    const text = lines(
      "audit:",
      "  destination:",
      "    type: file",
      "    path: audit.log",
      "    rotation:",
      "      max_size_mb: 50",
      "      max_file: 3",
    );
    expect(problemsOf(text)).toEqual([
      {
        field: "audit.destination.rotation.max_file",
        line: 7,
        message: "unknown key; did you mean max_files?",
      },
    ]);
  });

  it("lists the known keys when no key is close", () => {
    expect(problemsOf(lines("enterprise:", "  rbac:", "    enabled: true"))).toEqual([
      { field: "enterprise.rbac", line: 2, message: "unknown key (known: audit)" },
    ]);
    expect(problemsOf(lines("servr:", "  listen: :1"))).toEqual([
      { field: "servr", line: 1, message: "unknown key; did you mean server?" },
    ]);
  });

  it("names the expected type and the line of a wrongly typed value", () => {
    const text = lines(
      "server:",
      "  max_body_bytes: 4096",
      "enterprise:",
      "  audit:",
      "    enabled: yes",
      "    queue:",
      "      max_events: lots",
      "    failure_policy: open",
      "    events: backup.*",
    );
    expect(problemsOf(text)).toEqual([
      { field: "enterprise.audit.enabled", line: 5, message: "must be true or false" },
      { field: "enterprise.audit.queue.max_events", line: 7, message: "must be an integer" },
      { field: "enterprise.audit.failure_policy", line: 8, message: "must be one of reject, permit" },
      { field: "enterprise.audit.events", line: 9, message: "must be a list" },
    ]);
  });

  it("says a key with no value is empty", () => {
    expect(problemsOf(lines("audit:", "  destination:", "    type: file", "    path:"))).toEqual([
      { field: "audit.destination.path", line: 4, message: "is empty; expected a string" },
    ]);
  });

  it("reports a missing key at the line of its parent", () => {
    expect(
      problemsOf(lines("data_dir: /tmp/x", "audit:", "  destinations:", "    - type: file", "      name: a")),
    ).toEqual([{ field: "audit.destinations[0].path", line: 4, message: "is required" }]);
    expect(problemsOf(lines("audit:", "  destination:", "    path: /a.log"))).toEqual([
      { field: "audit.destination.type", line: 2, message: "is required" },
    ]);
  });

  it("names an unset environment variable at the key that uses it", () => {
    const text = lines(
      "enterprise:",
      "  audit:",
      "    destination:",
      "      type: file",
      "      path: ${AUDIT_DIR}/audit.log",
    );
    expect(problemsOf(text)).toEqual([
      {
        field: "enterprise.audit.destination.path",
        line: 5,
        message: "environment variable AUDIT_DIR is not set",
      },
    ]);
    expect(parseConfig(text, undefined, { AUDIT_DIR: "/srv/audit" }).audit.destinations[0]).toMatchObject({
      path: "/srv/audit/audit.log",
    });
  });

  it("reports an unset variable in a destination type, not a refusal of the text as written", () => {
    const text = lines("audit:", "  destination:", "    type: ${DEST_TYPE}", "    bucket: ${BUCKET}");
    expect(problemsOf(text)).toEqual([
      { field: "audit.destination.type", line: 3, message: "environment variable DEST_TYPE is not set" },
      { field: "audit.destination.bucket", line: 4, message: "environment variable BUCKET is not set" },
    ]);
    expect(problemsOf(text, { DEST_TYPE: "s3" })).toEqual([
      { field: "audit.destination.bucket", line: 4, message: "environment variable BUCKET is not set" },
    ]);
  });

  it("refuses destination and destinations together", () => {
    const text = lines(
      "enterprise:",
      "  audit:",
      "    destination:",
      "      type: file",
      "      path: /a.log",
      "    destinations:",
      "      - type: file",
      "        path: /b.log",
    );
    expect(problemsOf(text)).toEqual([
      {
        field: "enterprise.audit.destinations",
        line: 6,
        message: "use either destination (one) or destinations (a list), not both",
      },
    ]);
  });

  it("refuses enterprise.audit and a top-level audit together", () => {
    expect(
      problemsOf(lines("enterprise:", "  audit:", "    enabled: true", "audit:", "  enabled: true")),
    ).toEqual([
      { field: "audit", line: 4, message: "use either enterprise.audit or a top-level audit, not both" },
    ]);
  });

  it("lists every problem in the file, in line order, beyond TypeBox's default of 8", () => {
    const text = lines(
      "data_dir: 1", // 1
      "server:", // 2
      "  listen: nowhere", // 3
      "  max_body_bytes: 10", // 4
      "journal:", // 5
      "  segment_mb: 0", // 6
      "limits:", // 7
      "  max_event_bytes: -1", // 8
      "  max_depth: 2.5", // 9
      "audit:", // 10
      "  enabled: 1", // 11
      "  events: []", // 12
      "  exclude_events: [Backup.X]", // 13
      "  queue: {max_events: 0}", // 14
      "  color: red", // 15
    );
    expect(problemsOf(text).map(formatProblem)).toEqual([
      "line 1: data_dir: must be a string",
      "line 3: server.listen: must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470",
      "line 4: server.max_body_bytes: must be at least 1024",
      "line 6: journal.segment_mb: must be greater than 0",
      "line 8: limits.max_event_bytes: must be at least 1",
      "line 9: limits.max_depth: must be an integer",
      "line 11: audit.enabled: must be true or false",
      "line 12: audit.events: must not be an empty list",
      "line 13: audit.exclude_events[0]: must be an event type or glob: lower-case letters, digits, . _ - and the " +
        "wildcards * and ?, e.g. backup.*",
      "line 14: audit.queue.max_events: must be at least 1",
      "line 15: audit.color: unknown key (known: enabled, destination, destinations, events, exclude_events, " +
        "integrity, failure_policy, queue, retention, lifecycle, alerts, policy_file, enabled_event_types, " +
        "excluded_topics, excluded_principals, redaction, sources, index)",
    ]);
  });

  it("reports YAML syntax errors with their line", () => {
    expect(problemsOf(lines("audit:", "  enabled: true", "  enabled: false"))).toEqual([
      { field: "", line: 3, message: "invalid YAML: Map keys must be unique" },
    ]);
  });

  it("refuses a file that is not a mapping", () => {
    expect(problemsOf(lines("- audit"))).toEqual([
      { field: "", message: "the config must be a YAML mapping of keys such as server: and enterprise:" },
    ]);
  });
});

describe("secrets in errors", () => {
  it("never quotes a value, whether it came from the file or the environment", () => {
    const secret = "s3cr3t-hunter2";
    const text = lines(
      "server:",
      "  tokens:",
      "    - name: ci",
      "      token: ${CI_TOKEN}",
      "    - name: ops",
      "      token: hunter2-s3cr3t",
      "audit:",
      "  failure_policy: ${POLICY}",
      "  destination:",
      "    type: ${DEST}",
      "  integrity:",
      "    signing:",
      "      key_env_var: ${KEY_VAR}",
    );
    const env = { CI_TOKEN: secret, POLICY: secret, DEST: secret, KEY_VAR: secret };
    let message = "";
    try {
      parseConfig(text, undefined, env);
    } catch (e) {
      message = (e as Error).message;
      expect((e as ValidationError).problems).toEqual([
        { field: "server.tokens[0].token", line: 4, message: "must be at least 16 characters" },
        { field: "server.tokens[1].token", line: 6, message: "must be at least 16 characters" },
        { field: "audit.failure_policy", line: 8, message: "must be one of reject, permit" },
        {
          field: "audit.destination.type",
          line: 10,
          message: "unknown destination type (known: file, s3, cloudwatch, kafka, syslog, webhook)",
        },
        {
          field: "audit.integrity.signing.key_env_var",
          line: 13,
          message: "must be an environment variable name: letters, digits and _, not starting with a digit",
        },
      ]);
    }
    expect(message).not.toBe("");
    expect(message).not.toContain("hunter2");
  });

  it("says two tokens are equal without showing them", () => {
    const text = lines(
      "server:",
      "  tokens:",
      "    - name: a",
      "      token: same-token-0123456789",
      "    - name: a",
      "      token: same-token-0123456789",
    );
    expect(problemsOf(text)).toEqual([
      { field: "server.tokens[1].name", line: 5, message: "is already the name of server.tokens[0]" },
      { field: "server.tokens[1].token", line: 6, message: "is the same token as server.tokens[0]" },
    ]);
  });
});

describe("audit block", () => {
  it("is read the same from a top-level audit key", () => {
    const config = parseConfig(
      lines("audit:", "  enabled: false", "  failure_policy: permit", "  queue:", "    max_events: 5"),
      undefined,
      {},
    );
    const expected = defaults();
    expected.audit.enabled = false;
    expected.audit.failurePolicy = "permit";
    expected.audit.queueMaxEvents = 5;
    expect(config).toEqual(expected);
  });

  it.each([
    ["alerts", "alerting arrives in a later release"],
    ["retention", "retention policies arrive in a later release"],
  ])("refuses %s as not supported yet", (key, reason) => {
    expect(problemsOf(lines("audit:", "  enabled: true", `  ${key}:`, "    anything: ${UNSET}"))).toEqual([
      { field: `audit.${key}`, line: 3, message: `not supported yet: ${reason}` },
    ]);
  });

  it("reads the index block: enabled, path relative to data_dir", () => {
    const config = parseConfig(
      lines(
        "data_dir: /var/lib/vigil",
        "audit:",
        "  index:",
        "    enabled: false",
        "    path: idx/search.duckdb",
      ),
      undefined,
      {},
    );
    expect(config.audit.index).toEqual({ enabled: false, path: "/var/lib/vigil/idx/search.duckdb" });
    expect(parseConfig(lines("data_dir: /d", "audit:", "  index: {}"), undefined, {}).audit.index).toEqual({
      enabled: true,
      path: "/d/index.duckdb",
    });
  });

  it("reports bad index keys with their line", () => {
    expect(
      problemsOf(lines("audit:", "  index:", "    enabled: maybe", "    path: ''", "    size: 3")).map(
        formatProblem,
      ),
    ).toEqual([
      "line 3: audit.index.enabled: must be true or false",
      "line 4: audit.index.path: must not be empty",
      "line 5: audit.index.size: unknown key (known: enabled, path)",
    ]);
  });

  it("reads kafka_authorizer_log sources, paths relative to the config file, time_zone UTC by default", () => {
    const config = parseConfig(
      lines(
        "audit:",
        "  sources:",
        "    - type: kafka_authorizer_log",
        "      path: logs/kafka-authorizer.log",
        "    - type: kafka_authorizer_log",
        "      path: /var/log/kafka/other broker.log",
        "      time_zone: Europe/Berlin",
        "      name: broker-2",
      ),
      "/etc/vigil/vigil.yaml",
      {},
    );
    expect(config.audit.sources).toEqual([
      {
        type: "kafka_authorizer_log",
        name: "kafka-authorizer.log",
        path: "/etc/vigil/logs/kafka-authorizer.log",
        timeZone: "UTC",
      },
      {
        type: "kafka_authorizer_log",
        name: "broker-2",
        path: "/var/log/kafka/other broker.log",
        timeZone: "Europe/Berlin",
      },
    ]);
  });

  it("refuses unknown source types, bad keys and clashes, each with its line", () => {
    expect(
      problemsOf(
        lines(
          "audit:",
          "  sources:",
          "    - type: kafka_proxy",
          "      listen: ${UNSET}",
          "    - type: audit_topik",
          "    - type: kafka_authorizer_lg",
          "    - type: kafka_authorizer_log",
          "      path: a/kafka.log",
          "      time_zone: Mars/Olympus",
          "      name: ../escape",
          "      follow: true",
          "    - type: kafka_authorizer_log",
          "      path: b/kafka.log",
          "    - type: kafka_authorizer_log",
          "      path: b/kafka.log",
          "      name: other",
          "    - type: kafka_authorizer_log",
        ),
      ),
    ).toEqual([
      { field: "audit.sources[0].bootstrap_servers", line: 3, message: "is required" },
      { field: "audit.sources[0].listen", line: 4, message: "environment variable UNSET is not set" },
      {
        field: "audit.sources[1].type",
        line: 5,
        message:
          "unknown source type; did you mean audit_topic? (known: kafka_authorizer_log, kafka_proxy, audit_topic)",
      },
      {
        field: "audit.sources[2].type",
        line: 6,
        message:
          "unknown source type; did you mean kafka_authorizer_log? (known: kafka_authorizer_log, kafka_proxy, audit_topic)",
      },
      {
        field: "audit.sources[3].time_zone",
        line: 9,
        message: "must be an IANA time zone, e.g. Europe/Berlin",
      },
      {
        field: "audit.sources[3].name",
        line: 10,
        message:
          "must be at most 64 letters, digits and . _ -, starting with a letter or digit, e.g. broker-1",
      },
      {
        field: "audit.sources[3].follow",
        line: 11,
        message: "unknown key (known: type, name, path, time_zone)",
      },
      {
        field: "audit.sources[5].path",
        line: 15,
        message: "is the same file as audit.sources[4]",
      },
      { field: "audit.sources[6].path", line: 17, message: "is required" },
    ]);
  });

  it("reads audit_topic sources: the issue's block, defaults, SASL_SSL with the CA file and the environment", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-config-audit-topic-"));
    try {
      await writeFile(join(dir, "kafka-ca.pem"), "-----BEGIN CERTIFICATE-----\n");
      const config = parseConfig(
        lines(
          "audit:",
          "  sources:",
          "    - type: audit_topic",
          "      name: redpanda-audit",
          "      bootstrap_servers: [broker:9092]",
          "      topic: _redpanda.audit_log",
          "      format: ocsf",
          "      group_id: vigil-audit-archive",
          "      start_from: earliest",
          "    - type: audit_topic",
          '      bootstrap_servers: ["[2001:db8::1]:9093", kafka-2:9093]',
          "      topic: confluent-audit-log-events",
          "      start_from: latest",
          "      security:",
          "        security_protocol: SASL_SSL",
          "        sasl_mechanism: SCRAM-SHA-256",
          "        sasl_username: archiver",
          "        sasl_password: ${AUDIT_KAFKA_PASSWORD}",
          "        ssl_ca_file: kafka-ca.pem",
          "    - type: audit_topic",
          "      bootstrap_servers: [broker:9092]",
          "      topic: _redpanda.audit_log_copy",
        ),
        join(dir, "vigil.yaml"),
        { AUDIT_KAFKA_PASSWORD: "t0ps3cret" },
      );
      expect(config.audit.sources).toEqual([
        {
          type: "audit_topic",
          name: "redpanda-audit",
          brokers: [{ host: "broker", port: 9092 }],
          topic: "_redpanda.audit_log",
          format: "ocsf",
          groupId: "vigil-audit-archive",
          startFrom: "earliest",
          securityProtocol: "PLAINTEXT",
        },
        {
          type: "audit_topic",
          name: "confluent-audit-log-events",
          brokers: [
            { host: "2001:db8::1", port: 9093 },
            { host: "kafka-2", port: 9093 },
          ],
          topic: "confluent-audit-log-events",
          format: "auto",
          groupId: "vigil-confluent-audit-log-events",
          startFrom: "latest",
          securityProtocol: "SASL_SSL",
          sasl: { mechanism: "SCRAM-SHA-256", username: "archiver", password: "t0ps3cret" },
          tls: { ca: "-----BEGIN CERTIFICATE-----\n", insecureSkipVerify: false },
        },
        {
          type: "audit_topic",
          name: "redpanda.audit_log_copy",
          brokers: [{ host: "broker", port: 9092 }],
          topic: "_redpanda.audit_log_copy",
          format: "auto",
          groupId: "vigil-redpanda.audit_log_copy",
          startFrom: "earliest",
          securityProtocol: "PLAINTEXT",
        },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports audit_topic problems with their key and line, never showing the password", () => {
    const problems = problemsOf(
      lines(
        "audit:",
        "  sources:",
        "    - type: audit_topic",
        "      topic: audit log",
        '      bootstrap_servers: ["kafka://broker:9092", broker, "broker:99999"]',
        "      format: json",
        "      start_from: beginning",
        "      group_id: my group",
        "      security:",
        "        security_protocol: SASL_SSL",
        "        sasl_password: hunter2-s3cr3t",
        "        ssl_cert_file: client.pem",
        "    - type: audit_topic",
        "      bootstrap_servers: [broker:9092]",
        "      security: { sasl_username: bob, ssl_ca_file: ca.pem }",
        "      partitions: 3",
      ),
    );
    expect(problems).toEqual([
      { field: "audit.sources[0].format", line: 6, message: "must be one of ocsf, cloudevents, auto" },
      { field: "audit.sources[0].start_from", line: 7, message: "must be one of earliest, latest" },
      { field: "audit.sources[1].topic", line: 13, message: "is required" },
      {
        field: "audit.sources[1].partitions",
        line: 16,
        message:
          "unknown key (known: type, name, bootstrap_servers, topic, format, group_id, start_from, security)",
      },
    ]);
    const checked = problemsOf(
      lines(
        "audit:",
        "  sources:",
        "    - type: audit_topic",
        "      topic: audit log",
        '      bootstrap_servers: ["kafka://broker:9092", broker, "broker:99999"]',
        "      group_id: my group",
        "      security:",
        "        security_protocol: SASL_SSL",
        "        sasl_password: hunter2-s3cr3t",
        "        ssl_cert_file: /nonexistent/client.pem",
        "    - type: audit_topic",
        "      bootstrap_servers: [broker:9092]",
        "      topic: t",
        "      security: { sasl_username: bob, ssl_ca_file: ca.pem }",
      ),
    );
    expect(checked).toEqual([
      {
        field: "audit.sources[0].topic",
        line: 4,
        message: "must be 1 to 249 letters, digits and the characters . _ -",
      },
      {
        field: "audit.sources[0].bootstrap_servers[0]",
        line: 5,
        message:
          "must be host:port, e.g. kafka-1.example.com:9092, without a scheme (the protocol goes in security.security_protocol)",
      },
      {
        field: "audit.sources[0].bootstrap_servers[1]",
        line: 5,
        message: "must be host:port, e.g. kafka-1.example.com:9092 (the port is required)",
      },
      {
        field: "audit.sources[0].bootstrap_servers[2]",
        line: 5,
        message: "has an invalid port: it must be 1 to 65535",
      },
      { field: "audit.sources[0].group_id", line: 6, message: "must not contain white space" },
      {
        field: "audit.sources[0].security.sasl_mechanism",
        line: 7,
        message: "is required with security_protocol SASL_SSL",
      },
      {
        field: "audit.sources[0].security.sasl_username",
        line: 7,
        message: "is required with security_protocol SASL_SSL",
      },
      { field: "audit.sources[0].security", line: 7, message: "ssl_cert_file and ssl_key_file go together" },
      {
        field: "audit.sources[0].security.ssl_cert_file",
        line: 10,
        message: "cannot read /nonexistent/client.pem: no such file",
      },
      {
        field: "audit.sources[1].security.sasl_username",
        line: 14,
        message: "applies only with security_protocol SASL_PLAINTEXT or SASL_SSL (it is PLAINTEXT)",
      },
      {
        field: "audit.sources[1].security.ssl_ca_file",
        line: 14,
        message: "applies only with security_protocol SSL or SASL_SSL (it is PLAINTEXT)",
      },
    ]);
    expect(JSON.stringify(checked)).not.toContain("hunter2");
  });

  it("refuses two audit_topic sources reading one topic, clashing names, and a topic a kafka destination writes", () => {
    expect(
      problemsOf(
        lines(
          "audit:",
          "  destinations:",
          "    - type: kafka",
          "      bootstrap_servers: [kafka-1:9092, kafka-2:9092]",
          "      topic: audit-events",
          "  sources:",
          "    - type: audit_topic",
          "      bootstrap_servers: [broker:9092]",
          "      topic: _redpanda.audit_log",
          "    - type: audit_topic",
          "      name: copy",
          "      bootstrap_servers: [broker:9092]",
          "      topic: _redpanda.audit_log",
          "    - type: audit_topic",
          "      bootstrap_servers: [other:9092]",
          "      topic: _redpanda.audit_log",
          "    - type: audit_topic",
          "      bootstrap_servers: [kafka-2:9092]",
          "      topic: audit-events",
        ),
      ),
    ).toEqual([
      { field: "audit.sources[1].topic", line: 13, message: "reads the same topic as audit.sources[0]" },
      {
        field: "audit.sources[2].topic",
        line: 16,
        message: "gives the name redpanda.audit_log, already the name of audit.sources[0]; set a unique name",
      },
      {
        field: "audit.sources[3].topic",
        line: 19,
        message:
          "is the topic the kafka destination kafka:audit-events writes to: Vigil would seal its own records again, without end; read another topic",
      },
    ]);
  });

  it("refuses two sources whose names (their state files) are the same", () => {
    expect(
      problemsOf(
        lines(
          "audit:",
          "  sources:",
          "    - type: kafka_authorizer_log",
          "      path: a/kafka.log",
          "    - type: kafka_authorizer_log",
          "      path: b/kafka.log",
        ),
      ),
    ).toEqual([
      {
        field: "audit.sources[1].path",
        line: 6,
        message: "gives the name kafka.log, already the name of audit.sources[0]; set a unique name",
      },
    ]);
  });

  it("reads kafka_proxy sources: the issue's block, defaults, the CA file resolved but not read", () => {
    // The CA file does not exist: it is read when the source starts, not when the config loads.
    const config = parseConfig(
      lines(
        "audit:",
        "  sources:",
        "    - type: kafka_proxy",
        "      name: kafka-prod",
        "      listen: 127.0.0.1:9192",
        "      advertised_host: 127.0.0.1",
        "      broker_ports: 9193-9208",
        "      bootstrap_servers: [kafka-1:9092]",
        "      upstream_tls:",
        "        ca_file: kafka-ca.pem",
        "      max_frame_bytes: 104857600",
        "    - type: kafka_proxy",
        "      listen: :9300",
        '      bootstrap_servers: ["[2001:db8::1]:9093", kafka-2:9093]',
        "    - type: kafka_proxy",
        "      name: tests",
        "      listen: :0",
        "      bootstrap_servers: [kafka-1:9092]",
        "      upstream_tls: {}",
        "    - type: kafka_proxy",
        "      name: outside",
        "      listen: 0.0.0.0:9400",
        "      advertised_host: vigil.example.com",
        "      broker_ports: 9401",
        "      bootstrap_servers: [kafka-1:9092]",
        "      max_frame_bytes: 1048576",
      ),
      "/etc/vigil/vigil.yaml",
      {},
    );
    const brokers = [{ host: "kafka-1", port: 9092 }];
    const aggregate = { windowMs: 500, eventTypes: ["produce", "consume", "describe", "heartbeat"] };
    expect(config.audit.sources).toEqual([
      {
        type: "kafka_proxy",
        name: "kafka-prod",
        listen: { host: "127.0.0.1", port: 9192 },
        advertisedHost: "127.0.0.1",
        brokerPorts: { first: 9193, count: 16 },
        brokers,
        upstreamTls: { caFile: "/etc/vigil/kafka-ca.pem" },
        maxFrameBytes: 100 * MIB,
        aggregate,
      },
      {
        type: "kafka_proxy",
        name: "kafka-proxy",
        listen: { host: "127.0.0.1", port: 9300 },
        advertisedHost: "127.0.0.1",
        brokerPorts: { first: 9301, count: 16 },
        brokers: [
          { host: "2001:db8::1", port: 9093 },
          { host: "kafka-2", port: 9093 },
        ],
        maxFrameBytes: 100 * MIB,
        aggregate,
      },
      {
        type: "kafka_proxy",
        name: "tests",
        listen: { host: "127.0.0.1", port: 0 },
        advertisedHost: "127.0.0.1",
        brokerPorts: { first: 0, count: 0 },
        brokers,
        upstreamTls: {},
        maxFrameBytes: 100 * MIB,
        aggregate,
      },
      {
        type: "kafka_proxy",
        name: "outside",
        listen: { host: "0.0.0.0", port: 9400 },
        advertisedHost: "vigil.example.com",
        brokerPorts: { first: 9401, count: 1 },
        brokers,
        maxFrameBytes: MIB,
        aggregate,
      },
    ]);
    // Loopback unless a host is written, and 16 broker ports after listen's by default.
    const [defaults] = parseConfig(
      lines("audit:", "  sources:", "    - type: kafka_proxy", "      bootstrap_servers: [kafka-1:9092]"),
      undefined,
      {},
    ).audit.sources;
    expect(defaults).toMatchObject({
      name: "kafka-proxy",
      listen: { host: "127.0.0.1", port: 9192 },
      advertisedHost: "127.0.0.1",
      brokerPorts: { first: 9193, count: 16 },
    });
  });

  it("reads a kafka_proxy source's aggregate block: the key's defaults, event types, a window of 0", () => {
    const aggregateOf = (...block: string[]) =>
      (
        parseConfig(
          lines(
            "audit:",
            "  sources:",
            "    - type: kafka_proxy",
            "      bootstrap_servers: [kafka-1:9092]",
            ...block,
          ),
          undefined,
          {},
        ).audit.sources[0] as { aggregate: unknown }
      ).aggregate;
    const defaults = ["produce", "consume", "describe", "heartbeat"];
    expect(aggregateOf()).toEqual({ windowMs: 500, eventTypes: defaults });
    expect(aggregateOf("      aggregate: {}")).toEqual({ windowMs: 500, eventTypes: defaults });
    expect(
      aggregateOf(
        "      aggregate:",
        "        window_ms: 500                    # 0: one event per request; at most 60000",
        "        event_types: [produce, consume, describe, heartbeat]",
      ),
    ).toEqual({ windowMs: 500, eventTypes: defaults });
    expect(aggregateOf("      aggregate:", "        window_ms: 0")).toEqual({
      windowMs: 0,
      eventTypes: defaults,
    });
    expect(
      aggregateOf("      aggregate:", "        window_ms: 60000", "        event_types: [management, admin]"),
    ).toEqual({ windowMs: 60000, eventTypes: ["management", "admin"] });
    expect(aggregateOf("      aggregate:", "        event_types: []")).toEqual({
      windowMs: 500,
      eventTypes: [],
    });
  });

  it("refuses a kafka_proxy aggregate window out of range and event types Redpanda does not have", () => {
    const valid = "management, produce, consume, describe, heartbeat, authenticate, schema_registry, admin";
    expect(
      problemsOf(
        lines(
          "audit:",
          "  sources:",
          "    - type: kafka_proxy",
          "      listen: nowhere", // 4: the listen problem hides no aggregate problem
          "      bootstrap_servers: [kafka-1:9092]",
          "      aggregate:",
          "        event_types: [produce, fetch, heartbeats, consume]",
          "    - type: kafka_proxy",
          "      name: second",
          "      listen: :9300",
          "      bootstrap_servers: [kafka-1:9092]",
          "      aggregate:",
          "        window_ms: -1",
          "        event_types: [produce]",
          "    - type: kafka_proxy",
          "      name: third",
          "      listen: :9400",
          "      bootstrap_servers: [kafka-1:9092]",
          "      aggregate:",
          "        window_ms: 0.5",
          "        event_types: produce",
          "        events: [produce]",
          "    - type: kafka_proxy",
          "      name: fourth",
          "      listen: :9500",
          "      bootstrap_servers: [kafka-1:9092]",
          "      aggregate:",
          "        event_types:",
          "          - describe",
          "          - Produce", // 30
          "    - type: kafka_proxy",
          "      name: fifth",
          "      listen: :9600",
          "      bootstrap_servers: [kafka-1:9092]",
          "      aggregate: { window_ms: 60001 }",
        ),
      ).map(formatProblem),
    ).toEqual([
      "line 4: audit.sources[0].listen: must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470",
      `line 7: audit.sources[0].aggregate.event_types[1]: unknown event type "fetch": must be one of ${valid}`,
      `line 7: audit.sources[0].aggregate.event_types[2]: unknown event type "heartbeats" (did you mean ` +
        `"heartbeat"?): must be one of ${valid}`,
      "line 13: audit.sources[1].aggregate.window_ms: must be at least 0",
      "line 20: audit.sources[2].aggregate.window_ms: must be an integer",
      "line 21: audit.sources[2].aggregate.event_types: must be a list",
      "line 22: audit.sources[2].aggregate.events: unknown key (known: window_ms, event_types)",
      `line 30: audit.sources[3].aggregate.event_types[1]: unknown event type "Produce" (did you mean ` +
        `"produce"?): must be one of ${valid}`,
      "line 35: audit.sources[4].aggregate.window_ms: must be at most 60000",
    ]);
  });

  it("reports kafka_proxy keys of the wrong shape with their line", () => {
    expect(
      problemsOf(
        lines(
          "audit:",
          "  kafka_proxy: {}",
          "  sources:",
          "    - type: kafka_proxy",
          "      name: 'bad name'",
          "      listen: 9192",
          "      bootstrap_servers: []",
          "      upstream_tls: { ca_file: ca.pem, cert_file: client.pem }",
          "      max_frame_bytes: 1000",
          "      tls: true",
          "    - type: kafka_proxy",
          "      max_frame_bytes: 2147483648",
          "      tls: { cert_file: proxy.pem, client_ca_file: ca.pem, require_client_cert: maybe }",
        ),
      ).map(formatProblem),
    ).toEqual([
      "line 2: audit.kafka_proxy: unknown key (known: enabled, destination, destinations, events, exclude_events, " +
        "integrity, failure_policy, queue, retention, lifecycle, alerts, policy_file, enabled_event_types, " +
        "excluded_topics, excluded_principals, redaction, sources, index)",
      "line 5: audit.sources[0].name: must be at most 64 letters, digits and . _ -, starting with a letter or " +
        "digit, e.g. broker-1",
      "line 6: audit.sources[0].listen: must be a string",
      "line 7: audit.sources[0].bootstrap_servers: must not be an empty list",
      "line 8: audit.sources[0].upstream_tls.cert_file: unknown key (known: ca_file)",
      "line 9: audit.sources[0].max_frame_bytes: must be at least 1048576",
      "line 10: audit.sources[0].tls: must be a mapping of keys",
      "line 11: audit.sources[1].bootstrap_servers: is required",
      "line 12: audit.sources[1].max_frame_bytes: must be at most 2147483647",
      "line 13: audit.sources[1].tls.key_file: is required",
      "line 13: audit.sources[1].tls.require_client_cert: must be true or false",
    ]);
  });

  it("refuses kafka_proxy addresses and port ranges that cannot work, naming the key and its line", () => {
    expect(
      problemsOf(
        lines(
          "audit:", // 1
          "  sources:",
          "    - type: kafka_proxy",
          "      listen: localhost", // 4
          "      advertised_host: 'vigil:9092'",
          "      bootstrap_servers: ['kafka://kafka-1:9092', 'localhost:9192']",
          "    - type: kafka_proxy",
          "      name: wildcard",
          "      listen: 0.0.0.0:9300", // 9
          "      broker_ports: 9310-9300",
          "      bootstrap_servers: [kafka-1:9092]",
          "    - type: kafka_proxy",
          "      name: wide",
          "      listen: '[::]:9300'",
          "      advertised_host: '::'", // 15
          "      broker_ports: 1-2000",
          "      bootstrap_servers: [kafka-1:9092]",
          "    - type: kafka_proxy",
          "      name: overlap",
          "      listen: :9500", // 20
          "      broker_ports: 9495-9505",
          "      bootstrap_servers: [kafka-1:9092]",
          "    - type: kafka_proxy",
          "      name: itself",
          "      listen: :9600", // 25
          "      broker_ports: 7460-7480",
          "      bootstrap_servers: ['127.0.0.1:9600', 'localhost:7465', '127.0.0.2:9000', 'kafka-1:7465']",
          "    - type: kafka_proxy",
          "      name: default-range",
          "      listen: :7469", // 30
          "      bootstrap_servers: [kafka-1:9092]",
          "    - type: kafka_proxy",
          "      name: http-port",
          "      listen: :7470",
          "      broker_ports: 0-5", // 35
          "      bootstrap_servers: [kafka-1:9092]",
          "    - type: kafka_proxy",
          "      name: top",
          "      listen: :65530",
          "      bootstrap_servers: [kafka-1:9092]", // 40
          "    - type: kafka_proxy",
          "      name: broker",
          "      broker_ports: abc",
          "      bootstrap_servers: [kafka-1:9092]",
          "    - type: kafka_proxy", // 45
          "      name: everywhere",
          "      listen: 0.0.0.0:9700",
          "      advertised_host: vigil.example.com",
          "      broker_ports: 9701",
          "      bootstrap_servers: ['localhost:9701']", // 50
        ),
      ).map(formatProblem),
    ).toEqual([
      "line 4: audit.sources[0].listen: must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470",
      "line 6: audit.sources[0].bootstrap_servers[0]: must be host:port, e.g. kafka-1.example.com:9092, without " +
        "a scheme (the protocol goes in security.security_protocol)",
      "line 9: audit.sources[1].listen: listens on every address, which no client can connect to: set " +
        "advertised_host to the name or address clients reach this machine by",
      "line 10: audit.sources[1].broker_ports: must be a port range first-last, e.g. 9193-9208, or one port " +
        "(9310 is above 9300)",
      "line 15: audit.sources[2].advertised_host: must be a host name or IP address clients can connect to, " +
        "without a port, e.g. vigil.example.com",
      "line 16: audit.sources[2].broker_ports: spans 2000 ports; at most 1024 (one per broker) are allowed",
      "line 21: audit.sources[3].broker_ports: holds listen's port 9500",
      "line 26: audit.sources[4].broker_ports: holds the HTTP server's port 7470 (server.listen)",
      "line 27: audit.sources[4].bootstrap_servers[0]: is the proxy's own address: name the real cluster's brokers",
      "line 27: audit.sources[4].bootstrap_servers[1]: is the proxy's own address: name the real cluster's brokers",
      "line 30: audit.sources[5].listen: is followed by the default broker_ports 7470-7485, which hold the HTTP " +
        "server's port 7470 (server.listen); set broker_ports",
      "line 34: audit.sources[6].listen: is the HTTP server's port (server.listen)",
      "line 35: audit.sources[6].broker_ports: must hold ports 1 to 65535",
      "line 39: audit.sources[7].listen: leaves no room for the 16 broker ports that follow it by default; set " +
        "broker_ports",
      "line 43: audit.sources[8].broker_ports: must be a port range first-last, e.g. 9193-9208, or one port",
      "line 50: audit.sources[9].bootstrap_servers[0]: is the proxy's own address: name the real cluster's brokers",
    ]);
  });

  it("refuses two kafka_proxy sources sharing a port or the default name; the HTTP port from --listen", () => {
    const proxies = lines(
      "server:",
      "  listen: 127.0.0.1:9000",
      "audit:",
      "  sources:",
      "    - type: kafka_proxy",
      "      broker_ports: 8990-8999",
      "      bootstrap_servers: [kafka-1:9092]",
      "    - type: kafka_proxy", // 8
      "      name: second",
      "      listen: :9300",
      "      broker_ports: 8995-8996",
      "      bootstrap_servers: [kafka-1:9092]",
      "    - type: kafka_proxy", // 13
      "      name: third",
      "      listen: :9192",
      "      bootstrap_servers: [kafka-1:9092]",
      "    - type: kafka_proxy", // 17
      "      listen: :9400",
      "      bootstrap_servers: [kafka-1:9092]",
    );
    expect(problemsOf(proxies).map(formatProblem)).toEqual([
      "line 11: audit.sources[1].broker_ports: takes port 8995, which audit.sources[0] takes too",
      "line 15: audit.sources[2].listen: takes port 9192, which audit.sources[0] takes too",
      "line 17: audit.sources[3]: gives the name kafka-proxy, already the name of audit.sources[0]; set a unique name",
    ]);
    // The HTTP server's port is the one it will listen on: --listen wins over server.listen.
    const httpClash = lines(
      "server:",
      "  listen: 127.0.0.1:9000",
      "audit:",
      "  sources:",
      "    - type: kafka_proxy",
      "      broker_ports: 8990-9010",
      "      bootstrap_servers: [kafka-1:9092]",
    );
    expect(problemsOf(httpClash).map(formatProblem)).toEqual([
      "line 6: audit.sources[0].broker_ports: holds the HTTP server's port 9000 (server.listen)",
    ]);
    expect(parseConfig(httpClash, undefined, {}, { listen: "127.0.0.1:0" }).audit.sources).toHaveLength(1);
    expect(problemsOf(httpClash, {}, { listen: ":9005" }).map(formatProblem)).toEqual([
      "line 6: audit.sources[0].broker_ports: holds the HTTP server's port 9005 (server.listen)",
    ]);
  });

  it("reads the Redpanda settings and redaction, in either spelling of the audit block", () => {
    for (const block of [["audit:"], ["enterprise:", "  audit:"]]) {
      const indent = " ".repeat(block.length * 2);
      const config = parseConfig(
        lines(
          ...block,
          `${indent}enabled_event_types: [produce, authenticate]`,
          `${indent}excluded_topics: [tmp]`,
          `${indent}excluded_principals: ["User:bob"]`,
          `${indent}redaction:`,
          `${indent}  fields: [details.password]`,
          `${indent}  kubernetes_secrets: false`,
        ),
        undefined,
        {},
      );
      expect(config.audit.policy.redpanda).toEqual({
        enabled_event_types: ["produce", "authenticate"],
        excluded_topics: ["tmp"],
        excluded_principals: ["User:bob"],
      });
      expect(config.audit.policy.auditTopics).toBeUndefined();
      expect(config.audit.redaction).toEqual({ fields: ["details.password"], kubernetesSecrets: false });
    }
    expect(defaultConfig().audit.policy.redpanda).toBeUndefined();
    expect(defaultConfig().audit.redaction).toBeUndefined();
  });

  it("reports bad Redpanda settings and redaction paths with their key path and line", () => {
    expect(
      problemsOf(
        lines(
          "audit:",
          "  enabled_event_types:",
          "    - produce",
          "    - consumer",
          "  excluded_principals: bob",
          "  redaction:",
          "    fields: [details.password, details..x]",
          "    kubernetes_secret: true",
        ),
      ),
    ).toEqual([
      {
        field: "audit.enabled_event_types[1]",
        line: 4,
        message: expect.stringContaining('unknown event type "consumer" (did you mean "consume"?)'),
      },
      { field: "audit.excluded_principals", line: 5, message: "must be a list" },
      {
        field: "audit.redaction.fields[1]",
        line: 7,
        message: '"details..x" is not a dotted path: a segment is empty',
      },
      {
        field: "audit.redaction.kubernetes_secret",
        line: 8,
        message: "unknown key; did you mean kubernetes_secrets?",
      },
    ]);
  });

  it("refuses to exclude the topic of a kafka destination, naming the key and its line", () => {
    expect(
      problemsOf(
        lines(
          "audit:",
          "  destination:",
          "    type: kafka",
          "    bootstrap_servers: [kafka:9092]",
          "    topic: audit-events",
          "  excluded_topics: [tmp, audit-events]",
        ),
      ),
    ).toEqual([
      {
        field: "audit.excluded_topics[1]",
        line: 6,
        message:
          'cannot exclude the audit topic "audit-events" itself: changes to it must always be audited ' +
          "(Redpanda refuses _redpanda.audit_log here likewise)",
      },
    ]);
  });

  it("refuses to exclude the topic of any kafka destination, not only the first", () => {
    const problems = problemsOf(
      lines(
        "audit:",
        "  destinations:",
        "    - type: kafka",
        "      bootstrap_servers: [kafka:9092]",
        "      topic: audit-events",
        "    - type: kafka",
        "      bootstrap_servers: [kafka:9092]",
        "      topic: audit-copy",
        "  excluded_topics: [audit-copy]",
      ),
    );
    expect(problems).toEqual([expect.objectContaining({ field: "audit.excluded_topics[0]", line: 9 })]);
  });

  it("loads policy_file relative to the config file and reports its problems with its own lines", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-policy-"));
    try {
      const policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Request\n";
      await writeFile(join(dir, "policy.yaml"), policy);
      const source = join(dir, "vigil.yaml");
      const config = parseConfig(lines("audit:", "  policy_file: policy.yaml"), source, {});
      expect(config.audit.kubernetesPolicy?.ruleCount).toBe(1);
      expect(defaultConfig().audit.kubernetesPolicy).toBeUndefined();
      await writeFile(join(dir, "policy.yaml"), policy.replace("Request", "Everything"));
      expect(() => parseConfig(lines("audit:", "  policy_file: policy.yaml"), source, {})).toThrow(
        /line 2: audit\.policy_file: policy\.yaml line 4: rules\[0\]\.level: unsupported value "Everything"/,
      );
      expect(() => parseConfig(lines("audit:", "  policy_file: nope.yaml"), source, {})).toThrow(
        "audit.policy_file: cannot read the policy file nope.yaml: no such file",
      );
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it("reads a file destination's format, native by default, and lists the formats for an unknown one", () => {
    const text = (format: string) =>
      lines("audit:", "  destinations:", "    - type: file", "      path: /a.log", `      format: ${format}`);
    expect(parseConfig(text("ocsf"), undefined, {}).audit.destinations[0]?.format).toBe("ocsf");
    expect(parseConfig(text("kubernetes"), undefined, {}).audit.destinations[0]?.format).toBe("kubernetes");
    expect(problemsOf(text("ocfs"))).toEqual([
      {
        field: "audit.destinations[0].format",
        line: 5,
        message: "must be one of native, ocsf, cloudevents, kubernetes",
      },
    ]);
  });

  it("names the known destination types, suggesting the one meant", () => {
    expect(problemsOf(lines("audit:", "  destination:", "    type: fiel", "    path: /a.log"))).toEqual([
      {
        field: "audit.destination.type",
        line: 3,
        message:
          "unknown destination type; did you mean file? (known: file, s3, cloudwatch, kafka, syslog, webhook)",
      },
    ]);
  });

  it("resolves relative destination paths against the config file's directory", () => {
    const text = lines(
      "data_dir: data",
      "audit:",
      "  destinations:",
      "    - type: file",
      "      path: logs/a.log",
    );
    const config = parseConfig(text, "/etc/vigil/vigil.yaml", {});
    expect(config.source).toBe("/etc/vigil/vigil.yaml");
    expect(config.dataDir).toBe("/etc/vigil/data");
    expect(config.audit.destinations).toMatchObject([
      { type: "file", name: "file:/etc/vigil/logs/a.log", path: "/etc/vigil/logs/a.log", format: "native" },
    ]);
    expect(parseConfig(text, undefined, {}).audit.destinations[0]).toMatchObject({
      path: resolve("logs/a.log"),
    });
  });

  it("refuses two destinations writing the same file, or sharing a name", () => {
    const text = lines(
      "audit:",
      "  destinations:",
      "    - type: file",
      "      path: /var/log/a.log",
      "    - type: file",
      "      path: /var/log/../log/a.log",
      "    - type: file",
      "      name: x",
      "      path: /b.log",
      "    - type: file",
      "      name: x",
      "      path: /c.log",
    );
    expect(problemsOf(text)).toEqual([
      { field: "audit.destinations[1].path", line: 6, message: "is the same file as audit.destinations[0]" },
      {
        field: "audit.destinations[3].name",
        line: 11,
        message: "gives the name x, already the name of audit.destinations[2]; set a unique name",
      },
    ]);
  });

  it("accepts event globs with * and ?, and explains a bad one", () => {
    const config = parseConfig(lines("audit:", "  events: ['backup.*', 'auth.log?n', '*']"), undefined, {});
    expect(config.audit.policy.events).toEqual(["backup.*", "auth.log?n", "*"]);
    expect(
      problemsOf(lines("audit:", "  events:", "    - backup.*", "    - 'backup/[a]'", "    - ''")),
    ).toEqual([
      {
        field: "audit.events[1]",
        line: 4,
        message:
          "must be an event type or glob: lower-case letters, digits, . _ - and the wildcards * and ?, e.g. backup.*",
      },
      {
        field: "audit.events[2]",
        line: 5,
        message:
          "must be an event type or glob: lower-case letters, digits, . _ - and the wildcards * and ?, e.g. backup.*",
      },
    ]);
  });

  it("accepts HMAC-SHA256 in any case, and refuses other algorithms and disabling", () => {
    const ok = lines("audit:", "  integrity:", "    signing:", "      algorithm: hmac-sha256");
    expect(parseConfig(ok, undefined, {}).audit.integrity).toEqual({
      checkpoints: { everyRecords: 1000, everySeconds: 10, idleSeconds: 1 },
    });
    const text = lines(
      "audit:",
      "  integrity:",
      "    signing:",
      "      enabled: false",
      "      algorithm: Ed25519",
      "    chain:",
      "      enabled: false",
    );
    expect(problemsOf(text)).toEqual([
      {
        field: "audit.integrity.signing.enabled",
        line: 4,
        message: "cannot be disabled: Vigil seals every record",
      },
      {
        field: "audit.integrity.signing.algorithm",
        line: 5,
        message:
          "must be HMAC-SHA256: records are sealed with HMAC-SHA256, and Ed25519 signs the Merkle checkpoints " +
          "(integrity.checkpoints)",
      },
      {
        field: "audit.integrity.chain.enabled",
        line: 7,
        message: "cannot be disabled: Vigil seals every record",
      },
    ]);
    expect(problemsOf(lines("audit:", "  integrity:", "    signing:", "      algorithm: MD5"))).toEqual([
      {
        field: "audit.integrity.signing.algorithm",
        line: 4,
        message:
          "must be HMAC-SHA256: records are sealed with HMAC-SHA256, and Ed25519 signs the Merkle checkpoints " +
          "(integrity.checkpoints)",
      },
    ]);
  });
});

describe("integrity.checkpoints", () => {
  it("loads every key, with defaults for the ones left out", () => {
    const text = lines(
      "audit:",
      "  integrity:",
      "    checkpoints:",
      "      every_records: 500",
      "      idle_seconds: 0.25",
      "      origin: audit.example.com/prod",
    );
    expect(parseConfig(text, undefined, {}).audit.integrity.checkpoints).toEqual({
      everyRecords: 500,
      everySeconds: 10,
      idleSeconds: 0.25,
      origin: "audit.example.com/prod",
    });
  });

  it("refuses an origin that cannot name a key, and nonsense intervals", () => {
    const text = lines(
      "audit:",
      "  integrity:",
      "    checkpoints:",
      "      every_records: 0",
      "      every_seconds: -1",
      "      origin: my log",
    );
    expect(problemsOf(text).map((p) => `${p.line}: ${p.field}`)).toEqual([
      "4: audit.integrity.checkpoints.every_records",
      "5: audit.integrity.checkpoints.every_seconds",
      "6: audit.integrity.checkpoints.origin",
    ]);
  });
});

describe("server, journal and limits", () => {
  it("loads every key", () => {
    const text = lines(
      "server:",
      "  listen: 0.0.0.0:8080",
      "  max_body_bytes: 1048576",
      "  tokens:",
      "    - name: collector",
      "      token: ${COLLECTOR_TOKEN}",
      "    - name: admin",
      "      token: admin-token-0123456789",
      "      scopes: [admin, read, admin]",
      "journal:",
      "  segment_mb: 0.5",
      "limits:",
      "  max_event_bytes: 65536",
      "  max_depth: 8",
    );
    const config = parseConfig(text, undefined, { COLLECTOR_TOKEN: "collector-token-0123" });
    expect(config.server).toEqual({
      listen: { host: "0.0.0.0", port: 8080 },
      maxBodyBytes: 1048576,
      tokens: [
        { name: "collector", token: "collector-token-0123", scopes: ["ingest", "read"] },
        { name: "admin", token: "admin-token-0123456789", scopes: ["admin", "read"] },
      ],
    });
    expect(config.journal).toEqual({ segmentBytes: 524288 });
    expect(config.limits).toEqual({ maxEventBytes: 65536, maxDepth: 8 });
  });
});

describe("overrides", () => {
  const text = lines("data_dir: /srv/from-file", "server:", "  listen: 10.0.0.1:9000");

  it("win over the file, and the default destination follows the data directory", () => {
    const config = parseConfig(text, undefined, {}, { dataDir: "/srv/from-flag", listen: ":7000" });
    expect(config.dataDir).toBe("/srv/from-flag");
    expect(config.server.listen).toEqual({ host: "127.0.0.1", port: 7000 });
    expect(config.audit.destinations).toMatchObject([
      {
        type: "file",
        name: "file:/srv/from-flag/audit.log",
        path: "/srv/from-flag/audit.log",
        format: "native",
      },
    ]);
    expect(parseConfig(text, undefined, {}).dataDir).toBe("/srv/from-file");
  });

  it("are checked too", () => {
    expect(problemsOf(text, {}, { listen: "localhost", dataDir: "" })).toEqual([
      { field: "--listen", message: "must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470" },
      { field: "--data-dir", message: "must not be empty" },
    ]);
  });

  it("apply to the embedded defaults", () => {
    expect(defaultConfig()).toEqual(defaults());
    const config = defaultConfig({ dataDir: "/tmp/v", listen: "[::1]:0" });
    expect(config.dataDir).toBe("/tmp/v");
    expect(config.server.listen).toEqual({ host: "::1", port: 0 });
    expect(config.audit.destinations[0]).toMatchObject({ path: "/tmp/v/audit.log" });
  });
});

describe("parseListen", () => {
  it.each([
    ["127.0.0.1:7470", { host: "127.0.0.1", port: 7470 }],
    ["localhost:80", { host: "localhost", port: 80 }],
    [":9000", { host: "127.0.0.1", port: 9000 }],
    ["[::1]:7470", { host: "::1", port: 7470 }],
    ["[::]:0", { host: "::", port: 0 }],
    ["0.0.0.0:65535", { host: "0.0.0.0", port: 65535 }],
  ])("parses %s", (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each([
    ["7470", "must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470"],
    ["host:", "must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470"],
    ["host:http", "must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470"],
    [
      "::1:7470",
      "must be host:port, [ipv6-address]:port or :port, e.g. 127.0.0.1:7470 (put an IPv6 address in brackets)",
    ],
    ["[1.2.3.4]:80", "the address in brackets must be an IPv6 address"],
    ["host:65536", "port must be between 0 and 65535"],
  ])("refuses %s", (text, reason) => {
    expect(() => parseListen(text)).toThrow(
      new VigilError("invalid_config", `invalid listen address: ${reason}`),
    );
  });
});

describe("loadConfig", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "vigil-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a file and resolves its relative paths against the file's directory", async () => {
    const path = join(dir, "vigil.yaml");
    await writeFile(path, SPEC.file.replace("/var/log/kafka-backup/audit.log", "audit/${NAME:-audit}.log"));
    const config = await loadConfig(path, {});
    expect(config.source).toBe(path);
    expect(config.audit.destinations).toMatchObject([
      {
        type: "file",
        name: `file:${dir}/audit/audit.log`,
        path: `${dir}/audit/audit.log`,
        format: "native",
        rotation: { maxSizeBytes: 100 * MIB, maxFiles: 10, compress: true },
      },
    ]);
    expect((await loadConfig(path, { NAME: "trail" }, { dataDir: dir })).audit.destinations[0]).toMatchObject(
      { path: `${dir}/audit/trail.log` },
    );
  });

  it("says when the file cannot be read", async () => {
    const path = join(dir, "missing.yaml");
    await expect(loadConfig(path, {})).rejects.toThrow(
      new ValidationError("invalid_config", [
        { field: "", message: `cannot read the config file ${path}: no such file` },
      ]),
    );
  });
});

describe("integrity.signing.forward_secure", () => {
  const signing = (...body: string[]) => lines("audit:", "  integrity:", "    signing:", ...body);

  it("is off unless set; set, it takes epoch_records or leaves the epoch size to the chain", () => {
    expect(
      parseConfig(signing("      algorithm: HMAC-SHA256"), undefined, {}).audit.integrity.forwardSecure,
    ).toBe(undefined);
    const sized = signing("      forward_secure:", "        epoch_records: 500");
    expect(parseConfig(sized, undefined, {}).audit.integrity.forwardSecure).toEqual({ epochRecords: 500 });
    const unsized = signing("      forward_secure: {}");
    expect(parseConfig(unsized, undefined, {}).audit.integrity.forwardSecure).toEqual({
      epochRecords: undefined,
    });
  });

  it("refuses a bad epoch size, unknown keys, and a key from the environment", () => {
    expect(problemsOf(signing("      forward_secure:", "        epoch_records: 0"))).toEqual([
      expect.objectContaining({ field: "audit.integrity.signing.forward_secure.epoch_records", line: 5 }),
    ]);
    expect(problemsOf(signing("      forward_secure:", "        epoch_secs: 60"))).toEqual([
      expect.objectContaining({ field: "audit.integrity.signing.forward_secure.epoch_secs", line: 5 }),
    ]);
    expect(
      problemsOf(
        signing("      key_env_var: AUDIT_KEY", "      forward_secure:", "        epoch_records: 10"),
      ),
    ).toEqual([
      {
        field: "audit.integrity.signing.forward_secure",
        line: 5,
        message:
          "cannot be combined with key_env_var: a forward-secure key evolves in the data directory and erases its " +
          "earlier values, while an environment variable's key stays the same",
      },
    ]);
  });
});
