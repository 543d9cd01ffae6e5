/**
 * The cursor of a counters page on Redis (`/api/counters`, `/api/blocks`): where the SCAN stands,
 * and on a Redis Cluster on which master.
 *
 * - One Redis (standalone, sentinel): `<scan cursor>-<matches to skip>`, e.g. `1792-3`.
 * - Redis Cluster: `<host>:<port>-<scan cursor>-<matches to skip>`, e.g.
 *   `127.0.0.1:7001-1792-3`: SCAN goes through the masters one after the other, in address order,
 *   and the cursor names the master the next page starts on. A master that is no longer one (a
 *   failover between two pages) is replaced by the next master in address order, from its start.
 *
 * `<matches to skip>` lets a page end in the middle of a SCAN batch without dropping its tail.
 * A cursor this store could not have issued is refused with a `RangeError` before any call.
 *
 * @module
 */

/** Where a counters page starts. */
export interface ScanPosition {
  /** `host:port` of the master (cluster only); `undefined` on one Redis. */
  node: string | undefined;
  /** SCAN cursor on that node. */
  scan: string;
  /** Matches of the first SCAN batch already listed. */
  skip: number;
}

/** Largest SCAN cursor Redis accepts: an unsigned 64-bit integer. */
const MAX_SCAN_CURSOR = 2n ** 64n - 1n;

/** A node address as a cursor may carry it: host (name, IPv4 or IPv6) and port. */
const ADDRESS = /^[A-Za-z0-9.:\[\]-]{1,255}:\d{1,5}$/;

/** The cursor of `position`. */
export function encodeScanCursor(position: ScanPosition): string {
  const tail = `${position.scan}-${position.skip}`;
  return position.node === undefined ? tail : `${position.node}-${tail}`;
}

/**
 * Reads a cursor issued by {@linkcode encodeScanCursor}; `clustered` says whether this store
 * issues cluster cursors (with a node). No cursor (or `"0"`) starts at the beginning. Throws a
 * `RangeError` for anything else, including a SCAN cursor past 64 bits (Redis would reply
 * `ERR invalid cursor`) and the other kind of cursor (with a node on one Redis, or without on a
 * cluster).
 */
export function parseScanCursor(cursor: string | undefined, clustered: boolean): ScanPosition {
  if (cursor === undefined || cursor === "" || cursor === "0") {
    return { node: undefined, scan: "0", skip: 0 };
  }
  const match = /^(?:(.{1,262})-)?(\d{1,20})-(\d{1,9})$/.exec(cursor);
  const node = match?.[1];
  if (
    match === null || BigInt(match[2]!) > MAX_SCAN_CURSOR ||
    (node === undefined) === clustered || (node !== undefined && !ADDRESS.test(node))
  ) {
    throw new RangeError(`Cannot parse cursor ${JSON.stringify(cursor)}`);
  }
  return { node, scan: match[2]!, skip: Number(match[3]) };
}
