import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  event,
  get,
  ndjson,
  post,
  runVigil,
  startVigil,
  type VigilProcess,
  waitForDelivery,
} from "./support/vigil-process.ts";

interface IngestBody {
  accepted: number;
  excluded: number;
  dropped: number;
  events: { event_id: string; status: string; sequence_number?: number }[];
}

describe("vigil serve on embedded defaults", () => {
  let vigil: VigilProcess;
  beforeAll(async () => {
    vigil = await startVigil();
  });
  afterAll(async () => {
    await vigil?.stop();
  });

  it("generates an admin token and a signing key, mode 0600, and warns once", async () => {
    expect(vigil.token).toMatch(/^vgl_/);
    expect((await stat(join(vigil.dataDir, "admin.token"))).mode & 0o777).toBe(0o600);
    const keyId = (await readFile(join(vigil.dataDir, "keys/active"), "utf8")).trim();
    expect((await stat(join(vigil.dataDir, `keys/${keyId}.key`))).mode & 0o777).toBe(0o600);
    expect((await stat(join(vigil.dataDir, "keys"))).mode & 0o777).toBe(0o700);
    expect(vigil.stderr()).toMatch(/generated signing key .* for evaluation/);
    expect(vigil.stderr()).toMatch(/generated an admin token in .*admin\.token/);
    // Not a TTY here: the token is in the file only, never in the log stream.
    expect(vigil.stderr()).not.toContain(vigil.token);
  });

  it("accepts one JSON event, a JSON array and NDJSON, answering with ids and sequence numbers", async () => {
    const one = await post(vigil, JSON.stringify(event(1)), "application/json");
    expect(one.status).toBe(200);
    const b1 = one.body as IngestBody;
    expect(b1.accepted).toBe(1);
    expect(b1.events[0]?.sequence_number).toBe(1);
    expect(b1.events[0]?.event_id).toMatch(/^evt_[0-9a-f]{32}$/);

    const arr = await post(
      vigil,
      JSON.stringify([event(2), event(3, { event_id: "evt_client_3" })]),
      "application/json",
    );
    expect(arr.status).toBe(200);
    expect((arr.body as IngestBody).events.map((e) => e.sequence_number)).toEqual([2, 3]);
    expect((arr.body as IngestBody).events[1]?.event_id).toBe("evt_client_3");

    const nd = await post(vigil, ndjson([event(4), event(5), event(6)]));
    expect(nd.status).toBe(200);
    expect((nd.body as IngestBody).events.map((e) => [e.status, e.sequence_number])).toEqual([
      ["sealed", 4],
      ["sealed", 5],
      ["sealed", 6],
    ]);
  });

  it("writes the spec/000 record to the file destination, server fields filled", async () => {
    await waitForDelivery(vigil);
    const path = join(vigil.dataDir, "audit.log");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const lines = (await readFile(path, "utf8")).trimEnd().split("\n");
    expect(lines).toHaveLength(6);
    const rec = JSON.parse(lines[2] as string);
    expect(Object.keys(rec)).toEqual(["event", "integrity"]);
    expect(rec.event.event_id).toBe("evt_client_3");
    expect(rec.event.version).toBe("1.0");
    expect(rec.event.origin).toMatchObject({ source: "http", address: "127.0.0.1", token: "admin" });
    expect(Date.parse(rec.event.received_at)).not.toBeNaN();
    expect(rec.event.timestamp).toBe(rec.event.received_at);
    expect(rec.integrity).toMatchObject({ sequence_number: 3 });
    expect(rec.integrity.signature).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rec.integrity.previous_signature).toBe(JSON.parse(lines[1] as string).integrity.signature);
    expect(rec.integrity.key_id).toMatch(/^hmac-[0-9a-f]{16}$/);
  });

  it("requires a bearer token on everything but health", async () => {
    expect((await fetch(`${vigil.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${vigil.url}/readyz`)).status).toBe(200);
    const res = await post({ url: vigil.url, token: "wrong-token" }, ndjson([event(9)]));
    expect(res.status).toBe(401);
    expect(res.contentType).toContain("application/problem+json");
    for (const path of ["/metrics", "/v1/status", "/v1/destinations"]) {
      expect((await fetch(`${vigil.url}${path}`)).status).toBe(401);
    }
  });

  it("serves Prometheus metrics and status", async () => {
    const metrics = await (await get(vigil, "/metrics")).text();
    expect(metrics).toMatch(/^vigil_events_sealed_total 6$/m);
    expect(metrics).toMatch(/^vigil_journal_durable_sequence 6$/m);
    const status = (await (await get(vigil, "/v1/status")).json()) as {
      chain: { sequence: number };
      ready: boolean;
    };
    expect(status.chain.sequence).toBe(6);
    expect(status.ready).toBe(true);
  });

  it("keeps the chain across a restart and verifies intact", async () => {
    expect(await vigil.stop()).toBe(0);
    vigil = await startVigil({ dataDir: vigil.dataDir });
    const res = await post(vigil, ndjson([event(7)]));
    expect((res.body as IngestBody).events[0]?.sequence_number).toBe(7);
    await waitForDelivery(vigil);
    const journal = await runVigil(["verify", "--data-dir", vigil.dataDir, join(vigil.dataDir, "journal")]);
    expect(journal.stderr + journal.stdout).toMatch(/intact: 7 records/);
    expect(journal.code).toBe(0);
    const file = await runVigil(["verify", "--data-dir", vigil.dataDir, join(vigil.dataDir, "audit.log")]);
    expect(file.code).toBe(0);
  });
});
