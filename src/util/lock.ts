/**
 * An exclusive lock on a data directory: two processes sealing into one journal would fork the chain.
 * The lock file holds the owner's pid and is created with O_EXCL. A lock left by a process that no longer exists
 * (a crash) is taken over by renaming it aside first: rename is atomic, so of two processes racing to take over
 * the same stale lock only one moves it, and a process that finds it moved a live owner's fresh lock instead puts
 * it back and gives up.
 */
import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { VigilError } from "../errors.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function ownerOf(path: string): Promise<number | undefined> {
  const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function inUse(dataDir: string, pid: number): VigilError {
  return new VigilError(
    "usage",
    `the data directory ${dataDir} is in use by another Vigil process (pid ${pid})`,
  );
}

export async function lockDataDir(dataDir: string): Promise<{ release: () => Promise<void> }> {
  const path = join(dataDir, "vigil.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return { release: () => unlink(path).catch(() => {}) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const stale = await ownerOf(path);
    if (stale !== undefined && stale !== process.pid && alive(stale)) throw inUse(dataDir, stale);
    const aside = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
    try {
      await rename(path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // another process moved it first
      throw e;
    }
    const moved = await ownerOf(aside);
    if (moved !== stale && moved !== undefined && alive(moved)) {
      // Between reading and renaming, a live process replaced the stale lock with its own: restore it.
      await link(aside, path).catch(() => {});
      await unlink(aside).catch(() => {});
      throw inUse(dataDir, moved);
    }
    await unlink(aside).catch(() => {});
  }
  throw new VigilError("usage", `could not lock the data directory ${dataDir}`);
}
