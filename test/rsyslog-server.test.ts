/**
 * The rsyslog the syslog destination's tests run (test/support/rsyslog.ts) is a real one that parses what those
 * tests send: RFC 5424 with structured data over UDP, and RFC 6587 octet-counted framing over TCP and TLS. These
 * tests also pin down what rsyslog does with what a destination must watch for: SD-PARAM escapes, a BOM, a
 * newline in MSG, a message over maxMessageSize and the largest UDP datagram.
 */
import { createSocket } from "node:dgram";
import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls, TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ReceivedSyslog, type Rsyslog, startRsyslog } from "./support/rsyslog.ts";

const SD = '[vigil@32473 seq="1"]';

/** An RFC 5424 message with facility 13 (log audit) and severity 6 (informational). */
function message(msgId: string, msg: string, sd = SD): string {
  return `<110>1 2025-01-02T03:04:05.678Z host.example vigil 4242 ${msgId} ${sd} ${msg}`;
}

/** RFC 6587 octet counting: "MSG-LEN SP SYSLOG-MSG", MSG-LEN in bytes. */
function frame(syslogMessage: string | Buffer): Buffer {
  const bytes = Buffer.from(syslogMessage);
  return Buffer.concat([Buffer.from(`${bytes.length} `), bytes]);
}

function sendUdp(port: number, datagram: string | Buffer): Promise<void> {
  const socket = createSocket("udp4");
  return new Promise<void>((resolveSend, reject) =>
    socket.send(datagram, port, "127.0.0.1", (err) => (err ? reject(err) : resolveSend())),
  ).finally(() => socket.close());
}

function tcp(rsyslog: Rsyslog): Socket {
  return connectTcp(rsyslog.tcp.port, rsyslog.tcp.host);
}

/** A TLS connection that trusts only the generated CA and verifies the certificate against "localhost". */
function tls(rsyslog: Rsyslog): Socket {
  return connectTls({
    host: rsyslog.tls.host,
    port: rsyslog.tls.port,
    ca: rsyslog.caPem,
    servername: "localhost",
  });
}

/** Writes the frames on the connection once it is up (TLS: handshake done), closes it and waits until closed. */
function sendStream(socket: Socket, frames: Buffer[]): Promise<void> {
  return new Promise((resolveSend, reject) => {
    socket.once("error", reject);
    socket.once("close", () => resolveSend());
    socket.once(socket instanceof TLSSocket ? "secureConnect" : "connect", () =>
      socket.end(Buffer.concat(frames)),
    );
  });
}

/** Waits for `count` messages after the first `before` and returns them by MSGID (order across inputs varies). */
async function next(rsyslog: Rsyslog, before: number, count: number): Promise<ReceivedSyslog[]> {
  const messages = (await rsyslog.waitFor(before + count)).slice(before);
  return messages.sort((a, b) => a.msgId.localeCompare(b.msgId));
}

describe("rsyslog test server", () => {
  let rsyslog: Rsyslog;
  beforeAll(async () => {
    rsyslog = await startRsyslog();
  });
  afterAll(() => rsyslog?.close());

  it("parses RFC 5424 with structured data over UDP, and octet-counted frames over TCP and TLS", async () => {
    const before = (await rsyslog.received()).length;
    await sendUdp(rsyslog.udp.port, message("M1", "over udp"));
    await sendStream(tcp(rsyslog), [
      frame(message("M2", "over tcp")),
      frame(message("M3", "line one\nline two")),
    ]);
    await sendStream(tls(rsyslog), [frame(message("M4", "over tls"))]);
    const received = await next(rsyslog, before, 4);
    const common = {
      facility: 13,
      severity: 6,
      hostname: "host.example",
      appName: "vigil",
      procId: "4242",
      structuredData: SD,
      timestamp: "2025-01-02T03:04:05.678Z",
    };
    expect(received).toEqual([
      { ...common, msgId: "M1", msg: "over udp", protocol: "udp", raw: message("M1", "over udp") },
      { ...common, msgId: "M2", msg: "over tcp", protocol: "tcp", raw: message("M2", "over tcp") },
      // rsyslog escapes control characters on receive (parser.escapeControlCharactersOnReceive, on by default):
      // a newline in MSG arrives as "#012", in MSG and in the raw message alike.
      {
        ...common,
        msgId: "M3",
        msg: "line one#012line two",
        protocol: "tcp",
        raw: message("M3", "line one#012line two"),
      },
      { ...common, msgId: "M4", msg: "over tls", protocol: "tls", raw: message("M4", "over tls") },
    ]);
  });

  it("keeps SD-PARAM escapes, UTF-8 and a BOM at the start of MSG as sent", async () => {
    const before = (await rsyslog.received()).length;
    const sd = String.raw`[vigil@32473 seq="2" note="quote \" backslash \\ bracket \] é"][origin ip="127.0.0.1"]`;
    const msg = "\uFEFFcafé";
    await sendStream(tls(rsyslog), [frame(message("ESC", msg, sd))]);
    const [received] = await next(rsyslog, before, 1);
    expect(received).toMatchObject({ structuredData: sd, msg, raw: message("ESC", msg, sd) });
  });

  it("accepts the largest UDP datagram IPv4 carries (65507 bytes) whole", async () => {
    const before = (await rsyslog.received()).length;
    const head = message("BIG", "");
    const datagram = head + "x".repeat(65_507 - head.length);
    await sendUdp(rsyslog.udp.port, datagram);
    const [received] = await next(rsyslog, before, 1);
    expect(received?.raw.length).toBe(65_507);
    expect(received?.raw).toBe(datagram);
    await expect(sendUdp(rsyslog.udp.port, `${datagram}x`)).rejects.toThrow(/EMSGSIZE/);
  });

  it("refuses connections after stop() and receives again on the same ports after restart()", async () => {
    const earlier = await rsyslog.received();
    await rsyslog.stop();
    await expect(sendStream(tcp(rsyslog), [frame(message("DOWN", "while stopped"))])).rejects.toThrow(
      /ECONNREFUSED/,
    );
    await rsyslog.restart();
    await sendUdp(rsyslog.udp.port, message("R1", "after restart"));
    await sendStream(tcp(rsyslog), [frame(message("R2", "after restart"))]);
    await sendStream(tls(rsyslog), [frame(message("R3", "after restart"))]);
    const received = await next(rsyslog, earlier.length, 3);
    expect(received.map((m) => [m.msgId, m.protocol])).toEqual([
      ["R1", "udp"],
      ["R2", "tcp"],
      ["R3", "tls"],
    ]);
    expect((await rsyslog.received()).slice(0, earlier.length)).toEqual(earlier);
  });
});

describe("rsyslog test server with maxMessageSize 1024", () => {
  let rsyslog: Rsyslog;
  beforeAll(async () => {
    rsyslog = await startRsyslog({ maxMessageSize: 1024 });
  });
  afterAll(() => rsyslog?.close());

  /** A message of exactly `size` bytes whose MSG ends in "END". */
  function oversize(msgId: string, size: number): string {
    const head = message(msgId, "");
    return `${head}${"x".repeat(size - head.length - 3)}END`;
  }

  it("cuts an oversize UDP datagram at maxMessageSize and drops the rest", async () => {
    const datagram = oversize("UDP", 2000);
    await sendUdp(rsyslog.udp.port, datagram);
    const [received] = await rsyslog.waitFor(1);
    expect(received).toMatchObject({ msgId: "UDP", raw: datagram.slice(0, 1024) });
  });

  it.each(["tcp", "tls"] as const)(
    "splits an oversize %s frame: the first maxMessageSize bytes, then the rest less one byte as a message of its own",
    async (protocol) => {
      const before = (await rsyslog.received()).length;
      const big = oversize("BIG", 2000);
      const after = message("AFTER", "the next frame");
      await sendStream(protocol === "tcp" ? tcp(rsyslog) : tls(rsyslog), [frame(big), frame(after)]);
      const received = (await rsyslog.waitFor(before + 3)).slice(before);
      expect(received.map((m) => m.raw)).toEqual([big.slice(0, 1024), big.slice(1025), after]);
      // The tail has no header: rsyslog makes it facility 1 (user), severity 5 (notice), from the peer's host.
      expect(received[1]).toMatchObject({
        protocol,
        facility: 1,
        severity: 5,
        msgId: "-",
        structuredData: "-",
      });
      expect(received[2]).toMatchObject({ protocol, msgId: "AFTER", msg: "the next frame" });
    },
  );
});
