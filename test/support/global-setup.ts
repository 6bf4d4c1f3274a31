/**
 * Vitest global setup: every test of a run puts its temporary files under one directory of its own (TMPDIR, which
 * os.tmpdir() and the servers the tests start read), removed when the run ends, so repeated runs do not fill /tmp
 * with data directories, journals, broker logs and certificates.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default async function setup(): Promise<() => Promise<void>> {
  const root = await mkdtemp(join(tmpdir(), "vigil-run-"));
  process.env.TMPDIR = root;
  return async () => {
    await rm(root, { recursive: true, force: true });
  };
}
