/** Small durable-file helpers shared by the journal, cursors, keys and destinations. */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";

/**
 * Creates a directory (and parents) with the given mode (default 0700, whatever the umask). A directory that
 * already exists is left as it is — its owner chose its mode. Returns whether it was created.
 */
export async function ensureDir(path: string, mode = 0o700): Promise<boolean> {
  const created = await mkdir(path, { recursive: true, mode });
  if (created === undefined) return false;
  await chmod(path, mode);
  return true;
}

/** fsyncs a directory so a create, rename or unlink inside it survives a crash. */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces a file atomically and durably: write a temporary sibling with `mode`, fsync it, rename it over the
 * target, fsync the directory. Readers see the old or the new content, never a mix.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dir);
}

/** The names in a directory; an absent directory has none. */
export async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/** Whether a path exists (any other error than ENOENT is thrown). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}
