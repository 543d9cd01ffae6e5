/**
 * The permissions a service node runs with, in one place. The local cluster, the benchmarks and
 * the tests import {@linkcode nodePermissionFlags}; `deno task start`/`dev`/`compile` and the
 * Dockerfile cannot import, so `deno task permissions` (this module run as a script) writes the
 * flags into them, and `tests/deploy/dockerfile_test.ts` fails when they differ. None can drift
 * into `-A`.
 *
 * @module
 */
import { CONFIG_ENV_VARS } from "../src/config.ts";

/**
 * Variables read by libraries, not by the service: node-redis reads the first two when Redis sends
 * a maintenance notice, and the `yaml` parser the last two (debug switches) whenever it parses the
 * rules file. Without them the read would throw `NotCapable` inside the library.
 */
export const LIBRARY_ENV_VARS: readonly string[] = [
  "REDIS_DEBUG_MAINTENANCE",
  "REDIS_EMIT_DIAGNOSTICS",
  "LOG_TOKENS",
  "LOG_STREAM",
];

/** Every variable a node may read: the config's `RATELIMITER_*` variables, then the libraries'. */
export const NODE_ENV_VARS: readonly string[] = [...CONFIG_ENV_VARS, ...LIBRARY_ENV_VARS];

/**
 * The `deno run` / `deno compile` permission flags of a node: network, the listed variables, the
 * host name (for the default node id), and reading files, for the rules file
 * (`RATELIMITER_RULES_FILE`, any path the operator chooses; read and watched). No writing. Deno
 * grants `/proc/self`, where
 * prom-client would read process metrics, only with `--allow-all`, so `src/metrics/metrics.ts` drops
 * those metrics instead. prom-client still tries to read `/proc/self/limits` once when its default
 * metrics are created, so every command also passes `--no-prompt`: the read then fails quietly
 * instead of stopping a node started from a terminal at a permission prompt.
 */
export function nodePermissionFlags(): string[] {
  return [
    "--allow-net",
    `--allow-env=${NODE_ENV_VARS.join(",")}`,
    "--allow-sys=hostname",
    "--allow-read",
  ];
}

/** The `deno.json` tasks that run or compile a node, with {@linkcode nodePermissionFlags}. */
export const NODE_TASKS: readonly string[] = ["start", "dev", "compile"];

/** A run of `--allow-*` flags, separated by spaces or by a shell line continuation. */
const FLAG_RUN = /--allow-[^\s"\\]+(?:(?:\s|\\\n)+--allow-[^\s"\\]+)*/;

/** Replaces the first run of `--allow-*` flags in `command`, keeping its separator. */
function replaceFlags(command: string): string {
  return command.replace(FLAG_RUN, (run) => {
    const separator = /^--allow-[^\s"\\]+((?:\s|\\\n)+)--allow-/.exec(run)?.[1] ?? " ";
    return nodePermissionFlags().join(separator);
  });
}

/**
 * `deno.json`'s text with the permission flags of {@linkcode NODE_TASKS} set to
 * {@linkcode nodePermissionFlags}, everything else unchanged (identical when up to date).
 */
export function renderDenoJson(text: string): string {
  const tasks: Record<string, string> = JSON.parse(text).tasks;
  for (const name of NODE_TASKS) {
    const command = tasks[name];
    if (command === undefined) throw new Error(`deno.json has no task "${name}"`);
    text = text.replace(JSON.stringify(command), JSON.stringify(replaceFlags(command)));
  }
  return text;
}

/**
 * The Dockerfile's text with the permission flags of its `RUN deno compile` set to
 * {@linkcode nodePermissionFlags}, one per continued line as written (identical when up to date).
 */
export function renderDockerfile(text: string): string {
  const compile = /^RUN deno compile\b(?:\\\n|[^\n])*/m.exec(text)?.[0];
  if (compile === undefined) throw new Error("The Dockerfile has no RUN deno compile");
  return text.replace(compile, replaceFlags(compile));
}

// `deno task permissions`: writes the flags into deno.json and the Dockerfile after the config's
// variables change (tests/deploy/dockerfile_test.ts fails until then).
if (import.meta.main) {
  const files = { "deno.json": renderDenoJson, "Dockerfile": renderDockerfile };
  for (const [file, render] of Object.entries(files)) {
    const url = new URL(`../${file}`, import.meta.url);
    const text = Deno.readTextFileSync(url);
    const updated = render(text);
    if (updated !== text) Deno.writeTextFileSync(url, updated);
    console.log(`${file}: ${updated === text ? "up to date" : "updated"}`);
  }
}
