/**
 * Node figures in process memory: with the embedded store the cluster is this node alone.
 *
 * @module
 */
import { type NodeFigures, NodeStats, type NodeStatsOptions } from "./node_stats.ts";

/** Keeps this node's last published figures in memory. */
export class MemoryNodeStats extends NodeStats {
  #last: NodeFigures | undefined;

  constructor(options: NodeStatsOptions) {
    super(options);
  }

  protected publish(figures: NodeFigures): Promise<void> {
    this.#last = figures;
    return Promise.resolve();
  }

  protected remove(): Promise<void> {
    this.#last = undefined;
    return Promise.resolve();
  }

  read(): Promise<Map<string, NodeFigures>> {
    const all = new Map<string, NodeFigures>();
    if (this.#last !== undefined) all.set(this.id, this.#last);
    return Promise.resolve(all);
  }
}
