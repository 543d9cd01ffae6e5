/**
 * What the local tools, the benchmarks and the tests share to run a private `redis-server` on
 * loopback: a free port, the server's arguments, and a PING.
 *
 * @module
 */

/** A TCP port on 127.0.0.1 that is free when this returns (free enough for local tools). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Arguments of a throwaway `redis-server` on 127.0.0.1:`port`: no persistence, quiet logs. */
export function redisServerArgs(port: number): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--loglevel",
    "warning",
  ];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Whether a Redis on 127.0.0.1:`port` answers PING. */
export async function pingRedis(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(encoder.encode("PING\r\n"));
      const buf = new Uint8Array(64);
      const n = await conn.read(buf);
      return n !== null && decoder.decode(buf.subarray(0, n)).startsWith("+PONG");
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

/** The integer field `field` of an `INFO` reply (e.g. `used_memory`); throws when it is absent. */
export function infoField(text: string, field: string): number {
  const match = new RegExp(`^${field}:(\\d+)`, "m").exec(text);
  if (match === null) throw new Error(`INFO has no ${field}`);
  return Number(match[1]);
}
