/**
 * The audit block's Redpanda switches and redaction through the real server, configured by a real vigil.yaml:
 * an excluded principal's events are not recorded and are counted, a redacted field reaches the file destination
 * only as `<redacted>`, and the log still verifies.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRecords, writeConfig } from "./support/files.ts";
import {
  event,
  get,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  waitForDelivery,
} from "./support/vigil-process.ts";

describe("excluded_principals and redaction in vigil.yaml", () => {
  it("excludes bob's Kafka events, counts them, and seals the password redacted", async () => {
    const dir = await tempDir("vigil-policy-");
    const path = join(dir, "audit.log");
    const config = await writeConfig(
      dir,
      [
        "enterprise:",
        "  audit:",
        "    destinations:",
        "      - type: file",
        `        path: ${path}`,
        '    excluded_principals: ["User:bob"]',
        "    redaction:",
        "      fields: [details.password]",
        "",
      ].join("\n"),
    );
    const vigil = await startVigil({ args: ["--config", config] });
    const secret = "correct-horse-battery-staple";
    try {
      const produce = (i: number, actor: string) =>
        event(i, {
          event_type: "kafka.produce",
          event_id: `evt_produce_${i}`,
          actor: { type: "user", id: actor },
          resource: { type: "topic", id: "orders" },
          details: { password: secret, records: i },
        });
      const res = await post(
        vigil,
        ndjson([produce(0, "User:alice"), produce(1, "User:bob"), produce(2, "bob")]),
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ accepted: 1, excluded: 2 });
      await waitForDelivery(vigil);
      const records = await readRecords(path);
      expect(records.map((r) => r.event.event_id)).toEqual(["evt_produce_0"]);
      expect(records[0]?.event.details).toEqual({ password: "<redacted>", records: 0 });
      expect(await readFile(path, "utf8")).not.toContain(secret);
      const metrics = await (await get(vigil, "/metrics")).text();
      expect(metrics).toMatch(/^vigil_events_excluded_total\{reason="excluded_principal"\} 2$/m);
      expect(metrics).toMatch(/^vigil_events_sealed_total 1$/m);
    } finally {
      await vigil.stop();
    }
    const verified = await runVigil(["verify", "--data-dir", vigil.dataDir, path]);
    expect(verified.stdout).toMatch(/intact: 1 records?, sequences? 1/);
    expect(verified.code).toBe(0);
  });
});
