/**
 * `${VAR}` and `${VAR:-default}` substitution in config values, with POSIX sh semantics. load.ts applies it to
 * each string value after YAML parsing, so a substituted value can never change the YAML structure and line
 * numbers stay those of the file.
 */
import { hostname } from "node:os";
import { VigilError } from "../errors.ts";

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REFERENCE_FORMS = `expected \${NAME} or \${NAME:-default}, or $\${ for a literal \${`;

/** A bad or unresolvable reference. The message names variables, never their values: those hold secrets. */
export class InterpolationError extends VigilError {
  constructor(message: string) {
    super("invalid_config", message);
    this.name = "InterpolationError";
  }
}

/**
 * `HOSTNAME` is a shell variable that shells rarely export, yet spec/000 writes `log_stream: ${HOSTNAME}`; fall
 * back to the machine's name so that example works as written.
 */
function lookup(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const value = env[name];
  if (value === undefined && name === "HOSTNAME") return hostname();
  return value;
}

/**
 * Replaces `${VAR}` with the variable's value and `${VAR:-default}` with the value, or with `default` when the
 * variable is unset or empty. `$${` stands for a literal `${`; any other `$` is kept as is. Defaults are taken
 * literally and may not contain another reference.
 * @throws InterpolationError listing every unset variable, or at the first malformed reference.
 * @example interpolate("${REGION:-us-west-2}", {}) // "us-west-2"
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = "";
  const unset: string[] = [];
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith("$${", dollar)) {
      out += "${";
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith("${", dollar)) {
      out += "$";
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf("}", dollar + 2);
    if (close === -1) throw new InterpolationError(`unterminated \${ (${REFERENCE_FORMS})`);
    const body = text.slice(dollar + 2, close);
    const separator = body.indexOf(":-");
    const name = separator === -1 ? body : body.slice(0, separator);
    if (!VARIABLE_NAME.test(name))
      throw new InterpolationError(`malformed variable reference (${REFERENCE_FORMS})`);
    const fallback = separator === -1 ? undefined : body.slice(separator + 2);
    if (fallback?.includes("${")) {
      throw new InterpolationError(
        `the default for ${name} contains another \${...}, which is not supported`,
      );
    }
    const value = lookup(name, env);
    if (fallback !== undefined && (value === undefined || value === "")) out += fallback;
    else if (value !== undefined) out += value;
    else if (!unset.includes(name)) unset.push(name);
    i = close + 1;
  }
  if (unset.length === 1) throw new InterpolationError(`environment variable ${unset[0]} is not set`);
  if (unset.length > 1) throw new InterpolationError(`environment variables ${unset.join(", ")} are not set`);
  return out;
}
