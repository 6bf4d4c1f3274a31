import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { NativeEvent } from "../../event/schema.ts";
import { type FormatName, integrityOfEncodedLine } from "../../formats/encoder.ts";
import { validateOcsfEvent } from "../../formats/ocsf/schema.ts";
import { canonicalize } from "../../integrity/canonical.ts";
import {
  checkRecordSignature,
  EMPTY_CHAIN,
  formatRecord,
  type Integrity,
  parseRecord,
  Sealer,
} from "../../integrity/chain.ts";
import { keyFromSecret } from "../../integrity/keys.ts";
import { DEFAULT_DELIVERY } from "../delivery.ts";
import { DeliveryError, type RecordBatch } from "../destination.ts";
import type { FileRotationConfig } from "./config.ts";
import { FileDestination } from "./destination.ts";

/**
 * Faults the real filesystem cannot be made to produce here (the tests may run as root, which bypasses
 * permission checks, and a full disk needs a mount): an errno for the next `open` of a path, and a byte budget
 * after which writes to a path fail with ENOSPC (the write that crosses it is short, as on a real disk).
 */
const faults = vi.hoisted(() => ({
  open: new Map<string, string>(),
  writeBudget: new Map<string, number>(),
}));

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  const errno = (code: string, syscall: string, path: string) =>
    Object.assign(new Error(`${code}: injected, ${syscall} '${path}'`), { code, syscall, path });
  const open: typeof real.open = async (path, flags, mode) => {
    const name = String(path);
    const code = faults.open.get(name);
    if (code !== undefined) throw errno(code, "open", name);
    const fh = await real.open(path, flags, mode);
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === "write") {
          return async (buf: Buffer, offset: number, length: number, position: number | null) => {
            const budget = faults.writeBudget.get(name);
            if (budget === undefined) return target.write(buf, offset, length, position);
            if (budget === 0) throw errno("ENOSPC", "write", name);
            const n = Math.min(budget, length);
            faults.writeBudget.set(name, budget - n);
            return target.write(buf, offset, n, position);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
  return { ...real, open, default: { ...real, open } };
});

const KEY = keyFromSecret(Buffer.alloc(32, 7), "the test");

/** Really sealed record lines for sequence numbers 1..count (index i holds sequence i + 1). */
function sealedLines(count: number, padding = 0): Buffer[] {
  const sealer = new Sealer(KEY, EMPTY_CHAIN);
  return Array.from({ length: count }, (_, i) =>
    Buffer.from(
      sealer.seal(canonicalize({ event_type: "test.event", n: i + 1, pad: "x".repeat(padding) })).line,
    ),
  );
}

/** The batch of records `from..to` (inclusive). */
function batch(lines: Buffer[], from: number, to: number): RecordBatch {
  return { firstSequence: from, lines: lines.slice(from - 1, to) };
}

function fileText(lines: Buffer[]): string {
  return lines.map((l) => `${l.toString()}\n`).join("");
}

/** Sequence numbers of a file's lines; fails on a torn or unparsable line. */
function sequencesOf(content: Buffer): number[] {
  const text = content.toString();
  if (text === "") return [];
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      const parsed = parseRecord(Buffer.from(line));
      if (!parsed.ok) throw new Error(`unparsable line: ${parsed.reason}`);
      return parsed.record.integrity.sequence_number;
    });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

const ROTATED = /^audit\.log\.(\d+)(\.gz)?$/;

/** Names in `dir` that are rotated files of audit.log, and the distinct indices they use. */
async function rotatedNames(dir: string): Promise<{ names: string[]; indices: Set<number> }> {
  const names = (await readdir(dir)).filter((n) => ROTATED.test(n)).sort();
  return { names, indices: new Set(names.map((n) => Number(ROTATED.exec(n)?.[1]))) };
}

/** Every record sequence number in the file set, read oldest rotated file first, gunzipping as needed. */
async function sequencesInSet(dir: string): Promise<number[]> {
  const rotated = (await rotatedNames(dir)).names
    .map((name) => ({ name, index: Number(ROTATED.exec(name)?.[1]) }))
    .sort((a, b) => b.index - a.index);
  const out: number[] = [];
  for (const { name } of rotated) {
    const raw = await readFile(join(dir, name));
    out.push(...sequencesOf(name.endsWith(".gz") ? gunzipSync(raw) : raw));
  }
  out.push(...sequencesOf(await readFile(join(dir, "audit.log"))));
  return out;
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

let dir: string;
let path: string;
let running: FileDestination[];
let logged: string[];

/** A destination writing `dir/audit.log`, stopped after the test. */
function destination(
  rotation?: FileRotationConfig,
  at = path,
  format: FormatName = "native",
): FileDestination {
  const d = new FileDestination(
    {
      type: "file",
      name: "audit-file",
      path: at,
      format,
      delivery: DEFAULT_DELIVERY,
      ...(rotation ? { rotation } : {}),
    },
    (msg) => logged.push(msg),
  );
  running.push(d);
  return d;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vigil-file-dest-"));
  path = join(dir, "audit.log");
  running = [];
  logged = [];
  faults.open.clear();
  faults.writeBudget.clear();
});

afterEach(async () => {
  for (const d of running) await d.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("FileDestination: appending", () => {
  it("appends each batch's lines in order, on disk when deliver resolves", async () => {
    const lines = sealedLines(10);
    const d = destination();
    expect(await d.start()).toEqual({});
    await d.deliver(batch(lines, 1, 3));
    expect(await readFile(path, "utf8")).toBe(fileText(lines.slice(0, 3)));
    await d.deliver(batch(lines, 4, 10));
    expect(await readFile(path, "utf8")).toBe(fileText(lines));
  });

  it("creates the file 0600 and a missing parent directory 0700", async () => {
    const nested = join(dir, "a", "b", "audit.log");
    const d = destination(undefined, nested);
    await d.start();
    await d.deliver(batch(sealedLines(1), 1, 1));
    expect(await modeOf(join(dir, "a", "b"))).toBe(0o700);
    expect(await modeOf(nested)).toBe(0o600);
  });

  it("tightens an existing file to 0600 and warns about a group-writable parent it leaves alone", async () => {
    const shared = join(dir, "shared");
    await mkdir(shared);
    await chmod(shared, 0o775);
    const at = join(shared, "audit.log");
    await writeFile(at, "");
    await chmod(at, 0o644);
    await destination(undefined, at).start();
    expect(await modeOf(at)).toBe(0o600);
    expect(await modeOf(shared)).toBe(0o775);
    expect(logged.some((m) => m.includes("warning") && m.includes(shared) && m.includes("writable"))).toBe(
      true,
    );
  });
});

describe("FileDestination: exactly once across restarts", () => {
  it("reports the last sequence on start and writes only the records after it", async () => {
    const lines = sealedLines(15);
    const first = destination();
    await first.start();
    await first.deliver(batch(lines, 1, 10));
    await first.stop();

    const second = destination();
    expect(await second.start()).toMatchObject({ last: { sequence: 10 } });
    await second.deliver(batch(lines, 3, 7));
    expect(sequencesOf(await readFile(path))).toEqual(range(1, 10));
    await second.deliver(batch(lines, 5, 15));
    expect(await readFile(path, "utf8")).toBe(fileText(lines));
  });

  it("cuts off a torn last line left by a crash mid-write before appending", async () => {
    const lines = sealedLines(6);
    const fifth = lines[4] ?? Buffer.alloc(0);
    await writeFile(path, Buffer.concat([Buffer.from(fileText(lines.slice(0, 4))), fifth.subarray(0, 40)]));
    const d = destination();
    expect(await d.start()).toMatchObject({ last: { sequence: 4 } });
    expect(logged.some((m) => m.includes("torn"))).toBe(true);
    await d.deliver(batch(lines, 5, 6));
    expect(await readFile(path, "utf8")).toBe(fileText(lines));
  });

  it("empties a file that holds nothing but a torn line", async () => {
    await writeFile(path, '{"event":{"n":1},"integ');
    const d = destination();
    expect(await d.start()).toEqual({});
    expect((await stat(path)).size).toBe(0);
  });
});

describe("FileDestination: rotation", () => {
  const small = { maxSizeBytes: 1024, maxFiles: 3 };

  it("rotates into path.N.gz, keeping at most maxFiles, each retained record once and in order", async () => {
    const lines = sealedLines(100, 60);
    const d = destination({ ...small, compress: true });
    await d.start();
    for (let from = 1; from <= 100; from += 3) {
      await d.deliver(batch(lines, from, Math.min(100, from + 2)));
      expect((await rotatedNames(dir)).indices.size).toBeLessThanOrEqual(3);
    }
    await d.stop();
    expect((await readdir(dir)).sort()).toEqual([
      "audit.log",
      "audit.log.1.gz",
      "audit.log.2.gz",
      "audit.log.3.gz",
    ]);
    for (const name of await readdir(dir)) expect(await modeOf(join(dir, name))).toBe(0o600);
    const kept = await sequencesInSet(dir);
    const oldest = kept[0] ?? 0;
    expect(oldest).toBeGreaterThan(1);
    expect(kept).toEqual(range(oldest, 100));
  });

  it("holds every record exactly once across the set when maxFiles keeps them all", async () => {
    const lines = sealedLines(120, 40);
    const d = destination({ maxSizeBytes: 1024, maxFiles: 100, compress: true });
    await d.start();
    for (let from = 1; from <= 120; from += 7) await d.deliver(batch(lines, from, Math.min(120, from + 6)));
    await d.stop();
    expect((await rotatedNames(dir)).names.every((n) => n.endsWith(".gz"))).toBe(true);
    expect(await sequencesInSet(dir)).toEqual(range(1, 120));
  });

  it("leaves plain path.N files with compress: false", async () => {
    const lines = sealedLines(60, 60);
    const d = destination({ ...small, compress: false });
    await d.start();
    for (let from = 1; from <= 60; from += 4) await d.deliver(batch(lines, from, Math.min(60, from + 3)));
    await d.stop();
    expect((await readdir(dir)).sort()).toEqual(["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]);
    const kept = await sequencesInSet(dir);
    expect(kept).toEqual(range(kept[0] ?? 0, 60));
  });

  it.each([true, false])(
    "resumes from path.1 when the active file is empty (compress: %s)",
    async (compress) => {
      const lines = sealedLines(20, 100);
      const first = destination({ ...small, compress });
      await first.start();
      await first.deliver(batch(lines, 1, 12));
      await first.stop();
      expect((await stat(path)).size).toBe(0);
      expect(await readdir(dir)).toContain(compress ? "audit.log.1.gz" : "audit.log.1");

      const second = destination({ ...small, compress });
      expect(await second.start()).toMatchObject({ last: { sequence: 12 } });
      await second.deliver(batch(lines, 10, 20));
      await second.stop();
      expect(await sequencesInSet(dir)).toEqual(range(1, 20));
    },
  );

  it("redoes a compression a crash interrupted, keeping path.1 until path.1.gz is complete", async () => {
    const lines = sealedLines(5);
    await writeFile(path, "");
    await writeFile(`${path}.1`, fileText(lines), { mode: 0o600 });
    await writeFile(`${path}.1.gz.tmp`, gzipSync(fileText(lines)).subarray(0, 20));
    const d = destination({ ...small, compress: true });
    expect(await d.start()).toMatchObject({ last: { sequence: 5 } });
    await d.stop();
    expect((await readdir(dir)).sort()).toEqual(["audit.log", "audit.log.1.gz"]);
    expect(gunzipSync(await readFile(`${path}.1.gz`)).toString()).toBe(fileText(lines));
    expect(await modeOf(`${path}.1.gz`)).toBe(0o600);
    expect(logged.some((m) => m.includes("audit.log.1.gz.tmp"))).toBe(true);
  });

  it("drops a plain path.1 whose compressed twin was already complete", async () => {
    const lines = sealedLines(5);
    await writeFile(`${path}.1`, fileText(lines));
    await writeFile(`${path}.1.gz`, gzipSync(fileText(lines)));
    const d = destination({ ...small, compress: true });
    expect(await d.start()).toMatchObject({ last: { sequence: 5 } });
    expect((await readdir(dir)).sort()).toEqual(["audit.log", "audit.log.1.gz"]);
  });

  it("shifts around the gap a crash mid-rotation leaves, overwriting nothing", async () => {
    const lines = sealedLines(30, 100);
    await writeFile(`${path}.2`, fileText(lines.slice(0, 5)));
    await writeFile(`${path}.3`, "oldest, beyond maxFiles after the shift\n");
    const d = destination({ ...small, compress: false });
    expect(await d.start()).toMatchObject({ last: { sequence: 5 } });
    await d.deliver(batch(lines, 6, 15));
    await d.stop();
    expect((await readdir(dir)).sort()).toEqual(["audit.log", "audit.log.1", "audit.log.3"]);
    expect(sequencesOf(await readFile(`${path}.3`))).toEqual(range(1, 5));
    expect(sequencesOf(await readFile(`${path}.1`))).toEqual(range(6, 15));
  });
});

describe("FileDestination: errors", () => {
  it("fails with a non-retryable DeliveryError naming the path and code when the path is a directory", async () => {
    await mkdir(path);
    const error = await destination()
      .start()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(false);
    expect((error as DeliveryError).message).toContain(path);
    expect((error as DeliveryError).message).toContain("EISDIR");
  });

  it("treats a permission error as non-retryable", async () => {
    faults.open.set(path, "EACCES");
    const error = await destination()
      .start()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(false);
    expect((error as DeliveryError).message).toMatch(/audit\.log.*EACCES/);
  });

  it("treats ENOSPC as retryable and cuts the partial batch off before the retry", async () => {
    const lines = sealedLines(8);
    const d = destination();
    await d.start();
    await d.deliver(batch(lines, 1, 3));
    faults.writeBudget.set(path, 50);
    const error = await d.deliver(batch(lines, 4, 8)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).retryable).toBe(true);
    expect((error as DeliveryError).message).toMatch(/audit\.log.*ENOSPC/);
    expect((await stat(path)).size).toBe(Buffer.byteLength(fileText(lines.slice(0, 3))) + 50);

    faults.writeBudget.delete(path);
    await d.deliver(batch(lines, 4, 8));
    expect(await readFile(path, "utf8")).toBe(fileText(lines));
  });

  it("stops safely before start and twice", async () => {
    const d = destination();
    await d.stop();
    await d.start();
    await d.stop();
    await d.stop();
  });
});

/**
 * Really sealed native events for sequence numbers 1..count; those at the `fromKubernetes` indices carry the API
 * server's audit Event in `details.kubernetes`, as the Kubernetes decoder leaves it.
 */
function sealedEvents(count: number, fromKubernetes: (i: number) => boolean = () => false): Buffer[] {
  const sealer = new Sealer(KEY, EMPTY_CHAIN);
  return Array.from({ length: count }, (_, i) => {
    const k8s = fromKubernetes(i);
    const event: NativeEvent = {
      timestamp: "2024-12-01T10:15:30.123Z",
      event_id: `evt_${i + 1}`,
      version: "1.0",
      received_at: "2024-12-01T10:15:30.456Z",
      origin: { source: k8s ? "kubernetes-webhook" : "http", address: "127.0.0.1" },
      actor: { type: "user", id: "alice@company.com" },
      event_type: k8s ? "kubernetes.pods.get" : "backup.completed",
      ...(k8s
        ? {
            details: {
              kubernetes: {
                kind: "Event",
                apiVersion: "audit.k8s.io/v1",
                auditID: `a-${i + 1}`,
                verb: "get",
              },
            },
          }
        : {}),
    };
    return Buffer.from(sealer.seal(canonicalize(event)).line);
  });
}

/** The file's lines, each parsed as JSON; fails on a torn line. */
async function jsonLines(at = path): Promise<Record<string, unknown>[]> {
  const text = await readFile(at, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Sequence numbers of a file of `format` lines, read from the integrity block each encoding carries. */
async function encodedSequences(format: FormatName): Promise<number[]> {
  const text = await readFile(path, "utf8");
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => {
      const integrity = integrityOfEncodedLine(format, Buffer.from(line));
      if (integrity === undefined) throw new Error(`not a ${format} line: ${line}`);
      return integrity.sequence_number;
    });
}

function signatureOf(line: Buffer): string {
  const parsed = parseRecord(line);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.record.integrity.signature;
}

describe("FileDestination: format", () => {
  it("writes valid OCSF lines that rebuild into records that verify", async () => {
    const lines = sealedEvents(4);
    const d = destination(undefined, path, "ocsf");
    await d.start();
    await d.deliver(batch(lines, 1, 4));
    const ocsf = await jsonLines();
    expect(ocsf).toHaveLength(4);
    ocsf.forEach((event, i) => {
      expect(validateOcsfEvent(event)).toEqual([]);
      const integrity = (event.unmapped as { vigil_integrity: Integrity }).vigil_integrity;
      const rebuilt = formatRecord(event.raw_data as string, integrity);
      expect(rebuilt).toBe(lines[i]?.toString());
      const parsed = parseRecord(Buffer.from(rebuilt));
      if (!parsed.ok) throw new Error(parsed.reason);
      expect(checkRecordSignature(parsed.record, KEY.secret)).toBe("valid");
    });
  });

  it.each(["ocsf", "cloudevents", "kubernetes"] as const)(
    "resumes a %s file after a restart without repeating or skipping a record",
    async (format) => {
      const lines = sealedEvents(15, () => format === "kubernetes");
      const first = destination(undefined, path, format);
      await first.start();
      await first.deliver(batch(lines, 1, 10));
      await first.stop();

      const second = destination(undefined, path, format);
      expect(await second.start()).toEqual({
        last: { sequence: 10, signature: signatureOf(lines[9] as Buffer) },
      });
      await second.deliver(batch(lines, 3, 7));
      expect(await encodedSequences(format)).toEqual(range(1, 10));
      await second.deliver(batch(lines, 5, 15));
      expect(await encodedSequences(format)).toEqual(range(1, 15));
    },
  );

  it("skips the records the kubernetes format cannot represent, counting and logging them", async () => {
    // Records 1, 4 and 7 came from Kubernetes; the rest did not.
    const lines = sealedEvents(8, (i) => i % 3 === 0);
    const d = destination(undefined, path, "kubernetes");
    await d.start();
    await d.deliver(batch(lines, 1, 5));
    await d.deliver(batch(lines, 6, 6));
    await d.deliver(batch(lines, 7, 8));
    expect(await encodedSequences("kubernetes")).toEqual([1, 4, 7]);
    expect((await jsonLines()).map((e) => e.kind)).toEqual(["Event", "Event", "Event"]);
    expect(d.skippedRecords).toBe(5);
    expect(d.status()).toEqual({ skippedRecords: 5 });
    expect(logged).toEqual([
      'file destination "audit-file": skipped 3 record(s) the kubernetes format cannot represent ' +
        "(sequence 2, 3, 5); 3 skipped so far",
      'file destination "audit-file": skipped 1 record(s) the kubernetes format cannot represent ' +
        "(sequence 6); 4 skipped so far",
      'file destination "audit-file": skipped 1 record(s) the kubernetes format cannot represent ' +
        "(sequence 8); 5 skipped so far",
    ]);
    await d.stop();

    const again = destination(undefined, path, "kubernetes");
    expect(await again.start()).toMatchObject({ last: { sequence: 7 } });
  });

  it("warns and reports nothing when the last line is not in the destination's format", async () => {
    const first = destination();
    await first.start();
    await first.deliver(batch(sealedEvents(2), 1, 2));
    await first.stop();
    const ocsf = destination(undefined, path, "ocsf");
    expect(await ocsf.start()).toEqual({});
    expect(logged).toEqual([
      `file destination "audit-file": warning: the last line of ${path} is not a sealed record in the ocsf ` +
        "format; resuming from the consumer's cursor, which may repeat records already in the file",
    ]);
  });
});
