/**
 * The HTTP listener, listening again when it dies.
 *
 * Deno 2.9.6 facts this is built on (checked with `ulimit -n 64` and idle connections): when
 * `accept` fails with EMFILE ("Too many open files"), `Deno.serve` closes its listening socket for
 * good (new connections are refused) and its `finished` promise rejects with
 * `Http: Error: Too many open files (os error 24)`; it never accepts again by itself. A new
 * `Deno.serve` on the same port listens at once and serves once descriptors are free again.
 *
 * @module
 */
import type { Logger } from "../log.ts";

/** Most times a dead listener is started again before giving up. */
export const LISTEN_RETRIES = 5;
/** Wait before the first new start of a dead listener, in ms; doubled at each attempt. */
export const LISTEN_BACKOFF_MS = 200;
/** A listener that served this long (ms) has recovered: the attempts count again from zero. */
export const LISTEN_STABLE_MS = 30_000;

/** Thrown (as the rejection of {@linkcode Listener.finished}) when the listener stays dead. */
export class ListenerDeadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenerDeadError";
  }
}

/** Options for {@linkcode listen}. */
export interface ListenOptions {
  hostname: string;
  port: number;
  handler: Deno.ServeHandler;
  /**
   * Bind with `SO_REUSEPORT` (Linux only; ignored elsewhere by Deno), so other processes may listen
   * on the same port and the kernel spreads new connections over them. @default {false}
   */
  reusePort?: boolean;
  /** Called each time the socket listens (the first time and after every new start). */
  onListen?: (addr: Deno.NetAddr, restarts: number) => void;
  logger: Logger;
  /** Most new starts in a row before giving up. @default {LISTEN_RETRIES} */
  retries?: number;
  /** Wait before the first new start, in ms, doubled each time. @default {LISTEN_BACKOFF_MS} */
  backoffMs?: number;
  /** Time a listener must serve to reset the count of attempts, in ms. @default {LISTEN_STABLE_MS} */
  stableMs?: number;
}

/** A listener that is started again when it dies; see {@linkcode listen}. */
export interface Listener {
  /**
   * Resolves after {@linkcode Listener.shutdown}; rejects with a {@linkcode ListenerDeadError}
   * when the listener died and could not listen again within its retries.
   */
  readonly finished: Promise<void>;
  /** Stops accepting and waits for in-flight requests, as `Deno.HttpServer.shutdown`. */
  shutdown(): Promise<void>;
}

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

/**
 * Serves `handler` with `Deno.serve`. The first listen throws as `Deno.serve` does (port in use,
 * permission). If the listener dies later (its `finished` rejects, e.g. EMFILE on `accept`), it
 * is started again after `backoffMs`, `2 × backoffMs`, …; after `retries` failed or short-lived
 * new starts in a row, {@linkcode Listener.finished} rejects, so the caller can shut down and exit
 * with an error rather than keep running without listening.
 */
export function listen(options: ListenOptions): Listener {
  const retries = options.retries ?? LISTEN_RETRIES;
  const backoffMs = options.backoffMs ?? LISTEN_BACKOFF_MS;
  const stableMs = options.stableMs ?? LISTEN_STABLE_MS;
  const { logger } = options;
  let restarts = 0;
  let stopping = false;
  let wake: (() => void) | undefined;

  const start = () =>
    Deno.serve({
      hostname: options.hostname,
      port: options.port,
      reusePort: options.reusePort ?? false,
      onListen: (addr) => options.onListen?.(addr as Deno.NetAddr, restarts),
    }, options.handler);

  let server = start();
  const finished = (async () => {
    let attempts = 0;
    while (true) {
      const startedAt = performance.now();
      let failure: unknown;
      try {
        await server.finished;
      } catch (error) {
        failure = error;
      }
      if (stopping) return;
      if (performance.now() - startedAt >= stableMs) attempts = 0;
      // A listener that ends without an error while not stopping is dead all the same.
      let reason = failure === undefined ? "listener closed" : messageOf(failure);
      while (true) {
        if (attempts >= retries) {
          throw new ListenerDeadError(
            `Cannot listen on ${options.hostname}:${options.port}: gave up after ${attempts} ` +
              `new starts, last error: ${reason}`,
            { cause: failure },
          );
        }
        const delay = backoffMs * 2 ** attempts;
        attempts++;
        logger.error("listener_failed", {
          error: reason,
          attempt: attempts,
          retries,
          retry_in_ms: delay,
        });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        if (stopping) return;
        restarts++;
        try {
          server = start();
          break;
        } catch (error) {
          restarts--;
          failure = error;
          reason = messageOf(error);
        }
      }
    }
  })();
  // The caller may only look at `finished` later; a rejection is never unhandled meanwhile.
  finished.catch(() => {});

  return {
    finished,
    async shutdown() {
      stopping = true;
      wake?.();
      await server.shutdown().catch(() => {});
      await finished.catch(() => {});
    },
  };
}
