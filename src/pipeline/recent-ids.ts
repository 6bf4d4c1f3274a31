/**
 * The event ids sealed most recently and their sequence numbers, so a client retrying a request whose answer it
 * never received gets the original sequence numbers back instead of a second copy in the chain. Bounded: the
 * oldest ids are forgotten first (a Map iterates in insertion order).
 */
import { parseRecord } from "../integrity/chain.ts";
import { JournalReader } from "../journal/reader.ts";

export const DEFAULT_RECENT_IDS = 100_000;

export class RecentIds {
  readonly #capacity: number;
  readonly #ids = new Map<string, number>();

  constructor(capacity = DEFAULT_RECENT_IDS) {
    this.#capacity = capacity;
  }

  get(id: string): number | undefined {
    return this.#ids.get(id);
  }

  add(id: string, sequence: number): void {
    this.#ids.set(id, sequence);
    if (this.#ids.size > this.#capacity) {
      const oldest = this.#ids.keys().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
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
          const id = (JSON.parse(Buffer.from(parsed.record.event).toString("utf8")) as { event_id?: unknown }).event_id;
          if (typeof id === "string") this.add(id, batch.firstSequence + i);
        });
      }
    } finally {
      await reader.close();
    }
  }
}
