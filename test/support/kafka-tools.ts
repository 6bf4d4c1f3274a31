/**
 * Kafka's own command-line tools for integration tests: the console producer and consumer, kafka-topics,
 * kafka-acls, kafka-consumer-groups and the producer and consumer perf tests, each run as the distribution's
 * scripts would (`java -cp '.tools/kafka/tools/*' <main class> args…`) from the jars scripts/deps/kafka installs:
 * kafka-tools 4.3.1 with its own kafka-clients 4.3.1, because 4.4.0 of the tools is not on Maven Central and
 * 4.3.1's do not run on the broker's 4.4.0 jars (test/servers/kafka/pom.xml). They are the reference clients:
 * what they send is what users of a Kafka installation send, so a proxy that serves them serves the people who
 * run them.
 *
 * Like the test broker (test/support/kafka.ts), a tool logs through Log4j 2 with a config file of the tests'
 * own, here a quiet one: warnings and errors only, to stderr, so stdout carries nothing but the tool's output
 * (the console consumer's records). Each run is bounded by coreutils' `timeout`, which kills the JVM even if
 * this process goes away first (Vitest ends its workers with SIGTERM); a run that ends otherwise than expected
 * fails with the tool's output.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT, tempDir } from "./vigil-process.ts";

/** The tools' jars and their runtime dependencies (scripts/deps/kafka, the pom's `tools` profile). */
const TOOLS_LIBS = join(ROOT, ".tools/kafka/tools");

/** The tools' main classes (kafka-tools 4.3), by the name of the script that runs each. */
const KAFKA_TOOLS = {
  "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
  "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
  "kafka-topics": "org.apache.kafka.tools.TopicCommand",
  "kafka-acls": "org.apache.kafka.tools.AclCommand",
  "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
  "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
  "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
} as const;

export type KafkaTool = keyof typeof KAFKA_TOOLS;

export interface ToolRun {
  /** the exit code */
  code: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Warnings and errors to stderr: stdout is the tool's own output. */
const QUIET_LOG4J2 = `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="warn">
      <AppenderRef ref="stderr"/>
    </Root>
  </Loggers>
</Configuration>
`;

let prepared: Promise<string> | undefined;

/**
 * Checks the tools are installed, then writes the quiet Log4j 2 config once per test process into a temp dir
 * (removed with the run's); its path.
 */
function prepare(): Promise<string> {
  prepared ??= (async () => {
    await access(TOOLS_LIBS).catch(() => {
      throw new Error(`Kafka's tools are not installed in ${TOOLS_LIBS}: run scripts/test-deps`);
    });
    const file = join(await tempDir("vigil-kafka-tools-"), "log4j2.xml");
    await writeFile(file, QUIET_LOG4J2);
    return file;
  })();
  return prepared;
}

/**
 * Runs `tool` with `args`, `input` on its stdin (closed at once without), for at most `timeoutMs` (then it is
 * killed, and the run fails). Resolves with its output when it exits 0, or, with `fails: true`, when it exits
 * otherwise; anything else rejects with the command and everything the tool printed.
 */
export async function kafkaTool(
  tool: KafkaTool,
  args: string[],
  opts: { input?: string; timeoutMs?: number; fails?: boolean } = {},
): Promise<ToolRun> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const child = spawn(
    "timeout",
    [
      "--signal=KILL",
      `${timeoutMs / 1000}s`,
      "java",
      // A small heap, the serial collector and the quick JIT compiler only: tools start in about a second.
      "-Xms64m",
      "-Xmx256m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-Djava.awt.headless=true",
      `-Dlog4j2.configurationFile=${await prepare()}`,
      "-cp",
      `${TOOLS_LIBS}/*`,
      KAFKA_TOOLS[tool],
      ...args,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  // A tool that exits before reading its input closes the pipe: not an error of the test's.
  child.stdin.on("error", () => {});
  child.stdin.end(opts.input ?? "");
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  // `timeout` sends its signal to its own process group too, so it ends killed as well.
  const ended =
    code !== null
      ? `exited with ${code}`
      : signal === "SIGKILL"
        ? `did not finish within ${timeoutMs / 1000} s`
        : `was killed by ${signal}`;
  if (code === null || (code === 0) === (opts.fails ?? false)) {
    throw new Error(
      `${tool} ${args.join(" ")} ${ended}${opts.fails && code === 0 ? " (a failure was expected)" : ""}:\n` +
        `--- stdout\n${stdout.slice(-4000)}\n--- stderr\n${stderr.slice(-4000)}`,
    );
  }
  return { code, stdout, stderr };
}
