/**
 * An exclusive lock on a data directory: two processes sealing into one journal would fork the chain.
 * The lock file holds the owner's pid; a lock left by a process that no longer exists (a crash) is taken over.
 */
import { open, readFile, unlink } from "node:fs/promises";
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

export async function lockDataDir(dataDir: string): Promise<{ release: () => Promise<void> }> {
  const path = join(dataDir, "vigil.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return { release: () => unlink(path).catch(() => {}) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new VigilError(
        "usage",
        `the data directory ${dataDir} is in use by another Vigil process (pid ${pid})`,
      );
    }
    await unlink(path).catch(() => {});
  }
  throw new VigilError("usage", `could not lock the data directory ${dataDir}`);
}
