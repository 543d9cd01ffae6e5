/**
 * Runs Prometheus's `promtool` for the tests that validate metrics, dashboards and config, and
 * fails with one line naming the package when it is not installed.
 *
 * @module
 */

/** Why a test that needs promtool cannot run, and how to fix it. */
export const PROMTOOL_MISSING_MESSAGE =
  "promtool not found on PATH: install the Debian package prometheus (apt-get install -y prometheus)";

/** What promtool printed (stdout then stderr) and its exit code. */
export interface PromtoolResult {
  code: number;
  output: string;
}

/**
 * Runs `promtool` with `args`, writing `stdin` to it when given. Throws an Error with
 * {@linkcode PROMTOOL_MISSING_MESSAGE} when promtool is not on PATH.
 */
export async function promtool(args: string[], stdin?: string): Promise<PromtoolResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("promtool", {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(PROMTOOL_MISSING_MESSAGE);
    throw error;
  }
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, output: decode(out.stdout) + decode(out.stderr) };
}
