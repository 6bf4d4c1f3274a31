/**
 * `vigil send`: sends events to a server through the SDK's AuditClient, one event given as an argument or NDJSON
 * from a file or stdin. The SDK is loaded only when the command runs.
 */
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { Command } from "commander";
import { DEFAULT_DATA_DIR } from "../../config/types.ts";
import type { AuditEvent, LogResult } from "../../sdk/index.ts";
import { CliExit, EXIT, resolveToken, serverUrl, usage } from "../common.ts";

/** Events sent but not yet answered before `send` waits for the oldest; keeps memory flat on big inputs. */
const WINDOW = 5000;

function parseEvent(text: string, where: string): AuditEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw usage(`${where}: malformed JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw usage(`${where}: an event must be a JSON object`);
  }
  return value as AuditEvent;
}

export function sendCommand(): Command {
  return new Command("send")
    .description(
      "send events to a Vigil server: one event as a JSON argument, or NDJSON from --file or stdin",
    )
    .argument("[event]", 'one event as JSON, e.g. \'{"event_type":"backup.started","actor":{"id":"alice"}}\'')
    .option("-f, --file <file>", "NDJSON file of events ('-' for stdin)")
    .option("--url <url>", "server URL (or $VIGIL_URL)", undefined)
    .option("--token <token>", "bearer token (or $VIGIL_TOKEN, or <data-dir>/admin.token)")
    .option("-d, --data-dir <dir>", "data directory holding admin.token", DEFAULT_DATA_DIR)
    .option("-q, --quiet", "print only failures")
    .action(
      async (
        eventArg: string | undefined,
        opts: { file?: string; url?: string; token?: string; dataDir: string; quiet?: boolean },
      ) => {
        if (eventArg !== undefined && opts.file !== undefined)
          throw usage("give an event argument or --file, not both");
        // Every line is parsed before anything is sent, so a malformed line refuses the whole input.
        const events: { event: AuditEvent; where: string }[] = [];
        if (eventArg !== undefined) {
          events.push({ event: parseEvent(eventArg, "argument"), where: "argument" });
        } else {
          const input =
            opts.file === undefined || opts.file === "-" ? process.stdin : createReadStream(opts.file);
          const name = opts.file && opts.file !== "-" ? opts.file : "stdin";
          let line = 0;
          for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
            line++;
            if (text.trim() !== "")
              events.push({ event: parseEvent(text, `${name}:${line}`), where: `${name}:${line}` });
          }
        }
        if (events.length === 0) throw usage("no events to send");
        const token = await resolveToken(opts.token, resolve(opts.dataDir));
        const { AuditClient } = await import("../../sdk/index.ts");
        const client = new AuditClient({ url: serverUrl(opts.url), token });
        let failed = 0;
        const outstanding: Promise<void>[] = [];
        try {
          for (const { event, where } of events) {
            outstanding.push(
              client.log(event).then(
                (r: LogResult) => {
                  if (!opts.quiet) process.stdout.write(`${JSON.stringify(r)}\n`);
                },
                (e: unknown) => {
                  failed++;
                  // The SDK's message already names the refused fields.
                  process.stderr.write(`vigil: ${where}: ${(e as Error).message}\n`);
                },
              ),
            );
            if (outstanding.length >= WINDOW) await outstanding.shift();
          }
          await Promise.all(outstanding);
        } finally {
          await client.close();
        }
        if (failed > 0)
          throw new CliExit(EXIT.problem, `${failed} of ${events.length} events were not recorded`);
      },
    );
}
