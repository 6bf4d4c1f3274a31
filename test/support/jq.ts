/**
 * Runs the jq lines of spec/000 and spec/002 as written (shell pipelines included: `| sort | uniq -c`) over a
 * file destination's output and reads their answers back, for test/jq-equivalence.test.ts, which compares them
 * with `vigil query` on the same data. jq 1.6 prints each value pretty-printed (several lines) and goes on after
 * an error in one input (printing `jq: error (at <stdin>:N): …`), so the answer is the stream of values on stdout
 * plus the error lines on stderr.
 */
import { spawn } from "node:child_process";

export interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `line` with `sh -c` in `cwd` (where the spec's `audit.log` is). LC_ALL=C, so `sort` orders by bytes on
 * every machine (the locale only changes the order of lines `sort -rn` finds equal).
 */
export function runShell(line: string, cwd: string): Promise<ShellResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn("sh", ["-c", line], {
      cwd,
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.once("error", reject);
    child.once("close", (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** The JSON values of a stream of whitespace-separated (possibly pretty-printed) JSON texts, as jq prints them. */
export function jsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text.charAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let depth = 0;
    let inString = false;
    for (; i < text.length; i++) {
      const ch = text.charAt(i);
      if (inString) {
        if (ch === "\\") i++;
        else if (ch === '"') {
          inString = false;
          if (depth === 0) {
            i++;
            break;
          }
        }
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === "{" || ch === "[") depth++;
      else if (ch === "}" || ch === "]") {
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      } else if (depth === 0 && /\s/.test(ch)) break;
    }
    values.push(JSON.parse(text.slice(start, i)));
  }
  return values;
}

/** The lines of `uniq -c` output as [value, count], in the order printed. */
export function uniqCounts(text: string): [string, number][] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const m = /^\s*(\d+) (.*)$/.exec(line);
      if (!m) throw new Error(`not a line of uniq -c: ${JSON.stringify(line)}`);
      return [m[2] as string, Number(m[1])];
    });
}

/** The error lines jq printed, each checked against `allowed` (what this question's data is known to cause). */
export function jqErrors(stderr: string, allowed: RegExp | undefined): string[] {
  const lines = stderr.split("\n").filter((line) => line !== "");
  for (const line of lines) {
    if (allowed === undefined || !allowed.test(line)) throw new Error(`unexpected output of jq: ${line}`);
  }
  return lines;
}
