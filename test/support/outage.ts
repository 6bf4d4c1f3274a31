/**
 * The outage scenario every destination runs against its real server through the real `vigil serve` process
 * (issue 5, point 9): sustained HTTP ingest, the server taken away for a while and brought back, then every
 * record must be at the destination, in order, and ingest must never have stalled (every request answered 200
 * while the destination was away).
 */
import { expect } from "vitest";
import type { StoredRecord } from "./destination-contract.ts";
import { chainSequence, destinationStatuses, writeConfig } from "./files.ts";
import { event, ndjson, post, startVigil, tempDir, waitForDelivery } from "./vigil-process.ts";

export interface OutageOptions {
  /** vigil.yaml with the destination under test (and nothing else that could fail). */
  config: string;
  env?: NodeJS.ProcessEnv;
  interrupt(): Promise<void>;
  resume(): Promise<void>;
  /** What the server holds for the destination. */
  read(): Promise<StoredRecord[]>;
  /** Requests of 20 events sent while the server is away. Default 30. */
  requestsDuringOutage?: number;
  waitMs?: number;
}

export async function outageScenario(opts: OutageOptions): Promise<void> {
  const dir = await tempDir("vigil-outage-");
  const config = await writeConfig(dir, opts.config);
  const vigil = await startVigil({ dataDir: dir, args: ["--config", config], env: opts.env });
  try {
    let n = 0;
    let slowest = 0;
    const send = async () => {
      const events = Array.from({ length: 20 }, () => event(++n));
      const started = Date.now();
      const res = await post(vigil, ndjson(events));
      slowest = Math.max(slowest, Date.now() - started);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    };
    for (let i = 0; i < 5; i++) await send();
    await waitForDelivery(vigil, opts.waitMs);
    await opts.interrupt();
    for (let i = 0; i < (opts.requestsDuringOutage ?? 30); i++) await send();
    const during = (await destinationStatuses(vigil))[0];
    expect(during?.lagRecords).toBeGreaterThan(0);
    // Never stalled: a request is answered once its events are durable, whatever the destination does. (A bound
    // far above the milliseconds a request takes, so only a stall can break it.)
    expect(slowest).toBeLessThan(10_000);
    await opts.resume();
    for (let i = 0; i < 5; i++) await send();
    await waitForDelivery(vigil, opts.waitMs);
    const total = await chainSequence(vigil);
    expect(total).toBe(n);
    const firsts: number[] = [];
    const seen = new Set<number>();
    for (const r of await opts.read()) {
      if (seen.has(r.sequence)) continue;
      seen.add(r.sequence);
      firsts.push(r.sequence);
    }
    expect(firsts).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const after = (await destinationStatuses(vigil))[0];
    expect(after).toMatchObject({ state: "running", lagRecords: 0 });
    expect(after?.failures).toBeGreaterThan(0);
  } finally {
    await vigil.stop();
  }
}
