/**
 * Client keys chosen by where their counters live on a test Redis Cluster, so a test can spread
 * its keys over every master, or aim them at the slots a fault will hit.
 *
 * @module
 */
import type { Algorithm } from "../../src/limiter/types.ts";
import { counterKey, DEFAULT_KEY_PREFIX } from "../../src/store/keys.ts";
import { keySlot, type TestRedisCluster } from "./redis_cluster.ts";
import type { RedisProcess } from "./redis_process.ts";

/** The hash slot of the counter of client key `key` under `algorithm` (default key prefix). */
export function counterSlot(key: string, algorithm: Algorithm = "sliding_log"): number {
  return keySlot(counterKey(DEFAULT_KEY_PREFIX, algorithm, key));
}

/** A client key and the master its counters live on. */
export interface PlacedKey {
  /** The client key, as sent in `/check`. */
  readonly key: string;
  /** The hash slot of its counters. */
  readonly slot: number;
  /** The master serving that slot when the key was chosen. */
  readonly master: RedisProcess;
}

/**
 * `perMaster` client keys `<prefix><n>` (n = 0, 1, …) for each current master of `cluster`, in
 * master order then n order; `accept` may restrict the slots taken. Throws if 100,000 candidates
 * do not fill every master.
 */
export async function keysOnEveryMaster(
  cluster: TestRedisCluster,
  prefix: string,
  perMaster: number,
  accept: (slot: number) => boolean = () => true,
): Promise<PlacedKey[]> {
  const masters = await cluster.masters();
  const ranges = await Promise.all(masters.map((m) => cluster.slotsOf(m)));
  const chosen = masters.map(() => [] as PlacedKey[]);
  for (let n = 0; n < 100_000 && chosen.some((list) => list.length < perMaster); n++) {
    const key = `${prefix}${n}`;
    const slot = counterSlot(key);
    if (!accept(slot)) continue;
    const owner = ranges.findIndex((r) => r.some(([lo, hi]) => slot >= lo && slot <= hi));
    const list = chosen[owner];
    if (list !== undefined && list.length < perMaster) {
      list.push({ key, slot, master: masters[owner]! });
    }
  }
  if (chosen.some((list) => list.length < perMaster)) {
    throw new Error(`Cannot find ${perMaster} keys "${prefix}…" on every master`);
  }
  return chosen.flat();
}

/**
 * `count` client keys `<prefix><n>` whose counters live in one of `slots` (inclusive ranges).
 */
export function keysInSlots(
  prefix: string,
  count: number,
  slots: readonly (readonly [number, number])[],
): PlacedKeyInRange[] {
  const keys: PlacedKeyInRange[] = [];
  for (let n = 0; n < 1_000_000 && keys.length < count; n++) {
    const key = `${prefix}${n}`;
    const slot = counterSlot(key);
    if (slots.some(([lo, hi]) => slot >= lo && slot <= hi)) keys.push({ key, slot });
  }
  if (keys.length < count) throw new Error(`Cannot find ${count} keys "${prefix}…" in the slots`);
  return keys;
}

/** A client key and its counter's slot. */
export interface PlacedKeyInRange {
  /** The client key, as sent in `/check`. */
  readonly key: string;
  /** The hash slot of its counters. */
  readonly slot: number;
}
