/**
 * Runs the Kafka audit proxy (proxy.ts) on a worker thread of `vigil serve`, so forwarding clients' requests never
 * waits behind the main thread's work: sealing batches of events (validation, canonical JSON, hashing, signing),
 * HTTP ingest, destinations. On the main thread, a request arriving while a batch of a hundred events was sealed
 * waited for it, and then for the garbage collection that followed: the proxy added tens of milliseconds to the
 * 99th percentile of a Produce round trip. On its own thread it competes for a core, not for an event loop.
 *
 * The worker (thread-worker.ts) owns the listeners, the connections and the protocol work; it makes each event
 * (audit.ts), folds identical high-rate ones (aggregate.ts), and posts what it has once per turn of its event
 * loop, as one message. The main thread (the source, source.ts) queues and seals them.
 *
 * Admission (the failure policy, refuse.ts) must be answered synchronously on the worker for every request, so it
 * reads shared memory: the number of events the main thread holds (queued or being sealed, stored by the source
 * whenever it changes) plus those posted and not yet received (the worker counts what it posts, the main thread
 * counts what it receives) is compared with the queue's bound. The figure is exact up to the messages in flight,
 * for which the source keeps room beyond the bound (source.ts).
 *
 * Status (the failure policy's state, the broker listeners) comes with each message, so `failure` and `brokers`
 * are at most one message old. A worker that dies (a bug) is logged and the source's state says so.
 */
import { Worker } from "node:worker_threads";
import type { FailurePolicy } from "../../config/types.ts";
import type { FailureStatus, HostPort, KafkaProxyOptions } from "./proxy.ts";

type Json = Record<string, unknown>;

/** A broker's listener on the proxy, and the broker behind it. */
export interface BrokerRoute {
  nodeId: number;
  local: HostPort;
  upstream: HostPort;
}

/** What the worker is started with (all of it structured-cloneable). */
export interface ProxyWorkerData {
  options: Omit<KafkaProxyOptions, "emit" | "log" | "admit" | "failurePolicy"> & {
    failurePolicy: FailurePolicy;
  };
  /** Folding of identical events (aggregate.ts): window 0 folds nothing. */
  aggregate: { windowMs: number; eventTypes: string[] };
  /** The source's queue bound: requests are admitted while the events held stay below it. */
  queueMax: number;
  /** Int32 [HELD]: events the main thread holds; [RECEIVED]: events it received, modulo 2^32. */
  shared: SharedArrayBuffer;
}

export const HELD = 0;
export const RECEIVED = 1;

/** Messages from the worker. */
export type ProxyWorkerMessage =
  | { type: "listening"; address: HostPort }
  | { type: "failed"; message: string }
  | { type: "events"; events: Json[]; folding: number; failure: FailureStatus; brokers?: BrokerRoute[] }
  | { type: "log"; msg: string }
  | { type: "stopped" };

/** Messages to the worker. */
export type ProxyWorkerRequest = { op: "stop" };

/** How long stop() waits for the worker to close its connections and post its last events. */
const STOP_TIMEOUT_MS = 10_000;

export interface ProxyThreadOptions {
  data: Omit<ProxyWorkerData, "shared">;
  /** Receives the events of one message, in the order the proxy made them. */
  onEvents: (events: Json[]) => void;
  log: (msg: string) => void;
  /** The worker died: proxying has stopped. */
  onCrash: (message: string) => void;
}

export class ProxyThread {
  readonly address: HostPort;
  readonly #worker: Worker;
  readonly #counters: Int32Array;
  #failure: FailureStatus;
  #brokers: BrokerRoute[] = [];
  #folding = 0;
  #stopped: Promise<void> | undefined;
  #exited = false;
  /** Settles when the worker's last message ("stopped", after its last events) or its exit arrives. */
  #finished: () => void = () => {};
  readonly #done = new Promise<void>((resolve) => {
    this.#finished = resolve;
  });

  private constructor(worker: Worker, counters: Int32Array, address: HostPort, policy: FailurePolicy) {
    this.#worker = worker;
    this.#counters = counters;
    this.address = address;
    this.#failure = {
      policy,
      auditPathFull: false,
      fullSince: undefined,
      refused: {},
      forwardedUnaudited: {},
      lastRefusalAt: undefined,
    };
  }

  /** Starts the worker; resolves once the bootstrap listener listens, rejects with the reason it could not. */
  static start(opts: ProxyThreadOptions): Promise<ProxyThread> {
    const shared = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
    const counters = new Int32Array(shared);
    const data: ProxyWorkerData = { ...opts.data, shared };
    const worker = new Worker(new URL("./thread-worker.ts", import.meta.url), { workerData: data });
    return new Promise((resolve, reject) => {
      let thread: ProxyThread | undefined;
      worker.on("message", (m: ProxyWorkerMessage) => {
        switch (m.type) {
          case "listening":
            thread = new ProxyThread(worker, counters, m.address, data.options.failurePolicy);
            resolve(thread);
            break;
          case "failed":
            reject(new Error(m.message));
            break;
          case "events":
            Atomics.add(counters, RECEIVED, m.events.length);
            if (thread) {
              thread.#failure = m.failure;
              thread.#folding = m.folding;
              if (m.brokers) thread.#brokers = m.brokers;
            }
            if (m.events.length > 0) opts.onEvents(m.events);
            break;
          case "log":
            opts.log(m.msg);
            break;
          case "stopped":
            if (thread) thread.#finished();
            break;
        }
      });
      worker.on("error", (e) => {
        if (!thread) reject(e);
        else opts.onCrash(e.message);
      });
      worker.on("exit", () => {
        if (thread) {
          thread.#exited = true;
          thread.#finished();
        } else reject(new Error("the proxy's worker thread exited before listening"));
      });
    });
  }

  get failure(): FailureStatus {
    return this.#failure;
  }

  /** Events the worker holds in the current aggregation window (aggregate.ts), not yet posted. */
  get folding(): number {
    return this.#folding;
  }

  get brokers(): readonly BrokerRoute[] {
    return this.#brokers;
  }

  /** Tells the worker how many events the source holds (queued and being sealed). */
  setHeld(events: number): void {
    Atomics.store(this.#counters, HELD, events);
  }

  /**
   * Closes the listeners and connections; resolves once the worker posted its last events (delivered to
   * onEvents before this resolves) and exited.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      if (this.#exited) return;
      const exited = new Promise<void>((resolve) => this.#worker.once("exit", () => resolve()));
      this.#worker.postMessage({ op: "stop" } satisfies ProxyWorkerRequest);
      const timer = setTimeout(() => void this.#worker.terminate(), STOP_TIMEOUT_MS);
      // Messages arrive in order: once "stopped" is here, every event before it was handed to onEvents.
      await this.#done;
      await exited;
      clearTimeout(timer);
    })();
    return this.#stopped;
  }
}
