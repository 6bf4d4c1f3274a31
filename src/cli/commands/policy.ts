/**
 * `vigil policy test <policy> <events.ndjson>`: what a policy would do to recorded events, before it is deployed.
 * The policy is a Kubernetes `audit.k8s.io` Policy file or a Vigil fragment (`events`, `exclude_events`,
 * `enabled_event_types`, `excluded_topics`, `excluded_principals`). Each input line is a Kubernetes audit
 * Event or EventList, an OCSF record, a CloudEvent (decoded as on import) or a native event; every event gets
 * one output line: where it came from, the rule that decided, the level or keep/drop, and what would be kept.
 * Exit codes: 0 done, 2 a bad policy (each problem with key path and line) or an unreadable input line.
 * The work is in policy-verdicts.ts, loaded only when the command runs.
 */
import { Command } from "commander";
import type { Verdict } from "./policy-verdicts.ts";

/** spec/000's example Kafka destination topic; Vigil's own audit records go there. */
const DEFAULT_AUDIT_TOPIC = "audit-events";

function formatVerdict(v: Verdict): string {
  const rule = typeof v.rule === "number" ? `rule ${v.rule}` : v.rule === null ? "no rule" : v.rule;
  const level = v.level === undefined ? "" : `, level ${v.level}`;
  const stages =
    v.omitted_stages && v.omitted_stages.length > 0 ? `; omit stages ${v.omitted_stages.join(", ")}` : "";
  return `line ${v.line}: ${v.event_id ?? "-"} ${v.event_type} — ${rule}${level}: ${v.keep ? "keep" : "drop"} (${v.detail})${stages}`;
}

export function policyCommand(): Command {
  const policy = new Command("policy").description("check audit policies");
  policy
    .command("test")
    .description(
      "print what a policy (Kubernetes audit Policy or Vigil events/filters) does to each event of a file; " +
        "exit 2 for a bad policy or an unreadable line",
    )
    .argument(
      "<policy>",
      "a Kubernetes audit.k8s.io/v1 Policy, or YAML with events, exclude_events, " +
        "enabled_event_types, excluded_topics, excluded_principals",
    )
    .argument("<events>", "NDJSON: Kubernetes audit events, OCSF records, CloudEvents or native events")
    .option("--json", "one JSON object per event")
    .option(
      "--redact <path>",
      "a field path redaction replaces (as audit.redaction.fields), e.g. details.password; repeatable",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--no-kubernetes-secrets", "do not redact Secret data in Kubernetes bodies (on by default)")
    .option(
      "--audit-topic <topic>",
      "Vigil's own audit topic, which excluded_topics may not name",
      DEFAULT_AUDIT_TOPIC,
    )
    .action(
      async (
        policyFile: string,
        eventsFile: string,
        flags: { json?: boolean; auditTopic: string; redact: string[]; kubernetesSecrets: boolean },
        cmd: Command,
      ) => {
        const writeOut = cmd.configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
        const { verdicts } = await import("./policy-verdicts.ts");
        const found = await verdicts(policyFile, eventsFile, flags);
        writeOut(found.map((v) => `${flags.json ? JSON.stringify(v) : formatVerdict(v)}\n`).join(""));
      },
    );
  return policy;
}
