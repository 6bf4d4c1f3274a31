import { appendFile, copyFile, mkdtemp, readFile, rename, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { InputEvent } from "../../event/schema.ts";
import { parseLines, unparsedEvent } from "./parse.ts";
import { AuthorizerLogTailer } from "./tailer.ts";

const FIXTURES = "/work/shared/fixtures/kafka";

/** An authorizer line that parses, told apart by its topic. */
function line(topic: string): string {
  return `[2024-05-01 10:00:00,000] INFO Principal = User:alice is Allowed Operation = Read from host = 10.0.0.1 on resource = Topic:LITERAL:${topic} for request = Fetch with resourceRefCount = 1 (kafka.authorizer.logger)\n`;
}

function topics(events: InputEvent[]): (string | undefined)[] {
  return events.map((e) => e.resource?.id);
}

/** Polls until the condition holds; fails the test instead of hanging when it never does. */
async function until(check: () => boolean | Promise<boolean>, what = "condition"): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), "vigil-tailer-"));
  const path = join(dir, "kafka-authorizer.log");
  const stateFile = join(dir, "tailer-state.json");
  const delivered: InputEvent[] = [];
  const tailer = (
    deliver?: (events: InputEvent[]) => Promise<void>,
    extra: { maxBatchLines?: number } = {},
  ) =>
    new AuthorizerLogTailer({
      path,
      stateFile,
      pollMs: 2,
      log: () => {},
      backoff: { initialMs: 1, maxMs: 2 },
      deliver:
        deliver ??
        (async (events) => {
          delivered.push(...events);
        }),
      ...extra,
    });
  const state = async () =>
    JSON.parse(await readFile(stateFile, "utf8")) as { inode: string; offset: number };
  return { dir, path, stateFile, delivered, tailer, state };
}

describe("AuthorizerLogTailer", () => {
  it("delivers appended lines in order with ids from inode and offset; a partial line waits", async () => {
    const t = await setup();
    await writeFile(t.path, line("a") + line("b"));
    const tailer = t.tailer();
    await tailer.start();
    await until(() => t.delivered.length === 2);
    await appendFile(t.path, `${line("c")}just another broker line\n${line("d").slice(0, 40)}`);
    await until(() => tailer.status().linesRead === 4);
    expect(topics(t.delivered)).toEqual(["a", "b", "c"]);
    const { ino } = await stat(t.path);
    const lineBytes = Buffer.byteLength(line("a"));
    const prefix = new RegExp(`^kafkalog_${ino}_[0-9a-f]{16}_`);
    expect(t.delivered.map((e) => e.event_id?.replace(prefix, ""))).toEqual([
      "0",
      `${lineBytes}`,
      `${2 * lineBytes}`,
    ]);
    expect(t.delivered.every((e) => prefix.test(e.event_id ?? ""))).toBe(true);

    // The partial line is neither delivered nor counted until its newline arrives.
    await new Promise((r) => setTimeout(r, 20));
    expect(t.delivered).toHaveLength(3);
    await appendFile(t.path, line("d").slice(40));
    await until(() => tailer.status().linesRead === 5);
    expect(t.delivered[3]?.resource?.id).toBe("d");
    expect(tailer.status()).toMatchObject({ linesRead: 5, events: 4, ignored: 1, unparsed: 0, rotations: 0 });
    expect((await t.state()).offset).toBe((await stat(t.path)).size);
    await tailer.stop();
  });

  it("follows a rename rotation: drains the old file, then reads the new one, nothing lost or repeated", async () => {
    const t = await setup();
    await writeFile(t.path, line("a"));
    let gate: (() => void) | undefined;
    const tailer = t.tailer(async (events) => {
      if (events.some((e) => e.resource?.id === "b")) await new Promise<void>((r) => (gate = r));
      t.delivered.push(...events);
    });
    await tailer.start();
    await until(() => t.delivered.length === 1);
    await appendFile(t.path, line("b"));
    await until(() => gate !== undefined, "the delivery of b");
    // While the tailer is busy: the broker writes, the log is renamed, the broker still writes to the renamed
    // file through its open descriptor, then a new log starts.
    await appendFile(t.path, line("c"));
    await rename(t.path, `${t.path}.1`);
    await appendFile(`${t.path}.1`, line("d"));
    await writeFile(t.path, line("e") + line("f"));
    gate?.();
    await until(() => t.delivered.length === 6);
    await new Promise((r) => setTimeout(r, 20));
    expect(topics(t.delivered)).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(new Set(t.delivered.map((e) => e.event_id)).size).toBe(6);
    expect(tailer.status()).toMatchObject({ rotations: 1, inode: `${(await stat(t.path)).ino}` });
    await tailer.stop();
  });

  it("follows copytruncate, whether the new content is shorter or longer than what was read", async () => {
    const t = await setup();
    await writeFile(t.path, line("a") + line("b"));
    let gate: (() => void) | undefined;
    const tailer = t.tailer(async (events) => {
      if (events.some((e) => e.resource?.id === "d")) await new Promise<void>((r) => (gate = r));
      t.delivered.push(...events);
    });
    await tailer.start();
    await until(() => t.delivered.length === 2);
    await copyFile(t.path, `${t.path}.1`);
    await truncate(t.path, 0);
    await appendFile(t.path, line("c"));
    await until(() => t.delivered.length === 3);
    expect(tailer.status().rotations).toBe(1);

    // Truncated and refilled past the old position while the tailer was busy: the changed first line tells.
    await appendFile(t.path, line("d"));
    await until(() => gate !== undefined, "the delivery of d");
    await truncate(t.path, 0);
    await appendFile(t.path, line("x") + line("y") + line("z"));
    gate?.();
    await until(() => t.delivered.length === 7);
    await new Promise((r) => setTimeout(r, 20));
    expect(topics(t.delivered)).toEqual(["a", "b", "c", "d", "x", "y", "z"]);
    expect(tailer.status().rotations).toBe(2);
    expect(new Set(t.delivered.map((e) => e.event_id)).size).toBe(7);
    await tailer.stop();
  });

  it("resumes after a restart, and re-delivers with the same ids after a crash before the state write", async () => {
    const t = await setup();
    await writeFile(t.path, line("a") + line("b"));
    await appendFile(t.path, line("e"));
    const savedAtDelivery: number[] = [];
    const first = t.tailer(
      async (events) => {
        savedAtDelivery.push((await t.state().catch(() => ({ offset: 0 }))).offset);
        t.delivered.push(...events);
      },
      { maxBatchLines: 2 },
    );
    await first.start();
    await until(() => t.delivered.length === 3);
    await first.stop();
    // While a batch is delivered, the state still names the position before it.
    expect(savedAtDelivery).toEqual([0, 2 * Buffer.byteLength(line("a"))]);
    const afterAB = await readFile(t.stateFile, "utf8");

    await appendFile(t.path, line("c"));
    const second = t.tailer();
    await second.start();
    await until(() => t.delivered.length === 4);
    await second.stop();
    expect(topics(t.delivered)).toEqual(["a", "b", "e", "c"]);

    // A crash after c was delivered but before its position was saved: c comes again, with the same id.
    await writeFile(t.stateFile, afterAB);
    const third = t.tailer();
    await third.start();
    await until(() => t.delivered.length === 5);
    await new Promise((r) => setTimeout(r, 20));
    await third.stop();
    expect(topics(t.delivered)).toEqual(["a", "b", "e", "c", "c"]);
    expect(t.delivered[4]?.event_id).toBe(t.delivered[3]?.event_id);
  });

  it("finishes a file rotated while stopped, and reads a file the state does not describe from its start", async () => {
    const t = await setup();
    await writeFile(t.path, line("a"));
    const first = t.tailer();
    await first.start();
    await until(() => t.delivered.length === 1);
    await first.stop();

    await appendFile(t.path, line("b"));
    await rename(t.path, `${t.path}.1`);
    await writeFile(t.path, line("c"));
    const second = t.tailer();
    await second.start();
    await until(() => t.delivered.length === 3);
    await second.stop();
    expect(topics(t.delivered)).toEqual(["a", "b", "c"]);

    // The state names a file that is gone (the rotated one removed, the log recreated): start from the beginning.
    await writeFile(t.stateFile, JSON.stringify({ inode: "1", fingerprint: "0000000000000000", offset: 5 }));
    const third = t.tailer();
    await third.start();
    await until(() => t.delivered.length === 4);
    await third.stop();
    expect(topics(t.delivered)).toEqual(["a", "b", "c", "c"]);
    expect(t.delivered[3]?.event_id).toBe(t.delivered[2]?.event_id);
  });

  it("retries a failed delivery with the same lines, without advancing the position", async () => {
    const t = await setup();
    await writeFile(t.path, line("a") + line("b"));
    let failures = 2;
    const attempts: (string | undefined)[][] = [];
    const stateDuringFailures: boolean[] = [];
    const tailer = t.tailer(async (events) => {
      attempts.push(topics(events));
      if (failures-- > 0) {
        stateDuringFailures.push(
          await stat(t.stateFile).then(
            () => true,
            () => false,
          ),
        );
        throw new Error("server unavailable");
      }
      t.delivered.push(...events);
    });
    await tailer.start();
    await until(() => tailer.status().linesRead === 2);
    expect(attempts).toEqual([
      ["a", "b"],
      ["a", "b"],
      ["a", "b"],
    ]);
    expect(stateDuringFailures).toEqual([false, false]);
    expect(tailer.status()).toMatchObject({ deliveryFailures: 2, events: 2, linesRead: 2 });
    expect(tailer.status().lastError).toBeUndefined();
    await tailer.stop();
  });

  it("abandons a delivery still pending at stop: the position stays, a late failure of it is ignored", async () => {
    const t = await setup();
    await writeFile(t.path, line("a"));
    let fail: ((e: Error) => void) | undefined;
    const tailer = t.tailer(
      () =>
        new Promise<void>((_, reject) => {
          fail = reject;
        }),
    );
    await tailer.start();
    await until(() => fail !== undefined, "the delivery");
    await tailer.stop(); // resolves although the delivery never settles
    fail?.(new Error("answered after the stop"));
    await new Promise((r) => setImmediate(r));
    expect(tailer.status()).toMatchObject({ linesRead: 0, deliveryFailures: 0 });
    expect(tailer.status().lastError).toBeUndefined();
    await expect(stat(t.stateFile)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("keeps unparsed lines as events, and stops safely before start and twice", async () => {
    const t = await setup();
    await writeFile(t.path, "INFO Principal = garbled (kafka.authorizer.logger)\n");
    const idle = t.tailer();
    await idle.stop();
    await idle.stop();
    await idle.start();
    expect(idle.status().linesRead).toBe(0);

    const tailer = t.tailer();
    await tailer.start();
    await until(() => tailer.status().linesRead === 1);
    expect(t.delivered[0]).toMatchObject({
      event_type: "kafka.log_unparsed",
      details: { raw: expect.any(String) },
    });
    expect(tailer.status()).toMatchObject({ unparsed: 1, events: 1 });
    await Promise.all([tailer.stop(), tailer.stop()]);
    expect(
      () =>
        new AuthorizerLogTailer({
          path: t.path,
          stateFile: t.stateFile,
          deliver: async () => {},
          timeZone: "Mars/Olympus",
          log: () => {},
        }),
    ).toThrow(RangeError);
  });

  it.each([
    "elastic-integrations-test-authlog.log",
    "elastic-integrations-test-strimzi_kafka-4-1-1.log",
    "kafka-authorizer-acl-lines.log",
  ])("tails %s line by line into the events parseLines gives", async (name) => {
    const text = await readFile(join(FIXTURES, name), "utf8");
    const expected = parseLines(text);
    const t = await setup();
    await writeFile(t.path, "");
    const tailer = t.tailer(undefined, { maxBatchLines: 3 });
    await tailer.start();
    const lines = text.split(/(?<=\n)/);
    for (const [i, l] of lines.entries()) {
      await appendFile(t.path, l);
      // A final line without a newline stays pending, as a partial line should.
      if (l.endsWith("\n")) await until(() => tailer.status().linesRead === i + 1, `line ${i + 1}`);
    }
    if (!text.endsWith("\n")) await appendFile(t.path, "\n");
    await until(() => tailer.status().linesRead === lines.length);
    await tailer.stop();
    const { ino } = await stat(t.path);
    expect(t.delivered.every((e) => e.event_id?.startsWith(`kafkalog_${ino}_`))).toBe(true);
    const withoutIds = t.delivered.map(({ event_id: _, ...e }) => e);
    const isUnparsed = (e: InputEvent) => e.event_type === "kafka.log_unparsed";
    expect(withoutIds.filter((e) => !isUnparsed(e))).toEqual(expected.events);
    expect(withoutIds.filter(isUnparsed)).toEqual(
      expected.unparsed.map(({ line: _, ...u }) => unparsedEvent(u)),
    );
    expect(tailer.status()).toMatchObject({
      events: expected.events.length + expected.unparsed.length,
      unparsed: expected.unparsed.length,
      ignored: expected.ignored,
    });
  });
});
