/**
 * A real Apache Kafka broker for integration tests: one KRaft node (broker and controller in one JVM) run from the
 * jars scripts/deps/kafka installs into .tools/kafka, on free loopback ports, with a PLAINTEXT listener and a
 * SASL_SSL listener (SCRAM-SHA-256 and SCRAM-SHA-512, certificate signed by a CA generated for this broker).
 * Its config, certificates, data and log (`kafka.log`) live in a fresh temp dir that stop() and restart() keep.
 * With `authorizer`, ACLs are enforced (KRaft's StandardAuthorizer): the PLAINTEXT and controller listeners'
 * ANONYMOUS and the SCRAM user are super users, and a second SCRAM user with no ACLs is denied everything until
 * an ACL allows it.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePorts } from "./ports.ts";
import { ROOT, tempDir } from "./vigil-process.ts";

const KAFKA_HOME = join(ROOT, ".tools/kafka");
const CONFIG_DIR = join(ROOT, "test/servers/kafka");
/** What the broker logs once its listeners serve requests. */
const STARTED = "Kafka Server started";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
/**
 * A small heap and the serial collector, because two test files may each run a broker on a two-core machine; only
 * the quick JIT compiler, which starts the broker about a quarter faster.
 */
const JVM_OPTS = [
  "-Xms256m",
  "-Xmx512m",
  "-XX:+UseSerialGC",
  "-XX:TieredStopAtLevel=1",
  "-Djava.awt.headless=true",
  `-Dlog4j2.configurationFile=${join(CONFIG_DIR, "log4j2.xml")}`,
  "-cp",
  `${join(KAFKA_HOME, "libs")}/*`,
];

const run = promisify(execFile);

export interface KafkaBroker {
  /** host:port of the PLAINTEXT listener */
  plaintext: string;
  /** host:port of the SASL_SSL listener (SCRAM-SHA-256 and SCRAM-SHA-512 users); empty without `sasl` */
  saslSsl: string;
  /** PEM of the generated CA that signed the broker's certificate; empty without `sasl` */
  caPem: string;
  /** a SCRAM user valid for both SCRAM-SHA-256 and SCRAM-SHA-512; a super user with `authorizer` */
  username: string;
  password: string;
  /**
   * with `relay`: a PLAINTEXT listener (`listener`) that advertises another address (`advertised`), where a plain
   * TCP relay is to forward to it: clients that bootstrap at the relay stay behind it (bench/proxy.ts's floor)
   */
  relay?: { listener: string; advertised: string };
  /** with `authorizer`: a second SCRAM user (both mechanisms), no super user, with no ACLs to begin with */
  unprivileged?: ScramUser;
  /** stops the broker process (SIGTERM, then SIGKILL after a timeout), keeping its data dir and ports */
  stop(): Promise<void>;
  /** starts it again on the same ports and data (for outage tests) and waits until it serves requests */
  restart(): Promise<void>;
  /** stops and deletes everything */
  close(): Promise<void>;
}

export interface ScramUser {
  username: string;
  password: string;
}

/**
 * Formats a new single-node cluster in a temp dir, starts it and waits until it serves requests (at most a
 * minute). `sasl: false` leaves out the SASL_SSL listener and the certificates; `authorizer: true` (which needs
 * `sasl`) enforces ACLs and adds the unprivileged user.
 */
export async function startKafka(
  opts: { sasl?: boolean; authorizer?: boolean; relay?: boolean } = {},
): Promise<KafkaBroker> {
  const sasl = opts.sasl ?? true;
  const authorizer = opts.authorizer ?? false;
  if (authorizer && !sasl)
    throw new Error("startKafka: authorizer needs sasl (its users log in over SASL_SSL)");
  await checkInstalled();
  const dir = await tempDir("vigil-kafka-");
  const remove = () => rm(dir, { recursive: true, force: true });
  let broker: RunningBroker | undefined;
  const stop = async () => {
    const stopping = broker;
    broker = undefined;
    await stopping?.stop();
  };
  try {
    const cluster = await createCluster(dir, sasl, authorizer, opts.relay ?? false);
    const start = async () => {
      broker = await launch(dir, cluster.config);
    };
    await start();
    return {
      ...cluster.client,
      stop,
      async restart() {
        await stop();
        await start();
      },
      async close() {
        await stop();
        await remove();
      },
    };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Writes the config and the certificates of a new cluster in `dir` and formats its storage. */
async function createCluster(
  dir: string,
  sasl: boolean,
  authorizer: boolean,
  relayed: boolean,
): Promise<{ config: string; client: Omit<KafkaBroker, "stop" | "restart" | "close"> }> {
  const [controllerPort, plaintextPort, saslSslPort, relayPort, relayedPort] = await freePorts(5);
  const plaintext = `127.0.0.1:${plaintextPort}`;
  const saslSsl = sasl ? `127.0.0.1:${saslSslPort}` : "";
  const relay = relayed
    ? { listener: `127.0.0.1:${relayPort}`, advertised: `127.0.0.1:${relayedPort}` }
    : undefined;
  const listeners = [`PLAINTEXT://${plaintext}`, ...(sasl ? [`SASL_SSL://${saslSsl}`] : [])];
  const relayListener = relay
    ? {
        listener: `,RELAY://${relay.listener}`,
        advertised: `,RELAY://${relay.advertised}`,
        map: "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,RELAY:PLAINTEXT\n",
      }
    : { listener: "", advertised: "", map: "" };
  const username = "vigil";
  const password = randomBytes(12).toString("hex");
  const unprivileged = authorizer
    ? { username: "alice", password: randomBytes(12).toString("hex") }
    : undefined;
  // The listeners without SASL (inter-broker and controller included) are ANONYMOUS: super users, as is vigil.
  const acls = authorizer
    ? `authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:${username}
allow.everyone.if.no.acl.found=false
`
    : "";
  const config = join(dir, "server.properties");
  await writeFile(
    config,
    `${await readFile(join(CONFIG_DIR, "server.properties"), "utf8")}
listeners=${[...listeners, `CONTROLLER://127.0.0.1:${controllerPort}`].join(",")}${relayListener.listener}
advertised.listeners=${listeners.join(",")}${relayListener.advertised}
${relayListener.map}
controller.quorum.voters=1@127.0.0.1:${controllerPort}
log.dirs=${join(dir, "data")}
listener.name.sasl_ssl.ssl.keystore.location=${join(dir, "broker-keystore.pem")}
${acls}`,
  );
  const caPem = sasl ? await generateCertificates(dir) : "";
  const scramUsers = sasl ? [{ username, password }, ...(unprivileged ? [unprivileged] : [])] : [];
  await format(config, scramUsers);
  return {
    config,
    client: {
      plaintext,
      saslSsl,
      caPem,
      username,
      password,
      ...(unprivileged ? { unprivileged } : {}),
      ...(relay ? { relay } : {}),
    },
  };
}

/** Fails unless scripts/deps/kafka installed the version test/servers/kafka/pom.xml names. */
async function checkInstalled(): Promise<void> {
  const pom = await readFile(join(CONFIG_DIR, "pom.xml"), "utf8");
  const wanted = /<kafka\.version>(.+)<\/kafka\.version>/.exec(pom)?.[1];
  const installed = await readFile(join(KAFKA_HOME, "installed"), "utf8").catch(() => "");
  if (installed.split(" ")[0] !== wanted) {
    throw new Error(`Apache Kafka ${wanted} is not installed in ${KAFKA_HOME}: run scripts/test-deps`);
  }
}

/** A CA and a certificate it signs for localhost and 127.0.0.1; returns the CA's PEM. */
async function generateCertificates(dir: string): Promise<string> {
  const at = (name: string) => join(dir, name);
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...newKey,
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.pem"),
    "-days",
    "7",
    "-subj",
    "/CN=Vigil test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ]);
  await run("openssl", [
    "req",
    ...newKey,
    "-keyout",
    at("broker.key"),
    "-out",
    at("broker.csr"),
    "-subj",
    "/CN=localhost",
  ]);
  await writeFile(
    at("broker.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    at("broker.csr"),
    "-CA",
    at("ca.pem"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-days",
    "7",
    "-extfile",
    at("broker.ext"),
    "-out",
    at("broker.pem"),
  ]);
  // Kafka's PEM key store: the private key (unencrypted PKCS#8), then the certificate chain.
  const [key, cert] = await Promise.all([
    readFile(at("broker.key"), "utf8"),
    readFile(at("broker.pem"), "utf8"),
  ]);
  await writeFile(at("broker-keystore.pem"), key + cert);
  return readFile(at("ca.pem"), "utf8");
}

/** Formats the KRaft metadata and data dir of a new cluster, with its SCRAM users. */
async function format(config: string, scramUsers: ScramUser[]): Promise<void> {
  const scram = scramUsers.flatMap((user) =>
    ["SCRAM-SHA-256", "SCRAM-SHA-512"].flatMap((m) => [
      "--add-scram",
      `${m}=[name=${user.username},password=${user.password}]`,
    ]),
  );
  // `=` keeps a generated ID that starts with "-" from reading as an option.
  const clusterId = `--cluster-id=${randomBytes(16).toString("base64url")}`;
  try {
    await run("java", [
      ...JVM_OPTS,
      "kafka.tools.StorageTool",
      "format",
      clusterId,
      "--config",
      config,
      ...scram,
    ]);
  } catch (err) {
    const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
    throw new Error(`formatting the Kafka test broker's storage failed:\n${stdout}${stderr}`);
  }
}

interface RunningBroker {
  stop(): Promise<void>;
}

/** Starts the broker and waits for it to serve; its output is appended to kafka.log. */
async function launch(dir: string, config: string): Promise<RunningBroker> {
  const logPath = join(dir, "kafka.log");
  const log = await open(logPath, "a");
  const logStart = (await log.stat()).size;
  let child: ChildProcess;
  try {
    child = spawn("java", [...JVM_OPTS, "kafka.Kafka", config], {
      cwd: dir,
      stdio: ["ignore", log.fd, log.fd],
    });
  } finally {
    await log.close();
  }
  let exit: string | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once("error", (err) => {
      exit ??= `could not be started (${err.message})`;
      resolveExit();
    });
    child.once("exit", (code, signal) => {
      exit ??= `exited with ${code ?? signal}`;
      resolveExit();
    });
  });
  cleanUpWhenThisProcessDies(child, dir);
  const stop = async () => {
    if (exit !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const newLog = async () => (await readFile(logPath)).subarray(logStart).toString("utf8");
  const failure = async (why: string) => {
    const tail = (await newLog()).split("\n").slice(-60).join("\n");
    return new Error(`the Kafka test broker ${why}; the end of its log:\n${tail}`);
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if ((await newLog()).includes(STARTED)) return { stop };
    if (exit !== undefined) throw await failure(`${exit} while starting`);
    if (Date.now() > deadline) {
      const error = await failure(`did not start within ${START_TIMEOUT_MS / 1000} s`);
      await stop();
      throw error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Kills the JVM and deletes the broker's dir when this process ends while the broker runs, however it ends:
 * Vitest ends its workers with SIGTERM, which skips Node's exit handlers. A shell holds the read end of a pipe
 * from this process and cleans up when it reads end of file, which the kernel delivers as this process goes away;
 * it gives the killed JVM a second to go before deleting its files.
 */
function cleanUpWhenThisProcessDies(jvm: ChildProcess, dir: string): void {
  if (jvm.pid === undefined) return;
  const watchdog = spawn(
    "sh",
    ["-c", 'read -r _; kill -KILL "$1"; sleep 1; rm -rf "$2"', "kafka-watchdog", String(jvm.pid), dir],
    { stdio: ["pipe", "ignore", "ignore"] },
  );
  jvm.once("exit", () => watchdog.kill("SIGKILL"));
}
