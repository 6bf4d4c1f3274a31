/**
 * The event ids sealed most recently and their sequence numbers, so a client retrying a request whose answer it
 * never received gets the original sequence numbers back instead of a second copy in the chain. Bounded: a ring
 * of the last `capacity` ids says which one to forget next.
 */
import { parseRecord } from "../integrity/chain.ts";
import { JournalReader } from "../journal/reader.ts";

export const DEFAULT_RECENT_IDS = 100_000;

export class RecentIds {
  readonly #capacity: number;
  readonly #ids = new Map<string, number>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(capacity = DEFAULT_RECENT_IDS) {
    this.#capacity = capacity;
    this.#ring = new Array(capacity);
  }

  get(id: string): number | undefined {
    return this.#ids.get(id);
  }

  /** Remembers an id not seen before (callers check `get` first). */
  add(id: string, sequence: number): void {
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#ids.delete(evicted);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#ids.set(id, sequence);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Loads the ids of the newest `capacity` records of a journal whose last durable sequence is `head`. */
  async loadFromJournal(dir: string, head: number): Promise<void> {
    if (head === 0) return;
    const reader = new JournalReader(dir, Math.max(1, head - this.#capacity + 1));
    try {
      for (;;) {
        const batch = await reader.read(head, 4096, 8 << 20);
        if (!batch) break;
        batch.lines.forEach((line, i) => {
          const parsed = parseRecord(line);
          if (!parsed.ok) return;
          const id = (JSON.parse(Buffer.from(parsed.record.event).toString("utf8")) as { event_id?: unknown })
            .event_id;
          if (typeof id === "string") this.add(id, batch.firstSequence + i);
        });
      }
    } finally {
      await reader.close();
    }
  }
}
