import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  event,
  get,
  ndjson,
  post,
  runVigil,
  startVigil,
  tempDir,
  type VigilProcess,
  waitForDelivery,
} from "./support/vigil-process.ts";

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { index?: number; line?: number; field: string; message: string }[];
}

describe("bad input: a clear error, the process alive, nothing accepted lost", () => {
  let vigil: VigilProcess;
  beforeAll(async () => {
    vigil = await startVigil();
    const res = await post(vigil, ndjson([event(1), event(2), event(3)]));
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await vigil?.stop();
  });

  async function expectProblem(
    body: string | Uint8Array,
    contentType: string,
    status: number,
  ): Promise<Problem> {
    const res = await post(vigil, body, contentType);
    expect(res.status).toBe(status);
    expect(res.contentType).toContain("application/problem+json");
    const p = res.body as Problem;
    expect(p.status).toBe(status);
    return p;
  }

  it("malformed JSON", async () => {
    const p = await expectProblem('{"event_type": "backup.started",', "application/json", 400);
    expect(p.errors?.[0]?.message).toMatch(/^malformed JSON/);
  });

  it("one malformed NDJSON line refuses the whole batch and names the line", async () => {
    const body = `${JSON.stringify(event(10))}\n{not json}\n${JSON.stringify(event(11))}\n`;
    const p = await expectProblem(body, "application/x-ndjson", 400);
    expect(p.errors).toEqual([expect.objectContaining({ index: 1, line: 2, field: "" })]);
  });

  it("wrong types name every bad field", async () => {
    const bad = {
      event_type: 5,
      actor: { id: "bob", roles: "admin", ip_address: "not-an-ip" },
      action: { duration_ms: -1 },
      details: "text",
      surprise: true,
    };
    const p = await expectProblem(ndjson([event(12), bad]), "application/x-ndjson", 400);
    const fields = (p.errors ?? []).map((e) => `${e.index}:${e.field}`).sort();
    expect(fields).toEqual(
      [
        "1:action.duration_ms",
        "1:actor.ip_address",
        "1:actor.roles",
        "1:details",
        "1:event_type",
        "1:surprise",
      ].sort(),
    );
    expect(p.errors?.find((e) => e.field === "surprise")?.message).toMatch(/unknown field/);
  });

  it("a missing event_type and a bad timestamp", async () => {
    const p = await expectProblem(
      JSON.stringify({ actor: { id: "x" }, timestamp: "yesterday" }),
      "application/json",
      400,
    );
    expect(p.errors?.map((e) => [e.field, e.message])).toEqual(
      expect.arrayContaining([
        ["event_type", "is required"],
        ["timestamp", expect.stringMatching(/RFC 3339/)],
      ]),
    );
  });

  it("integrity fields from a client are refused, never trusted", async () => {
    const forged = { ...event(13), integrity: { sequence_number: 1, signature: "sha256:00" } };
    const p = await expectProblem(JSON.stringify(forged), "application/json", 400);
    expect(p.errors?.[0]).toMatchObject({ field: "integrity" });
    const record = { event: event(14), integrity: { sequence_number: 99 } };
    const p2 = await expectProblem(JSON.stringify(record), "application/json", 400);
    expect(p2.errors?.[0]).toMatchObject({ field: "integrity" });
    const p3 = await expectProblem(
      JSON.stringify({ ...event(15), received_at: "2020-01-01T00:00:00Z" }),
      "application/json",
      400,
    );
    expect(p3.errors?.[0]).toMatchObject({ field: "received_at" });
  });

  /** POSTs with `Expect: 100-continue`, uploading the body only if the server says continue. */
  function postExpecting(
    token: string,
    length: number,
  ): Promise<{ status: number; body: string; uploaded: boolean }> {
    const url = new URL(vigil.url);
    return new Promise((resolve, reject) => {
      let uploaded = false;
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: "/v1/events",
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/x-ndjson",
            "content-length": length,
            expect: "100-continue",
          },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (d: string) => {
            text += d;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, uploaded }));
        },
      );
      req.on("continue", () => {
        uploaded = true;
        req.end(Buffer.alloc(length, 0x20));
      });
      req.on("error", reject);
    });
  }

  it("a body over the limit is 413, refused before upload when the client asks to continue", async () => {
    const { status, body, uploaded } = await postExpecting(vigil.token, 9 * 1024 * 1024);
    expect(status).toBe(413);
    expect(uploaded).toBe(false);
    expect((JSON.parse(body) as Problem).detail).toMatch(
      /over the 8388608-byte limit \(server.max_body_bytes\)/,
    );
  });

  it("an unknown token is refused before the body is read", async () => {
    const { status, uploaded } = await postExpecting("not-a-token", 1024);
    expect(status).toBe(401);
    expect(uploaded).toBe(false);
    // Without Expect, authentication still comes before the body is parsed.
    const res = await post({ url: vigil.url, token: "not-a-token" }, "{not json");
    expect(res.status).toBe(401);
  });

  it("a body of many bad events gets a bounded answer", async () => {
    const body = `[${new Array(200_000).fill("1").join(",")}]`;
    const res = await post(vigil, body, "application/json");
    expect(res.status).toBe(400);
    const p = res.body as Problem;
    expect(p.errors).toHaveLength(100);
    expect(p.detail).toMatch(/; and 199995 more$/);
    expect(JSON.stringify(p).length).toBeLessThan(20_000);
  });

  it("one event over the per-event limit", async () => {
    const p = await expectProblem(
      JSON.stringify(event(16, { details: { blob: "x".repeat(300 * 1024) } })),
      "application/json",
      400,
    );
    expect(p.errors?.[0]?.message).toMatch(/over the 262144-byte limit/);
  });

  it("invalid UTF-8", async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"event_type":"backup.started","details":{"x":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}}'),
    ]);
    const p = await expectProblem(bytes, "application/json", 400);
    expect(p.errors?.[0]?.message).toBe("body is not valid UTF-8");
  });

  it("deep nesting, moderate and hostile", async () => {
    let nested: unknown = 1;
    for (let i = 0; i < 40; i++) nested = { n: nested };
    const p = await expectProblem(JSON.stringify(event(17, { details: nested })), "application/json", 400);
    expect(p.errors?.[0]?.message).toMatch(/nested deeper than 32 levels/);
    const hostile = `{"event_type":"a.b","details":{"x":${"[".repeat(200_000)}${"]".repeat(200_000)}}}`;
    const p2 = await expectProblem(hostile, "application/json", 400);
    expect(p2.errors?.[0]?.message).toMatch(/nested deeper/);
  });

  it("__proto__ keys are refused and pollute nothing", async () => {
    const body = '{"event_type":"backup.started","details":{"__proto__":{"polluted":true}}}';
    const p = await expectProblem(body, "application/json", 400);
    expect(p.errors?.[0]).toMatchObject({ field: "details.__proto__" });
    const top = '{"event_type":"backup.started","__proto__":{"event_type":"x"}}';
    const p2 = await expectProblem(top, "application/json", 400);
    expect(p2.errors?.[0]?.field).toBe("__proto__");
  });

  it("an unsupported content type is 415 and an empty body 400", async () => {
    await expectProblem("event_type=backup.started", "application/x-www-form-urlencoded", 415);
    const p = await expectProblem("", "application/x-ndjson", 400);
    expect(p.errors?.[0]?.message).toMatch(/no events/);
  });

  it("after all of it: alive, nothing refused was sealed, everything accepted intact", async () => {
    expect((await fetch(`${vigil.url}/healthz`)).status).toBe(200);
    const status = (await (await get(vigil, "/v1/status")).json()) as { chain: { sequence: number } };
    expect(status.chain.sequence).toBe(3);
    const ok = await post(vigil, ndjson([event(20)]));
    expect(ok.status).toBe(200);
    await waitForDelivery(vigil);
    const v = await runVigil(["verify", "--data-dir", vigil.dataDir, join(vigil.dataDir, "audit.log")]);
    expect(v.stdout + v.stderr).toMatch(/intact: 4 records/);
    expect(v.code).toBe(0);
  });
});

describe("bad configuration", () => {
  it("vigil serve refuses a bad config with the key path and line, exit 2", async () => {
    const dir = await tempDir();
    const file = join(dir, "vigil.yaml");
    await writeFile(
      file,
      [
        "enterprise:",
        "  audit:",
        "    enabled: true",
        "    destination:",
        "      type: file",
        "      paht: /tmp/x.log",
        "",
      ].join("\n"),
    );
    const r = await runVigil(["serve", "--config", file, "--data-dir", join(dir, "data")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 6/);
    expect(r.stderr).toMatch(/enterprise\.audit\.destination\.paht/);
    const v = await runVigil(["config", "validate", file]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/line 6.*enterprise\.audit\.destination\.paht/);
  });
});
