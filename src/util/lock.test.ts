import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lockDataDir } from "./lock.ts";

describe("lockDataDir", () => {
  it("refuses a directory locked by a live process and releases cleanly", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-lock-"));
    const lock = await lockDataDir(dir);
    expect((await readFile(join(dir, "vigil.lock"), "utf8")).trim()).toBe(String(process.pid));
    await writeFile(join(dir, "vigil.lock"), "1\n"); // pid 1 is always alive
    await expect(lockDataDir(dir)).rejects.toThrow(/in use by another Vigil process \(pid 1\)/);
    await writeFile(join(dir, "vigil.lock"), `${process.pid}\n`);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it("takes over a stale lock left by a crashed process, leaving nothing aside", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vigil-lock-"));
    await writeFile(join(dir, "vigil.lock"), "999999999\n"); // no such process
    const lock = await lockDataDir(dir);
    expect(await readdir(dir)).toEqual(["vigil.lock"]);
    expect((await readFile(join(dir, "vigil.lock"), "utf8")).trim()).toBe(String(process.pid));
    await lock.release();
  });
});
