/**
 * The entry point and the only module that reads `Deno.env`: parses the configuration, answers
 * `--healthcheck`, builds the node (`src/node.ts`), serves, drains it on SIGINT/SIGTERM and reloads
 * its rules file on SIGHUP. Exit code 0 after a signal, 1 when the configuration or the rules file
 * is invalid, the node cannot start, or its listener died for good (so the orchestrator restarts
 * it).
 *
 * @module
 */
import { type Config, CONFIG_ENV_VARS, ConfigError, parseConfig } from "./src/config.ts";
import { createLogger } from "./src/log.ts";
import { createNode, NodeStartError } from "./src/node.ts";

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

/** Reads only the variables the config schema knows, so `--allow-env` can list exactly those. */
function readEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of CONFIG_ENV_VARS) env[name] = Deno.env.get(name);
  return env;
}

/**
 * `--healthcheck`: asks this node's `/health` over loopback and exits 0 if it answers 200, else
 * 1. The container's HEALTHCHECK runs it, since the runtime image has no curl.
 */
async function healthcheck(config: Config): Promise<number> {
  const host = config.listenHost === "0.0.0.0" || config.listenHost === "::"
    ? "127.0.0.1"
    : config.listenHost;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${config.nodePort}/health`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 200 ? 0 : 1;
  } catch {
    return 1;
  }
}

async function main(args: string[]): Promise<number> {
  let config;
  try {
    config = parseConfig(readEnv(), { hostname: hostname(), pid: Deno.pid });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger().error("invalid_config", { message: error.message, issues: error.issues });
    return 1;
  }
  if (args.includes("--healthcheck")) return await healthcheck(config);
  const logger = createLogger({ level: config.logLevel, base: { node_id: config.nodeId } });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("unhandled_rejection", { error: String(event.reason) });
  });

  let node;
  try {
    node = await createNode(config, { logger });
    await node.serve();
  } catch (error) {
    if (error instanceof NodeStartError) return 1; // logged, and closed, by the node
    throw error;
  }
  // The signal listener only starts the drain; main() returns once it completes. Calling
  // Deno.exit() here instead would, under `deno run --watch`, end only this run and throw "Code not
  // reachable" into an unhandled rejection.
  let stoppedBy: Deno.Signal | undefined;
  let closedBySignal!: () => void;
  const closed = new Promise<"closed">((resolve) => closedBySignal = () => resolve("closed"));
  const signals = ["SIGINT", "SIGTERM"] as const;
  const onSignal = (signal: Deno.Signal) => () => {
    stoppedBy ??= signal;
    void node.close(signal).then(closedBySignal);
  };
  const listeners: [Deno.Signal, () => void][] = signals.map((s) => [s, onSignal(s)]);
  // SIGHUP reloads the rules file; an invalid one is logged and the rules in force stay.
  listeners.push(["SIGHUP", () => void node.rules.reload()]);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  try {
    // A signal's close ends the run once it completes (drained, or the grace period over):
    // requests still running then are cut, as they would be by the orchestrator.
    await Promise.race([node.finished, closed]);
  } catch (error) {
    // Started while Redis was down, then found its id taken: logged, and closing, by the node.
    if (error instanceof NodeStartError) {
      await node.close("node_id_conflict");
      return 1;
    }
    // Not listening and unable to listen again: leave the registry and exit with an error, so the
    // orchestrator restarts the process rather than keep one that heart-beats but never serves.
    logger.error("listener_dead", {
      message: error instanceof Error ? error.message : String(error),
    });
    await node.close("listener_dead");
    return 1;
  }
  // The listener finished because a signal closed the node: let that close complete.
  await node.close("finished");
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  if (stoppedBy !== undefined && args.includes("--dev")) {
    // `deno task dev`: the file watcher outlives this run and waits for a change. It stops by
    // itself on SIGINT; for SIGTERM, raise the signal again with no listener left, so its default
    // action ends the whole process, watcher included.
    Deno.kill(Deno.pid, stoppedBy);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
