/**
 * The composition root of `vigil serve`: opens the data directory, the key, the journal (recovering it), builds
 * the pipeline, starts one journal consumer per destination, the sources Vigil reads itself (`audit.sources`) and
 * the HTTP API. `close` undoes it in reverse: stop taking requests, let in-flight ones finish, stop the sources,
 * stop the consumers (committing cursors), close the journal.
 */
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { SourceConfig, VigilConfig } from "../config/types.ts";
import { createDestination } from "../destinations/registry.ts";
import { formatProblem, VigilError } from "../errors.ts";
import { prepareEvents } from "../event/validate.ts";
import { INDEX_DELIVERY, IndexDestination } from "../index/destination.ts";
import type { KeySchedule, Sealer as SealerType, SigningKey } from "../integrity/chain.ts";
import { Sealer } from "../integrity/chain.ts";
import { CheckpointerThread } from "../integrity/checkpointer-thread.ts";
import { type ForwardSecureSigner, openSealingChain } from "../integrity/forward-secure.ts";
import { keyFromEnv, keysDir, loadOrCreateLocalKey } from "../integrity/keys.ts";
import {
  checkpointKeysDir,
  checkpointsDir,
  loadCheckpointVerifiers,
  loadOrCreateCheckpointSigner,
  loadOrCreateOrigin,
  merkleDir,
} from "../integrity/log-layout.ts";
import { consistencyProofJson } from "../integrity/proof.ts";
import { CursorStore } from "../journal/cursor.ts";
import { journalDir } from "../journal/segment.ts";
import { JournalWriter } from "../journal/writer.ts";
import { JournalConsumer } from "../pipeline/consumer.ts";
import { Pipeline } from "../pipeline/pipeline.ts";
import { RecentIds } from "../pipeline/recent-ids.ts";
import { compileRedaction } from "../policy/redact.ts";
import { compilePolicy } from "../policy/rules.ts";
import { SearchService } from "../search/service.ts";
import { AuditTopicSource, groupInstanceId } from "../sources/audit-topic/source.ts";
import { AuthorizerLogTailer } from "../sources/authorizer-log/tailer.ts";
import { KafkaProxySource } from "../sources/kafka-proxy/source.ts";
import { ensureDir, exists } from "../util/fs.ts";
import { lockDataDir } from "../util/lock.ts";
import { VIGIL_VERSION } from "../version.ts";
import { adminTokenPath, loadOrCreateAdminToken, TokenAuthenticator } from "./auth.ts";
import { buildHttp } from "./http.ts";
import { Metrics, type NamedProxyStatus } from "./metrics.ts";

export interface RunningVigil {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:7470 */
  url: string;
  pipeline: Pipeline;
  sealer: SealerType;
  close(): Promise<void>;
}

export type Logger = (msg: string) => void;

/** A source Vigil reads itself, started after the pipeline and stopped before it. */
interface RunningSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Reported under `sources` in `GET /v1/status`. */
  status(): object;
}

/**
 * One configured source. Its events carry `origin: {source: <kind>, token: <name>}`: the source's name plays the
 * part an HTTP client's token name does (which configured feed delivered the event); the log's path or the
 * topic's brokers do not fit `origin.address` (64 characters) — the config maps the name to them.
 * - kafka_authorizer_log: a tailer, its position in `<data-dir>/sources/<name>.json`.
 * - audit_topic: a consumer, its position the committed offsets of its consumer group; a static group member
 *   whose instance id is this log's origin and the source's name, stable across restarts.
 * - kafka_proxy: the Kafka audit proxy; no position (it sees requests as they pass), its events queued in memory
 *   and sealed in batches without the proxy waiting for them (failing open when the queue is full).
 */
function buildSource(
  config: SourceConfig,
  dataDir: string,
  pipeline: Pipeline,
  limits: VigilConfig["limits"],
  logOrigin: string,
  log: Logger,
  auditTopics: readonly string[],
  failurePolicy: VigilConfig["audit"]["failurePolicy"],
): RunningSource {
  if (config.type === "audit_topic") {
    return new AuditTopicSource({
      config,
      ingest: (events) => pipeline.ingest(events),
      limits,
      instanceId: groupInstanceId(logOrigin, config.name),
      log: (msg) => log(`source ${config.name}: ${msg}`),
    });
  }
  if (config.type === "kafka_proxy") {
    return new KafkaProxySource({
      config,
      ingest: (events) => pipeline.ingest(events),
      limits,
      log: (msg) => log(`source ${config.name}: ${msg}`),
      protectedTopics: auditTopics,
      failurePolicy,
    });
  }
  const origin = { source: "kafka-authorizer-log", token: config.name };
  return new AuthorizerLogTailer({
    path: config.path,
    stateFile: join(sourcesDir(dataDir), `${config.name}.json`),
    timeZone: config.timeZone,
    log: (msg) => log(`source ${config.name}: ${msg}`),
    deliver: async (events) => {
      const result = await pipeline.ingest(
        prepareEvents(
          events.map((value) => ({ value })),
          origin,
          limits,
        ),
      );
      // failure_policy permit drops events to spare a client waiting on its request; the log file can wait, so
      // the batch is delivered again (its sealed events are answered by event id, not sealed twice).
      if (result.dropped > 0) {
        throw new VigilError("queue_full", `${result.dropped} events dropped because the queue is full`, {
          retryable: true,
        });
      }
    },
  });
}

/** Where the sources keep their positions. */
function sourcesDir(dataDir: string): string {
  return join(dataDir, "sources");
}

/** Starts the checkpointer on its own thread with the log's origin and signing key (created on first start). */
async function startCheckpointer(
  config: VigilConfig,
  dataDir: string,
  origin: string,
  writer: JournalWriter,
  log: Logger,
): Promise<CheckpointerThread> {
  const settings = config.audit.integrity.checkpoints;
  const { signer, signerText, created } = await loadOrCreateCheckpointSigner(dataDir, origin);
  if (created) {
    log(
      `generated checkpoint signing key ${signer.name}+${signer.keyHash.toString(16).padStart(8, "0")} in ` +
        `${checkpointKeysDir(dataDir)}; give auditors its public key (vigil keys export-public)`,
    );
  }
  return CheckpointerThread.start(
    {
      journalDir: journalDir(dataDir),
      merkleDir: merkleDir(dataDir),
      checkpointsDir: checkpointsDir(dataDir),
      signerText,
      verifierTexts: (await loadCheckpointVerifiers(dataDir)).map((v) => v.text),
      origin,
      everyRecords: settings.everyRecords,
      everySeconds: settings.everySeconds,
      idleSeconds: settings.idleSeconds,
    },
    writer,
    log,
  );
}

/**
 * Opens (or, the first time, creates) the data directory's forward-secure chain, moved on to the epoch of the
 * record after `head`. The state file advances once the records before the new epoch are durable.
 */
async function openForwardSecure(
  dataDir: string,
  epochRecords: number | undefined,
  writer: JournalWriter,
  head: number,
  log: Logger,
): Promise<ForwardSecureSigner> {
  const opened = await openSealingChain(keysDir(dataDir), {
    epochRecords,
    nextSequence: head + 1,
    whenDurable: async (sequence) => {
      await writer.waitForDurable(sequence - 1);
      return writer.durableSequence >= sequence;
    },
    log,
  });
  const { signer, seedFile } = opened;
  if (opened.created) {
    const replaced = opened.replaced ? `; ${opened.replaced} stays for verifying the records it sealed` : "";
    log(
      `created forward-secure chain ${signer.chain} (the key evolves every ${signer.epochRecords} records)${replaced}. ` +
        `Its seed is ${seedFile} (mode 0600): move this seed off this machine; it is what auditors verify with; ` +
        "the server never needs it again",
    );
  } else if (opened.seedPresent) {
    log(
      `warning: the seed of forward-secure chain ${signer.chain} is still in ${seedFile}: move it off this machine, ` +
        "or whoever takes the machine can re-sign every epoch",
    );
  }
  return signer;
}

export async function startVigil(config: VigilConfig, log: Logger, env = process.env): Promise<RunningVigil> {
  const dataDir = resolve(config.dataDir);
  if (!(await ensureDir(dataDir)) && ((await stat(dataDir)).mode & 0o077) !== 0) {
    log(
      `warning: the data directory ${dataDir} is accessible to other users; chmod 700 it (it holds keys and tokens)`,
    );
  }
  const lock = await lockDataDir(dataDir);
  const cleanup: (() => Promise<void>)[] = [lock.release];
  try {
    const forwardSecure = config.audit.integrity.forwardSecure;
    let key: SigningKey | undefined;
    if (config.audit.integrity.keyEnvVar) {
      key = keyFromEnv(config.audit.integrity.keyEnvVar, env);
    } else if (forwardSecure === undefined) {
      const local = await loadOrCreateLocalKey(dataDir);
      key = local.key;
      if (local.created) {
        log(
          `generated signing key ${key.id} in ${keysDir(dataDir)} (mode 0600). It is for evaluation: ` +
            "for production set integrity.signing.key_env_var and keep the key outside the data directory",
        );
      }
    }

    const { writer, recovery } = await JournalWriter.open({
      dir: journalDir(dataDir),
      segmentBytes: config.journal.segmentBytes,
    });
    cleanup.unshift(() => writer.close());
    if (recovery.truncatedBytes > 0) {
      log(
        `journal recovery: cut a torn write of ${recovery.truncatedBytes} bytes (${recovery.droppedLines} unacknowledged ` +
          `records) from ${recovery.active?.path}; the chain continues at sequence ${recovery.head.sequence + 1}`,
      );
    }
    let sealingKey: SigningKey | KeySchedule;
    if (key !== undefined) {
      sealingKey = key;
    } else {
      // A forward-secure chain starts at the journal's head, known only now (see openForwardSecure).
      const signer = await openForwardSecure(
        dataDir,
        forwardSecure?.epochRecords,
        writer,
        recovery.head.sequence,
        log,
      );
      sealingKey = signer;
      // Let the last state file write finish: it waits for records the running journal makes durable on its own.
      cleanup.unshift(() => signer.settled());
    }
    const sealer = new Sealer(sealingKey, recovery.head);
    const recentIds = new RecentIds();
    await recentIds.loadFromJournal(journalDir(dataDir), recovery.head.sequence);

    // Before the destinations are built: their encodings name the log by it.
    const origin = await loadOrCreateOrigin(dataDir, config.audit.integrity.checkpoints.origin);
    const checkpointer = await startCheckpointer(config, dataDir, origin, writer, log);
    let checkpointerStopped = false;
    const stopCheckpointer = async () => {
      if (checkpointerStopped) return;
      checkpointerStopped = true;
      await checkpointer.stop();
    };
    cleanup.unshift(stopCheckpointer);

    const cursors = new CursorStore(dataDir);
    const consumers = config.audit.destinations.map(
      (d) =>
        new JournalConsumer(createDestination(d, { log, productVersion: VIGIL_VERSION, logOrigin: origin }), {
          journalDir: journalDir(dataDir),
          writer,
          cursors,
          log,
          delivery: d.delivery,
          checkpoints: checkpointer,
        }),
    );
    // The search index: one more consumer with its own cursor ("index"), kept apart from the destinations (it
    // is reported under `index` in /v1/status). Derived data: if it cannot open it is parked and logged, and
    // ingest goes on; `vigil reindex` rebuilds it.
    const indexConfig = config.audit.index;
    const indexDest = indexConfig.enabled ? new IndexDestination(indexConfig.path, "index") : undefined;
    // No index file (never built, or deleted to have it rebuilt): it is built from the start of the journal,
    // whatever its cursor says.
    if (indexDest && !(await exists(indexConfig.path)))
      await cursors.save({ name: indexDest.name, sequence: 0 });
    const indexConsumer =
      indexDest &&
      new JournalConsumer(indexDest, {
        journalDir: journalDir(dataDir),
        writer,
        cursors,
        log: (msg) =>
          log(
            msg.startsWith("destination index parked")
              ? `search index ${indexConfig.path} is off: ${msg}; rebuild it with vigil reindex (ingest is not affected)`
              : msg,
          ),
        delivery: INDEX_DELIVERY,
      });
    const indexStatus = () =>
      indexConsumer
        ? { enabled: true, path: indexConfig.path, ...indexConsumer.status() }
        : { enabled: false };
    const search =
      indexDest &&
      indexConsumer &&
      new SearchService(
        // A parked index is not searched: the consumer stopped trusting it (another chain's, a failed append).
        () => (indexConsumer.status().state === "parked" ? undefined : indexDest.index),
        () => {
          const st = indexConsumer.status();
          return st.state === "parked"
            ? `the search index is parked: ${st.lastError ?? "unknown error"}; rebuild it with vigil reindex`
            : `the search index is not open yet (${st.state}); retry shortly`;
        },
        journalDir(dataDir),
      );
    // Set once the sources are built (after the pipeline the metrics count for).
    let proxyStatuses: () => NamedProxyStatus[] = () => [];
    const metrics = new Metrics({
      durableSequence: () => writer.durableSequence,
      pendingEvents: () => writer.pendingEvents,
      groupCommits: () => writer.groupCommits,
      destinations: () => consumers.map((c) => c.status()),
      kafkaProxies: () => proxyStatuses(),
    });
    if (!config.audit.enabled) log("audit.enabled is false: every event is excluded by policy and counted");
    // kube-apiserver starts with a policy holding unknown fields and warns; so does Vigil, with the same file.
    for (const w of config.audit.kubernetesPolicy?.warnings ?? []) {
      log(`warning: ${config.audit.kubernetesPolicy?.source}: ${formatProblem(w)}`);
    }
    const pipeline = new Pipeline({
      sealer,
      writer,
      policy: compilePolicy(config.audit.policy, config.audit.enabled),
      redaction: compileRedaction(config.audit.redaction ?? {}),
      limits: config.limits,
      failurePolicy: config.audit.failurePolicy,
      queueMaxEvents: config.audit.queueMaxEvents,
      counters: metrics,
      recentIds,
      log,
    });

    for (const c of indexConsumer ? [...consumers, indexConsumer] : consumers) {
      await c.start();
      cleanup.unshift(() => c.stop());
    }
    // On shutdown the checkpointer signs its final checkpoint before the consumers stop, so they publish it.
    cleanup.unshift(stopCheckpointer);

    // After the pipeline and before HTTP; stopped before the checkpointer, so its final checkpoint covers every
    // event a source delivered.
    const sources = config.audit.sources.map((s) => ({
      config: s,
      tailer: buildSource(
        s,
        dataDir,
        pipeline,
        config.limits,
        origin,
        log,
        config.audit.policy.auditTopics ?? [],
        config.audit.failurePolicy,
      ),
    }));
    proxyStatuses = () =>
      sources.flatMap(({ config: s, tailer }) =>
        tailer instanceof KafkaProxySource ? [{ name: s.name, status: tailer.status() }] : [],
      );
    if (sources.length > 0) await ensureDir(sourcesDir(dataDir));
    for (const { tailer } of sources) {
      await tailer.start();
      cleanup.unshift(() => tailer.stop());
    }

    let tokens = config.server.tokens;
    if (tokens.length === 0) {
      const admin = await loadOrCreateAdminToken(dataDir);
      tokens = [{ name: "admin", token: admin.token, scopes: ["admin"] }];
      if (admin.created) {
        // The token itself goes only to an interactive terminal, never into the log stream.
        log(
          `generated an admin token in ${adminTokenPath(dataDir)} (mode 0600); the CLI reads it from there`,
        );
        if (process.stdout.isTTY) process.stdout.write(`admin token (shown once): ${admin.token}\n`);
      }
    }

    const http = buildHttp({
      pipeline,
      auth: new TokenAuthenticator(tokens),
      metrics,
      limits: config.limits,
      kubernetesPolicy: config.audit.kubernetesPolicy,
      maxBodyBytes: config.server.maxBodyBytes,
      destinations: () => consumers.map((c) => c.status()),
      checkpoints: checkpointer,
      consistency: (from, to) => consistencyProofJson(dataDir, from, to),
      search,
      status: () => ({
        chain: { sequence: sealer.head.sequence, key_id: sealer.keyId },
        journal: { durable_sequence: writer.durableSequence, pending_events: writer.pendingEvents },
        ready: pipeline.ready,
        checkpoints: {
          state: checkpointer.state,
          size: checkpointer.latest()?.size ?? 0,
          ...(checkpointer.error === undefined ? {} : { error: checkpointer.error }),
        },
        destinations: consumers.map((c) => c.status()),
        index: indexStatus(),
        sources: sources.map(({ config: s, tailer }) => ({ name: s.name, type: s.type, ...tailer.status() })),
      }),
      log,
    });
    const address = await http.listen({ host: config.server.listen.host, port: config.server.listen.port });
    cleanup.unshift(() => http.close());
    log(
      `listening on ${address}; data in ${dataDir}; chain at sequence ${sealer.head.sequence}; key ${sealer.keyId}`,
    );

    let closing: Promise<void> | undefined;
    return {
      url: address,
      pipeline,
      sealer,
      close() {
        closing ??= (async () => {
          for (const step of cleanup) await step();
        })();
        return closing;
      },
    };
  } catch (e) {
    for (const step of cleanup) await step().catch(() => {});
    throw e;
  }
}
