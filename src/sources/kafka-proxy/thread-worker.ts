/**
 * The worker side of thread.ts: runs the KafkaProxy named in workerData. Its events, identical high-rate ones
 * folded per window (aggregate.ts, the source's `aggregate` key), are collected and posted to
 * the main thread once per turn of the event loop (setImmediate), as one message with the failure policy's
 * state and, when they changed, the broker listeners. Admission reads the shared counters (see thread.ts).
 * On "stop": the proxy closes its listeners and connections (no event comes after), the events still held
 * are posted, then "stopped", and the port is closed so the thread ends.
 */
import { parentPort, workerData } from "node:worker_threads";
import { EventAggregator } from "./aggregate.ts";
import { type HostPort, KafkaProxy } from "./proxy.ts";
import {
  type BrokerRoute,
  HELD,
  type ProxyWorkerData,
  type ProxyWorkerMessage,
  type ProxyWorkerRequest,
  RECEIVED,
} from "./thread.ts";

const port = parentPort;
if (!port) throw new Error("thread-worker.ts runs as a worker thread");
const data = workerData as ProxyWorkerData;
const counters = new Int32Array(data.shared);
const send = (m: ProxyWorkerMessage) => port.postMessage(m);

let outbox: Record<string, unknown>[] = [];
let posted = 0;
let scheduled = false;
let brokersChanged = false;
/** The aggregation window's size as last posted. */
let postedFolding = 0;
const brokers = new Map<number, BrokerRoute>();

/** The proxy, noting the local port each broker got: route() is where every broker address is resolved. */
class ObservedProxy extends KafkaProxy {
  override async route(nodeId: number, upstream: HostPort): Promise<HostPort> {
    const local = await super.route(nodeId, upstream);
    const known = brokers.get(nodeId);
    if (known?.upstream.host !== upstream.host || known.upstream.port !== upstream.port) {
      brokers.set(nodeId, { nodeId, local, upstream });
      brokersChanged = true;
      schedule();
    }
    return local;
  }
}

function flush(): void {
  scheduled = false;
  const events = outbox;
  outbox = [];
  posted = (posted + events.length) | 0;
  postedFolding = aggregator.size;
  send({
    type: "events",
    events,
    folding: postedFolding,
    failure: proxy.failure,
    ...(brokersChanged ? { brokers: [...brokers.values()] } : {}),
  });
  brokersChanged = false;
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}

/** The events the main thread holds, and those on their way to it. */
function held(): number {
  return Atomics.load(counters, HELD) + ((posted - Atomics.load(counters, RECEIVED)) | 0) + outbox.length;
}

/** Identical high-rate events folded per window (aggregate.ts); the rest go out as they come. */
const aggregator = new EventAggregator({
  windowMs: data.aggregate.windowMs,
  categories: new Set(data.aggregate.eventTypes),
  emit: (event) => {
    outbox.push(event);
    schedule();
  },
});

const proxy = new ObservedProxy({
  ...data.options,
  emit: (event) => {
    aggregator.add(event);
    // The window's size is in the source's status (a test waits for it to empty): posted when it changes.
    if (aggregator.size !== postedFolding) schedule();
  },
  admit: () => held() < data.queueMax,
  log: (msg) => send({ type: "log", msg }),
});

port.on("message", (m: ProxyWorkerRequest) => {
  if (m.op !== "stop") return;
  void proxy.stop().then(() => {
    aggregator.stop();
    flush();
    send({ type: "stopped" });
    port.close();
  });
});

proxy.start().then(
  () => send({ type: "listening", address: proxy.address }),
  (e: unknown) => {
    send({ type: "failed", message: (e as Error).message });
    port.close();
  },
);
