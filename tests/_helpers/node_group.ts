/**
 * Starts several service nodes for one test and, if any fails to start, stops the ones that did,
 * so a failed start never leaves a node process behind.
 *
 * @module
 */
import { startNode, type StartNodeOptions, type TestNode } from "./node_process.ts";

/** Options for {@linkcode startNodes}. */
export interface StartNodesOptions {
  /**
   * Start them one after the other instead of all at once (several Deno starts at once on a
   * small shared machine can take seconds each). @default {false}
   */
  sequential?: boolean;
}

/**
 * Starts one node per item of `each` (see {@linkcode startNode}) and resolves with them in that
 * order once all serve; if one fails, stops (SIGKILL) those that started and throws its error.
 */
export async function startNodes(
  each: readonly StartNodeOptions[],
  options: StartNodesOptions = {},
): Promise<TestNode[]> {
  const started: TestNode[] = [];
  try {
    if (options.sequential) {
      for (const nodeOptions of each) started.push(await startNode(nodeOptions));
      return started;
    }
    const results = await Promise.allSettled(each.map((nodeOptions) => startNode(nodeOptions)));
    for (const result of results) if (result.status === "fulfilled") started.push(result.value);
    const failed = results.find((r) => r.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    return started;
  } catch (error) {
    await Promise.all(started.map((node) => node.stop("SIGKILL")));
    throw error;
  }
}
