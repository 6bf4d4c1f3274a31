/**
 * The worker side of thread.ts: opens the EventIndex named in workerData and answers the main thread's calls.
 * Appends and checkpoints run one at a time in the order they came; queries run as they come, on the index's
 * reading connection, beside them (as they would on the main thread); close waits for both.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { JournalLocation } from "../destinations/destination.ts";
import { VigilError } from "../errors.ts";
import { EventIndex } from "./store.ts";
import type { IndexAnswer, IndexRequest, WireError } from "./thread.ts";

const port = parentPort;
if (!port) throw new Error("thread-worker.ts runs as a worker thread");
const { path } = workerData as { path: string };
const send = (m: IndexAnswer) => port.postMessage(m);
const wire = (e: unknown): WireError =>
  e instanceof VigilError
    ? { message: e.message, code: e.code }
    : { message: String((e as Error)?.message ?? e) };

function append(index: EventIndex, m: Extract<IndexRequest, { op: "append" }>): Promise<number> {
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  const lines: Buffer[] = [];
  const positions: JournalLocation[] = [];
  let start = 0;
  m.ends.forEach((end, i) => {
    lines.push(data.subarray(start, end));
    start = end;
    const segment = m.positions[2 * i] as number;
    const offset = m.positions[2 * i + 1] as number;
    // A batch not read from the journal has none: EventIndex.append refuses it.
    if (!Number.isNaN(segment) && !Number.isNaN(offset)) positions.push({ segment, offset });
  });
  return index.append({ firstSequence: m.firstSequence, lines, positions });
}

async function answer(index: EventIndex, m: IndexRequest, run: () => Promise<unknown>): Promise<void> {
  try {
    const value = await run();
    const last = index.last;
    send(
      m.op === "append" && last
        ? { type: "result", id: m.id, value, last }
        : { type: "result", id: m.id, value },
    );
  } catch (e) {
    send({ type: "error", id: m.id, error: wire(e) });
  }
}

function serve(index: EventIndex): void {
  let writes: Promise<void> = Promise.resolve();
  /** Queries under way: close waits for them, so no statement has its connection closed under it. */
  const queries = new Set<Promise<void>>();
  port?.on("message", (m: IndexRequest) => {
    switch (m.op) {
      case "query": {
        const done = answer(index, m, () => index.query(m.sql, m.params)).finally(() => queries.delete(done));
        queries.add(done);
        break;
      }
      case "append":
        writes = writes.then(() => answer(index, m, () => append(index, m)));
        break;
      case "checkpoint":
        writes = writes.then(() => answer(index, m, () => index.checkpoint()));
        break;
      case "close":
        writes = writes.then(async () => {
          await Promise.all(queries);
          await answer(index, m, async () => index.close());
          port.close();
        });
        break;
    }
  });
}

try {
  const index = await EventIndex.open(path);
  serve(index);
  const last = index.last;
  send(last ? { type: "ready", last } : { type: "ready" });
} catch (e) {
  send({ type: "failed", error: wire(e) });
  port.close();
}
