/**
 * YAML parsing that remembers the line of every key and list item, so configuration and policy problems can name
 * the line as well as the key path. Shared by vigil.yaml (load.ts) and Kubernetes audit policies.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { ValidationError } from "../errors.ts";
import { formatPath, type Path } from "./schema.ts";

export interface ParsedYaml {
  value: unknown;
  /** Line of each key and list item, by formatted path. */
  lines: Map<string, number>;
}

/**
 * Parses one YAML document. `version: "1.1"` reads it as YAML 1.1 (as Kubernetes does: `yes`/`no` are booleans).
 * Throws ValidationError("invalid_config") with the line of each syntax error; never quotes the source line (it
 * may hold a secret).
 */
export function parseYamlWithLines(text: string, options: { version?: "1.1" | "1.2" } = {}): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, version: options.version ?? "1.2" });
  if (doc.errors.length > 0) {
    throw new ValidationError(
      "invalid_config",
      doc.errors.map((e) => ({
        field: "",
        line: lineCounter.linePos(e.pos[0]).line,
        message: `invalid YAML: ${e.message}`,
      })),
    );
  }
  const lines = new Map<string, number>();
  const index = (node: unknown, path: Path): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const start = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
        if (start !== undefined) lines.set(formatPath([...path, key]), lineCounter.linePos(start).line);
        index(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const start = isScalar(item) || isMap(item) || isSeq(item) ? item.range?.[0] : undefined;
        if (start !== undefined) lines.set(formatPath([...path, i]), lineCounter.linePos(start).line);
        index(item, [...path, i]);
      });
    }
  };
  index(doc.contents, []);
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }), lines };
  } catch (e) {
    throw new ValidationError("invalid_config", [
      { field: "", message: `invalid YAML: ${(e as Error).message}` },
    ]);
  }
}

/** The line of `path` or, for a path not in the file, of its nearest ancestor that is. */
export function lineOf(path: Path, lines: Map<string, number>): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(formatPath(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}
