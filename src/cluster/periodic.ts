/**
 * The background loop of the cluster's periodic jobs (active counters, node figures): a first run
 * at once, then one every interval after the previous run finished, so runs never overlap.
 *
 * @module
 */

/** Runs `run` now and then every `intervalMs` after each run ends, until stopped. */
export class Periodic {
  readonly #intervalMs: number;
  readonly #run: () => Promise<void>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #started = false;

  /** `run` reports its own failures: a rejection is swallowed and the loop goes on. */
  constructor(intervalMs: number, run: () => Promise<void>) {
    this.#intervalMs = intervalMs;
    this.#run = run;
  }

  /** Whether {@linkcode Periodic.start} was called and {@linkcode Periodic.stop} was not. */
  get started(): boolean {
    return this.#started;
  }

  /** Runs once now, then every interval after the previous run finished. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const loop = () => {
      this.#running = this.#run().catch(() => {}).finally(() => {
        this.#running = undefined;
        if (this.#started) this.#timer = setTimeout(loop, this.#intervalMs);
      });
    };
    loop();
  }

  /** Stops the loop and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#started = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
