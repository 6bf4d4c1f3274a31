/**
 * Starts a real rsyslogd (Debian's rsyslog and rsyslog-gnutls, installed by scripts/deps/rsyslog) for the
 * syslog destination's integration tests: RFC 5424 over UDP, TCP and TLS (imtcp with the gtls stream driver),
 * each on its own free loopback port, writing every message it parsed as one JSON line to a file the tests read.
 * The process runs in the foreground with its own config, pid file and work directory in a temp dir, so it
 * shares nothing with a system rsyslog. What rsyslog does is left at its defaults where the destination meets
 * them: control characters in a message (a newline in MSG too) arrive escaped as `#ooo` (`#012`), a message
 * longer than maxMessageSize is truncated (UDP) or split in two (TCP, TLS), and TLS is 1.2 only.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { access, constants, open, readFile, rm, writeFile } from "node:fs/promises";
import { connect as connectTcp } from "node:net";
import { join } from "node:path";
import { connect as connectTls } from "node:tls";
import { promisify } from "node:util";
import { freePorts } from "./ports.ts";
import { tempDir } from "./vigil-process.ts";

/** One message as rsyslog parsed it, from the JSON line its omfile action wrote. */
export interface ReceivedSyslog {
  /** the message exactly as received, after framing was removed (rsyslog's %rawmsg%) */
  raw: string;
  facility: number;
  severity: number;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** RFC 5424 STRUCTURED-DATA as rsyslog parsed it (%structured-data%), escapes kept as sent */
  structuredData: string;
  msg: string;
  protocol: "udp" | "tcp" | "tls";
  /** TIMESTAMP as sent (RFC 3339, fraction and offset kept), or the time received when it was "-" */
  timestamp: string;
}

/** An rsyslogd started by `startRsyslog`: where it listens, what it received, and its lifecycle. */
export interface Rsyslog {
  udp: { host: string; port: number };
  tcp: { host: string; port: number };
  tls: { host: string; port: number };
  /** PEM of the generated CA that signed rsyslog's server certificate (for localhost / 127.0.0.1) */
  caPem: string;
  /** every message received so far, in arrival order per protocol */
  received(): Promise<ReceivedSyslog[]>;
  /** waits until at least n messages were received (polls; clear error with what was received on timeout) */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedSyslog[]>;
  /** stops the process and keeps config, ports and what was received (outage tests) */
  stop(): Promise<void>;
  /** starts again on the same ports (stopping first if it runs) and waits until it accepts messages */
  restart(): Promise<void>;
  /** stops and deletes everything */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const PROTOCOLS = ["udp", "tcp", "tls"] as const;
type Protocol = (typeof PROTOCOLS)[number];
const PROBE_MSGID = "VIGIL-PROBE";
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

const run = promisify(execFile);

/** The rsyslogd binary: on PATH or in the sbin directories a non-root PATH lacks. */
async function findRsyslogd(): Promise<string> {
  const dirs = [...(process.env.PATH ?? "").split(":").filter((d) => d !== ""), "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    const path = join(dir, "rsyslogd");
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    "rsyslogd is not installed: run scripts/test-deps (it installs rsyslog and rsyslog-gnutls)",
  );
}

/** A P-256 CA and a server certificate it signed for localhost and 127.0.0.1, valid for two days. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca.key");
  const cert = join(dir, "server.pem");
  const key = join(dir, "server.key");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", caKey, "-out", ca, "-subj", "/CN=Vigil test CA"]);
  const server = ["-CA", ca, "-CAkey", caKey, "-subj", "/CN=localhost"];
  const extensions = [
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "basicConstraints=critical,CA:FALSE",
    "extendedKeyUsage=serverAuth",
  ].flatMap((e) => ["-addext", e]);
  await run("openssl", ["req", "-x509", ...ec, ...server, ...extensions, "-keyout", key, "-out", cert]);
  return { ca, cert, key };
}

/** The RainerScript config: three inputs into one ruleset that writes JSON lines, probes to their own file. */
function config(o: {
  workDir: string;
  maxMessageSize: number;
  ports: Record<Protocol, number>;
  tls: { ca: string; cert: string; key: string };
  receivedFile: string;
  probeFile: string;
}): string {
  const q = (s: string) => JSON.stringify(s);
  const field = (outname: string, name: string, extra = "") =>
    `  property(outname=${q(outname)} name=${q(name)} format="jsonf"${extra})`;
  const omfile = (file: string) =>
    `action(type="omfile" file=${q(file)} template="vigilJson" asyncWriting="off" flushOnTXEnd="on")`;
  return `global(workDirectory=${q(o.workDir)} maxMessageSize="${o.maxMessageSize}")
module(load="imudp")
module(load="imtcp")
template(name="vigilJson" type="list" option.jsonf="on") {
${[
  field("raw", "rawmsg"),
  field("facility", "syslogfacility", ' datatype="number"'),
  field("severity", "syslogseverity", ' datatype="number"'),
  field("hostname", "hostname"),
  field("appName", "app-name"),
  field("procId", "procid"),
  field("msgId", "msgid"),
  field("structuredData", "structured-data"),
  field("msg", "msg"),
  field("protocol", "inputname"),
  field("timestamp", "timereported", ' dateFormat="rfc3339"'),
].join("\n")}
}
ruleset(name="vigil") {
  if $msgid == ${q(PROBE_MSGID)} then {
    ${omfile(o.probeFile)}
    stop
  }
  ${omfile(o.receivedFile)}
}
input(type="imudp" name="udp" address="${HOST}" port="${o.ports.udp}" ruleset="vigil")
input(type="imtcp" name="tcp" address="${HOST}" port="${o.ports.tcp}" ruleset="vigil")
input(type="imtcp" name="tls" address="${HOST}" port="${o.ports.tls}" ruleset="vigil"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"
  streamDriver.CAFile=${q(o.tls.ca)} streamDriver.CertFile=${q(o.tls.cert)} streamDriver.KeyFile=${q(o.tls.key)})
`;
}

async function readJsonLines(path: string): Promise<ReceivedSyslog[]> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return "";
    throw e;
  });
  // A last line without its newline is still being written.
  return text
    .split("\n")
    .slice(0, -1)
    .map((line) => JSON.parse(line) as ReceivedSyslog);
}

/** Sends one message (octet-counted on TCP and TLS) on a fresh socket; settles, never rejects, when done or failed. */
function sendProbe(protocol: Protocol, port: number, caPem: string, message: string): Promise<void> {
  if (protocol === "udp") {
    const socket = createSocket("udp4");
    return new Promise((resolveSend) =>
      socket.send(message, port, HOST, () => socket.close(() => resolveSend())),
    );
  }
  const socket =
    protocol === "tcp"
      ? connectTcp(port, HOST)
      : connectTls({ host: HOST, port, ca: caPem, servername: "localhost" });
  return new Promise((resolveSend) => {
    socket.setTimeout(1_000, () => socket.destroy());
    socket.once(protocol === "tcp" ? "connect" : "secureConnect", () =>
      socket.end(`${Buffer.byteLength(message)} ${message}`),
    );
    socket.once("error", () => resolveSend());
    socket.once("close", () => resolveSend());
  });
}

/**
 * Starts rsyslogd with UDP, TCP and TLS inputs on free loopback ports and waits until a probe message sent over
 * each of them came out in its output. Call `close()` when done; rsyslogd is killed when the test process ends
 * anyway.
 */
export async function startRsyslog(opts: { maxMessageSize?: number } = {}): Promise<Rsyslog> {
  const rsyslogd = await findRsyslogd();
  const dir = await tempDir("vigil-rsyslog-");
  const [udpPort = 0, tcpPort = 0, tlsPort = 0] = await freePorts(3);
  const ports = { udp: udpPort, tcp: tcpPort, tls: tlsPort };
  const tls = await makeCertificates(dir);
  const caPem = await readFile(tls.ca, "utf8");
  const confFile = join(dir, "rsyslog.conf");
  const pidFile = join(dir, "rsyslogd.pid");
  const receivedFile = join(dir, "received.jsonl");
  const probeFile = join(dir, "probes.jsonl");
  const maxMessageSize = opts.maxMessageSize ?? 64 * 1024;
  await writeFile(confFile, config({ workDir: dir, maxMessageSize, ports, tls, receivedFile, probeFile }));

  const logFile = join(dir, "rsyslogd.log");
  const output = () => readFile(logFile, "utf8").catch(() => "");
  let child: { proc: ChildProcess; exited: Promise<void> } | undefined;
  let starts = 0;

  const launch = async () => {
    starts += 1;
    await rm(pidFile, { force: true });
    const log = await open(logFile, "a");
    // setpriv has the kernel kill rsyslogd when the test process ends, however it ends.
    const proc = spawn("setpriv", ["--pdeathsig", "KILL", rsyslogd, "-n", "-f", confFile, "-i", pidFile], {
      stdio: ["ignore", log.fd, log.fd],
    });
    proc.unref();
    const state: { ended?: string } = {};
    const exited = new Promise<void>((resolveExit) => {
      proc.once("exit", (code, signal) => {
        state.ended = `rsyslogd exited with ${code ?? signal} while starting`;
        resolveExit();
      });
      proc.once("error", (e) => {
        state.ended = `could not start rsyslogd (${e.message})`;
        resolveExit();
      });
    });
    child = { proc, exited };
    await log.close();
    const token = `ready-${starts}`;
    const message = `<134>1 - localhost vigil - ${PROBE_MSGID} - ${token}`;
    const pending = new Set<Protocol>(PROTOCOLS);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (pending.size > 0) {
      if (state.ended !== undefined) throw new Error(`${state.ended}:\n${await output()}`);
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        await exited;
        const protocols = [...pending].join(", ");
        throw new Error(
          `rsyslogd did not accept messages over ${protocols} within ${START_TIMEOUT_MS} ms:\n${await output()}`,
        );
      }
      await Promise.all([...pending].map((p) => sendProbe(p, ports[p], caPem, message)));
      for (const m of await readJsonLines(probeFile)) if (m.msg === token) pending.delete(m.protocol);
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async () => {
    if (child === undefined) return;
    const { proc, exited } = child;
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
    proc.kill("SIGTERM");
    await exited;
    clearTimeout(timer);
  };

  await launch().catch(async (e: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw e;
  });

  const received = () => readJsonLines(receivedFile);
  return {
    udp: { host: HOST, port: ports.udp },
    tcp: { host: HOST, port: ports.tcp },
    tls: { host: HOST, port: ports.tls },
    caPem,
    received,
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const messages = await received();
        if (messages.length >= n) return messages;
        if (Date.now() > deadline) {
          throw new Error(
            `rsyslog received ${messages.length} of ${n} messages within ${timeoutMs} ms: ` +
              `${JSON.stringify(messages, null, 2)}\nrsyslogd output:\n${await output()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop,
    async restart() {
      await stop();
      await launch();
    },
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
