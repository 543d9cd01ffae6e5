/**
 * `deno task loadgen`: a load generator and correctness checker for ratelimiter-service.
 *
 *   deno task loadgen -t http://127.0.0.1:8001 -t http://127.0.0.1:8002 -c 64 -d 30s
 *   deno task loadgen -r 2000 --pattern burst --burst-multiplier 5 --keys zipf:10000:1.1
 *   deno task loadgen --keys single --limit 100 --window-ms 60000 -n 5000 --verify
 *
 * Prints a live progress line on stderr and a summary on stdout (`--json` for machines). Exits 0
 * on success, 1 when `--verify` finds a wrong count or a run had only errors, 2 on bad arguments.
 * Run `deno task loadgen --help` for every option. Imports no packages, so it runs from a bare
 * checkout (`deno run --no-config --allow-net tools/loadgen.ts`).
 *
 * @module
 */
import { HelpRequested, type LoadgenOptions, parseLoadgenArgs, USAGE } from "./loadgen/args.ts";
import { EndpointMissingError, type LoadSummary, type Progress, runLoad } from "./loadgen/run.ts";

const encoder = new TextEncoder();
const write = (stream: { writeSync(p: Uint8Array): number }, text: string) =>
  stream.writeSync(encoder.encode(text));

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** One line of live progress. */
export function formatProgress(p: Progress): string {
  return `${fmt(p.elapsedMs / 1000, 1).padStart(7)}s  requests ${fmt(p.requests)}  allowed ${
    fmt(p.allowed)
  }  blocked ${fmt(p.blocked)}  errors ${fmt(p.errors)}  rate ${fmt(p.ratePerSec)}/s`;
}

/** The human summary of a run. */
export function formatSummary(s: LoadSummary): string {
  const l = s.latencyMs;
  const lines = [
    `targets      ${s.targets.join(", ")} (${s.endpoint})`,
    `load         ${
      s.mode === "open" ? `open loop at ${fmt(s.rate!)}/s` : "closed loop"
    }, concurrency ${s.concurrency}, pattern ${s.pattern}, keys ${s.keys}`,
    `duration     ${fmt(s.durationMs / 1000, 2)} s`,
    `requests     ${fmt(s.requests)} (${fmt(s.requestsPerSec)}/s)${
      s.endpoint === "/check/batch" ? `, checks ${fmt(s.checks)} (${fmt(s.checksPerSec)}/s)` : ""
    }`,
    `decisions    allowed ${fmt(s.allowed)}, blocked ${fmt(s.blocked)}, errors ${fmt(s.errors)}${
      s.errors > 0 ? ` ${JSON.stringify(s.errorKinds)}` : ""
    }`,
    `latency ms   p50 ${fmt(l.p50, 2)}  p90 ${fmt(l.p90, 2)}  p99 ${fmt(l.p99, 2)}  max ${
      fmt(l.max, 2)
    }  mean ${fmt(l.mean, 2)}`,
  ];
  if (s.mode === "open" && s.queued > 0) {
    lines.push(`queued       ${fmt(s.queued)} times the target fell behind the rate`);
  }
  if (s.verify !== undefined) {
    const v = s.verify;
    lines.push(
      v.ok
        ? `verify       ok: ${v.allowed} allowed${
          v.expectedAllowed !== undefined
            ? ` = expected ${v.expectedAllowed}`
            : ` ≤ ${v.maxAllowed}`
        }, at most ${v.maxAllowedInWindow} within one window, no wrong denial`
        : `verify       FAILED: ${v.problems.join("; ")}`,
    );
  }
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  let options: LoadgenOptions;
  try {
    options = parseLoadgenArgs(argv);
  } catch (error) {
    if (error instanceof HelpRequested) {
      write(Deno.stdout, USAGE + "\n");
      return 0;
    }
    write(Deno.stderr, `loadgen: ${error instanceof Error ? error.message : error}\n`);
    write(Deno.stderr, "Run with --help for usage.\n");
    return 2;
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  const tty = Deno.stderr.isTerminal();
  let summary: LoadSummary;
  try {
    summary = await runLoad(options, {
      signal: controller.signal,
      onProgress: options.quiet
        ? undefined
        : (p) =>
          write(Deno.stderr, tty ? `\r${formatProgress(p)}\x1b[K` : formatProgress(p) + "\n"),
    });
  } catch (error) {
    if (tty && !options.quiet) write(Deno.stderr, "\n");
    if (error instanceof EndpointMissingError) {
      write(Deno.stderr, `loadgen: ${error.message}\n`);
      return 3;
    }
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  if (tty && !options.quiet) write(Deno.stderr, "\n");
  write(
    Deno.stdout,
    (options.json ? JSON.stringify(summary, null, 2) : formatSummary(summary)) + "\n",
  );
  if (summary.verify !== undefined && !summary.verify.ok) return 1;
  if (summary.requests > 0 && summary.errors === summary.requests) return 1;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
