/**
 * Starts moto's standalone server (`moto_server`, installed by scripts/deps/moto into .tools/moto-venv) as the
 * S3 and CloudWatch Logs that the destinations' integration tests talk to with the real AWS SDK. Clients reach
 * it through a small TCP relay in the test process, so an outage can be simulated without losing moto's state:
 *
 * - moto keeps everything in memory. `stop()` + `restart()` is a real restart and loses every bucket, object
 *   and log group. (moto's request recorder, `MOTO_ENABLE_RECORDING` and `/moto-api/recorder/replay-recording`,
 *   cannot restore it faithfully: replayed objects get new version ids, deletes of a given version replay as
 *   no-ops, and timestamps are taken anew; moto has no other persistence.)
 * - `pause()` is an outage that keeps the state: the relay stops listening and drops its open connections, so
 *   clients get ECONNREFUSED (a request in flight, or one sent on a kept-alive connection before the client
 *   saw it close, fails with ECONNRESET, EPIPE or "socket hang up" instead). `pause("hang")` instead freezes
 *   moto (SIGSTOP): connections are accepted and requests sent, but nothing answers until `resume()`, so a
 *   client waits for its own timeout, and a request it gave up on may still take effect after `resume()`.
 *
 * The AWS SDK v3 needs no AWS environment variables or ~/.aws files for these clients:
 * `new S3Client({ endpoint, region, credentials, forcePathStyle: true })` and
 * `new CloudWatchLogsClient({ endpoint, region, credentials })`. With credentials and region given it makes no
 * instance metadata (IMDS) lookups, except with `defaults_mode = auto` (AWS_DEFAULTS_MODE or ~/.aws/config),
 * where it asks IMDS for the region once: `env` below turns that off for the processes a test starts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { freePorts } from "./ports.ts";
import { ROOT } from "./vigil-process.ts";

const HOST = "127.0.0.1";
const MOTO_SERVER = join(ROOT, ".tools/moto-venv/bin/moto_server");
const READY_TIMEOUT_MS = 30_000;
/** moto's request log goes to stderr; only its end is kept for error messages. */
const STDERR_KEPT = 20_000;

/** How `pause()` takes moto away: connections refused (a server that is down) or left unanswered (a hung one). */
export type Outage = "refuse" | "hang";

export interface Moto {
  /** `http://127.0.0.1:PORT`, the relay in front of moto: the endpoint for every AWS SDK client. */
  endpoint: string;
  /** `us-east-1`. */
  region: string;
  /** Static test credentials for AWS SDK clients; moto checks no signature. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /**
   * The same as environment variables, for a process a test starts (`startVigil({ env: moto.env })`): the
   * credentials, region and endpoint (AWS_ENDPOINT_URL, which every SDK client without an endpoint of its own
   * uses), and AWS_EC2_METADATA_DISABLED so that nothing asks the instance metadata service.
   */
  env: Record<string, string>;
  /** An outage that keeps moto's state, until `resume()`: see the module comment for what clients see. */
  pause(outage?: Outage): Promise<void>;
  /** Ends the outage; resolves once requests are answered again. */
  resume(): Promise<void>;
  /** Kills moto (its state is lost) and refuses connections until `restart()`. */
  stop(): Promise<void>;
  /** Starts moto afresh (stopping it first if it runs), empty, on the same port; resolves once it answers. */
  restart(): Promise<void>;
  /** Stops moto and the relay for good. */
  close(): Promise<void>;
}

/** Starts moto and the relay on free loopback ports and waits until moto answers HTTP. */
export async function startMoto(): Promise<Moto> {
  if (!existsSync(MOTO_SERVER)) {
    throw new Error(`moto is not installed (${MOTO_SERVER} is missing): run scripts/test-deps`);
  }
  const [relayPort, motoPort] = (await freePorts(2)) as [number, number];
  const relay = new Relay(relayPort, motoPort);
  let server: MotoServer | undefined = await MotoServer.start(motoPort);
  let hung = false;
  await relay.open();
  const killOnExit = () => server?.child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const endpoint = `http://${HOST}:${relayPort}`;
  const credentials = { accessKeyId: "vigil-test", secretAccessKey: "vigil-test-secret" };
  const moto: Moto = {
    endpoint,
    region: "us-east-1",
    credentials,
    env: {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL: endpoint,
      AWS_EC2_METADATA_DISABLED: "true",
    },
    async pause(outage = "refuse") {
      if (outage === "refuse") await relay.close();
      else if (server && !hung) {
        server.child.kill("SIGSTOP");
        hung = true;
      }
    },
    async resume() {
      if (hung) {
        server?.child.kill("SIGCONT");
        hung = false;
        await server?.answering();
      }
      await relay.open();
    },
    async stop() {
      await relay.close();
      await server?.kill();
      server = undefined;
      hung = false;
    },
    async restart() {
      await moto.stop();
      server = await MotoServer.start(motoPort);
      await relay.open();
    },
    async close() {
      await moto.stop();
      process.off("exit", killOnExit);
    },
  };
  return moto;
}

/** One `moto_server` process; its stderr (moto's request log) is kept for error messages. */
class MotoServer {
  private stderr = "";
  private exitCode: string | undefined;
  private readonly exited: Promise<void>;
  private readonly port: number;
  readonly child: ChildProcess;

  private constructor(port: number) {
    this.port = port;
    this.child = spawn(MOTO_SERVER, ["-H", HOST, "-p", String(port)], {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-STDERR_KEPT);
    });
    this.exited = new Promise((resolve) =>
      this.child.once("close", (code, signal) => {
        this.exitCode = String(code ?? signal);
        resolve();
      }),
    );
  }

  /** Spawns moto on `port` and waits until it answers; kills it and fails if it does not within 30 s. */
  static async start(port: number): Promise<MotoServer> {
    const server = new MotoServer(port);
    try {
      await server.answering();
    } catch (err) {
      await server.kill();
      throw err;
    }
    return server;
  }

  /** Polls `GET /moto-api/` (moto's dashboard) until it answers 200. */
  async answering(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.exitCode !== undefined) {
        throw new Error(
          `moto_server exited (${this.exitCode}) before answering on port ${this.port}:\n${this.stderr}`,
        );
      }
      const status = await fetch(`http://${HOST}:${this.port}/moto-api/`, {
        signal: AbortSignal.timeout(1_000),
      }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.status;
        },
        () => 0,
      );
      if (status === 200) return;
      if (Date.now() > deadline) {
        throw new Error(
          `moto_server did not answer GET /moto-api/ on port ${this.port} within ${READY_TIMEOUT_MS} ms:\n${this.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL (moto has nothing on disk to flush; this works on a SIGSTOPped process too) and wait for exit. */
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }
}

/**
 * A TCP relay from a fixed loopback port to moto's. Closing it stops the listener and drops every connection
 * through it; opening it listens on the same port again.
 */
class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private readonly port: number;
  private readonly upstreamPort: number;

  constructor(port: number, upstreamPort: number) {
    this.port = port;
    this.upstreamPort = upstreamPort;
  }

  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.relay(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: HOST, port: this.port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await closed;
  }

  private relay(client: Socket): void {
    const upstream = netConnect({ host: HOST, port: this.upstreamPort });
    this.sockets.add(client).add(upstream);
    const drop = () => {
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) socket.on("error", drop).once("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
