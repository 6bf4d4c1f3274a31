/**
 * `vigil import --format kubernetes <file>`: a Kubernetes log-backend file (one Event per line, or an EventList
 * or array of Events) sent to the server's `POST /v1/k8s/audit` as EventLists, so the server's audit policy
 * decides what is recorded exactly as for the webhook. The whole file is parsed before anything is sent: a
 * malformed line refuses the import (exit 2) naming file:line. The Kubernetes decoder is loaded only when the
 * command runs.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import { formatProblem, ValidationError } from "../../errors.ts";
import { CliExit, EXIT, resolveToken, serverUrl, usage } from "../common.ts";

/**
 * Items per EventList: kube-apiserver's webhook backend sends up to 400 by default (--audit-webhook-batch-max-size);
 * 500 stays far below the server's body limit even with request and response bodies.
 */
const BATCH_ITEMS = 500;
/** A server that stays full this many times in a row for one batch ends the import. */
const MAX_ATTEMPTS = 30;

type Json = Record<string, unknown>;
type Decode = typeof import("../../formats/kubernetes/decode.ts").decodeKubernetes;

interface Item {
  value: Json;
  /** file:line (or file:line item n) for messages. */
  where: string;
}

interface Answer {
  accepted: number;
  excluded: number;
  dropped: number;
}

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The Events one JSON value holds: itself, an EventList's items, or an array's elements. */
function itemsOf(value: unknown, where: string, decode: Decode): Item[] {
  const list = Array.isArray(value)
    ? value
    : isRecord(value) && value.kind === "EventList" && Array.isArray(value.items)
      ? value.items
      : undefined;
  if (list === undefined) {
    if (!isRecord(value)) throw usage(`${where}: an audit event must be a JSON object`);
    return [checked({ value, where }, decode)];
  }
  // Items of a list carry no type of their own; give each the list's, as the log backend writes them.
  const typeMeta =
    isRecord(value) && typeof value.apiVersion === "string" ? { apiVersion: value.apiVersion } : {};
  return list.map((item: unknown, i) => {
    if (!isRecord(item)) throw usage(`${where} item ${i}: an audit event must be a JSON object`);
    return checked({ value: { kind: "Event", ...typeMeta, ...item }, where: `${where} item ${i}` }, decode);
  });
}

/**
 * Refuses, before anything is sent, an item the server would refuse: it must decode as a Kubernetes audit Event
 * (a GKE LogEntry or another wrapper does not).
 */
function checked(item: Item, decode: Decode): Item {
  try {
    decode(item.value);
  } catch (e) {
    const problems =
      e instanceof ValidationError ? e.problems.map(formatProblem).join("; ") : (e as Error).message;
    throw usage(`${item.where}: not a Kubernetes audit event: ${problems}`);
  }
  return item;
}

/** Parses a whole-file JSON value first (an EventList or array may span lines), else one value per line. */
export async function parseKubernetesFile(text: string, name: string): Promise<Item[]> {
  const { decodeKubernetes } = await import("../../formats/kubernetes/decode.ts");
  try {
    return itemsOf(JSON.parse(text), name, decodeKubernetes);
  } catch (e) {
    if (e instanceof CliExit) throw e;
  }
  const items: Item[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${name}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw usage(`${where}: malformed JSON: ${(e as Error).message}`);
    }
    items.push(...itemsOf(value, where, decodeKubernetes));
  });
  return items;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Posts one EventList; waits and retries while the server answers 503 (its queue is full or it is starting). */
async function postBatch(url: string, token: string, batch: Item[]): Promise<Answer> {
  const body = JSON.stringify({
    kind: "EventList",
    apiVersion: "audit.k8s.io/v1",
    items: batch.map((i) => i.value),
  });
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${url}/v1/k8s/audit`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    });
    const text = await res.text();
    if (res.ok) return JSON.parse(text) as Answer;
    if (res.status === 503 && attempt < MAX_ATTEMPTS) {
      const seconds = Number(res.headers.get("retry-after"));
      await sleep(Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000);
      continue;
    }
    let detail = text;
    try {
      detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
    } catch {
      // not problem+json: report the body as it came
    }
    // The server names items by their index in this batch; say where they came from.
    const named = detail.replace(/items\[(\d+)\]/g, (m, i: string) => batch[Number(i)]?.where ?? m);
    throw new CliExit(EXIT.problem, `${batch[0]?.where}…: ${res.status} ${named}`);
  }
}

export function importCommand(): Command {
  return new Command("import")
    .description(
      "send a Kubernetes audit log-backend file to a Vigil server, which records it under its audit policy",
    )
    .argument("<file>", "one audit.k8s.io Event per line, or an EventList or array of Events")
    .addOption(
      new Option("--format <format>", "the file's format").choices(["kubernetes"]).makeOptionMandatory(),
    )
    .option("--url <url>", "server URL (or $VIGIL_URL)", undefined)
    .option("--token <token>", "bearer token (or $VIGIL_TOKEN, or <data-dir>/admin.token)")
    .option("-d, --data-dir <dir>", "data directory holding admin.token", DEFAULT_DATA_DIR)
    .action(async (file: string, opts: { url?: string; token?: string; dataDir: string }) => {
      const items = await parseKubernetesFile(await readFile(file, "utf8"), file);
      if (items.length === 0) throw usage(`${file}: no audit events`);
      const token = await resolveToken(opts.token, resolve(opts.dataDir));
      const url = serverUrl(opts.url);
      const total: Answer = { accepted: 0, excluded: 0, dropped: 0 };
      for (let start = 0; start < items.length; start += BATCH_ITEMS) {
        const answer = await postBatch(url, token, items.slice(start, start + BATCH_ITEMS));
        total.accepted += answer.accepted;
        total.excluded += answer.excluded;
        total.dropped += answer.dropped;
      }
      const dropped =
        total.dropped > 0 ? `, dropped ${total.dropped} (queue full, failure_policy permit)` : "";
      process.stdout.write(
        `${file}: sent ${items.length}, recorded ${total.accepted}, excluded ${total.excluded}${dropped}\n`,
      );
      if (total.dropped > 0) throw new CliExit(EXIT.problem, `${total.dropped} events were not recorded`);
    });
}
