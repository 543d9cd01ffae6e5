/** Check bodies shared by route and integration tests. */
import { ALGORITHMS, type LimitRequest } from "../../src/limiter/types.ts";
import { Rng } from "./random.ts";

/** A deterministic mix of single and multi-limit checks over a few keys, every algorithm. */
export function equivalenceChecks(n: number): Record<string, unknown>[] {
  const rng = new Rng(7);
  const next = (m: number) => rng.int(m);
  const checks: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const algorithm = ALGORITHMS[next(ALGORITHMS.length)]!;
    const limit = { key: `{eq}:${next(4)}`, limit: 5, window_ms: 60_000, algorithm, cost: next(3) };
    if (next(3) === 0) {
      const other = ALGORITHMS[(ALGORITHMS.indexOf(algorithm) + 1) % ALGORITHMS.length]!;
      checks.push({ limits: [limit, { key: "{eq}:shared", limit: 8, algorithm: other }] });
    } else {
      checks.push(limit);
    }
  }
  return checks;
}

/** The same kind of mix as {@linkcode equivalenceChecks}, as store requests on keys tagged `tag`. */
export function equivalenceGroups(n: number, tag: string): LimitRequest[][] {
  const rng = new Rng(11);
  const next = (m: number) => rng.int(m);
  const groups: LimitRequest[][] = [];
  for (let i = 0; i < n; i++) {
    const algorithm = ALGORITHMS[next(ALGORITHMS.length)]!;
    const group: LimitRequest[] = [
      { key: `{${tag}}:${next(4)}`, algorithm, limit: 5, windowMs: 60_000, cost: next(3) },
    ];
    if (next(3) === 0) {
      const other = ALGORITHMS[(ALGORITHMS.indexOf(algorithm) + 1) % ALGORITHMS.length]!;
      group.push({ key: `{${tag}}:shared`, algorithm: other, limit: 8, windowMs: 60_000, cost: 1 });
    }
    groups.push(group);
  }
  return groups;
}
