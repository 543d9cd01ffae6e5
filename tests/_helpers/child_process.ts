/**
 * Shared handling of the child processes tests start (redis-server, nodes, the cluster task):
 * reading their output line by line and stopping them with a bounded wait.
 *
 * @module
 */

/**
 * Reads `stream` as UTF-8 text and calls `onLine` with each complete line, without its newline;
 * resolves when the stream ends (a last line with no newline is dropped).
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  }
}

/**
 * Sends `signal` to `child` (nothing if it has already exited), sends SIGKILL if it is still
 * running `killAfterMs` later, and resolves with its exit status.
 */
export async function stopChild(
  child: Deno.ChildProcess,
  signal: Deno.Signal,
  killAfterMs: number,
): Promise<Deno.CommandStatus> {
  try {
    child.kill(signal);
  } catch { /* already exited */ }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, killAfterMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}
