/**
 * The rules a node runs with, and their reloads: on a change of the file or directory (watched),
 * and on demand (`main.ts` calls {@linkcode Rules.reload} on SIGHUP).
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { Logger } from "../log.ts";
import { readRulesSources } from "./load_rules.ts";
import { parseRules, rulesHash } from "./parse_rules.ts";
import { emptyRuleSet } from "./rule_set.ts";
import { RulesError } from "./rules_error.ts";
import type { RuleSet } from "./types.ts";

/** The outcome of the last reload, for `GET /api/rules`. */
export interface RulesReload {
  /** `ok`: the new rules are in force; `error`: refused, the old ones stay. */
  result: "ok" | "error";
  /** When it finished. */
  at: Date;
  /** Why it failed (`error` only): each problem naming file, document and path. */
  issues: string[];
}

/** Options for {@linkcode Rules.load}. */
export interface RulesOptions {
  /** The rules file or directory (`RATELIMITER_RULES_FILE`); `undefined`: no rules, no watch. */
  path: string | undefined;
  /** Receives `rules_loaded`, `rules_reloaded`, `rules_reload_failed`, `rules_watch_failed`. */
  logger: Logger;
  /** Called once per reload that read the files, with its result (the reloads metric). */
  onReload?: (result: "ok" | "error") => void;
  /** Quiet time after the last file event before reloading, in ms. @default {100} */
  debounceMs?: number;
  /** Whether to reload when the files change. @default {true} */
  watch?: boolean;
}

/**
 * Holds the current {@linkcode RuleSet} and swaps it whole on a valid reload, so a request sees
 * either the old rules or the new ones, never a mix. An invalid reload keeps the old rules, counts
 * `error` and logs `rules_reload_failed` once per distinct set of problems.
 */
export class Rules {
  readonly #path: string | undefined;
  readonly #logger: Logger;
  readonly #onReload: (result: "ok" | "error") => void;
  readonly #debounceMs: number;
  #current: RuleSet;
  /** Hash of the files last read, valid or not: a watch event with nothing changed is skipped. */
  #lastHash: string;
  #lastFailure = "";
  #lastReload: RulesReload | undefined;
  #watcher: Deno.FsWatcher | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<boolean> | undefined;
  /** A reload was asked for while one ran: `undefined` none, else whether it was forced. */
  #again: boolean | undefined;
  #closed = false;

  private constructor(options: RulesOptions, current: RuleSet) {
    this.#path = options.path;
    this.#logger = options.logger;
    this.#onReload = options.onReload ?? (() => {});
    this.#debounceMs = options.debounceMs ?? 100;
    this.#current = current;
    this.#lastHash = current.summary().hash;
  }

  /**
   * Loads the rules at `options.path` and starts watching it. Throws a {@linkcode RulesError}
   * listing every problem when they are invalid (the node must not start with them).
   */
  static async load(options: RulesOptions): Promise<Rules> {
    if (options.path === undefined) return new Rules(options, emptyRuleSet());
    const rules = new Rules(options, parseRules(await readRulesSources(options.path)));
    rules.#logLoaded("rules_loaded");
    if (options.watch ?? true) rules.#watch(options.path);
    return rules;
  }

  /** The rules in force now. Cheap: call it for every request rather than keeping the result. */
  current(): RuleSet {
    return this.#current;
  }

  /** The outcome of the last reload that read the files; `undefined` before the first. */
  get lastReload(): RulesReload | undefined {
    return this.#lastReload;
  }

  /** The rules file or directory, if any. */
  get path(): string | undefined {
    return this.#path;
  }

  /**
   * Reads and parses the rules again and swaps them in if valid. `force` (SIGHUP) reloads even
   * when the files did not change; otherwise an unchanged file is not parsed again. Resolves to
   * whether the rules in force are the files' current contents. Reloads never overlap: one asked
   * for while another runs follows it.
   */
  reload(force = true): Promise<boolean> {
    if (this.#path === undefined || this.#closed) return Promise.resolve(true);
    if (this.#running !== undefined) {
      this.#again = (this.#again ?? false) || force;
      return this.#running;
    }
    this.#running = (async () => {
      let result = false;
      let forced: boolean | undefined = force;
      try {
        while (forced !== undefined && !this.#closed) {
          this.#again = undefined;
          result = await this.#reloadOnce(this.#path!, forced);
          forced = this.#again;
        }
      } finally {
        this.#running = undefined;
      }
      return result;
    })();
    return this.#running;
  }

  async #reloadOnce(path: string, force: boolean): Promise<boolean> {
    let hash = "";
    try {
      const sources = await readRulesSources(path);
      hash = rulesHash(sources);
      if (!force && hash === this.#lastHash) return this.#lastFailure === "";
      this.#lastHash = hash;
      this.#current = parseRules(sources);
    } catch (error) {
      if (!(error instanceof RulesError)) throw error;
      if (hash !== "") this.#lastHash = hash;
      this.#lastReload = { result: "error", at: new Date(), issues: error.issues };
      this.#onReload("error");
      const failure = error.issues.join("\n");
      if (failure !== this.#lastFailure) {
        this.#lastFailure = failure;
        this.#logger.error("rules_reload_failed", {
          path,
          issues: error.issues,
          note: "the rules loaded before stay in force",
        });
      }
      return false;
    }
    this.#lastFailure = "";
    this.#lastReload = { result: "ok", at: new Date(), issues: [] };
    this.#onReload("ok");
    this.#logLoaded("rules_reloaded");
    return true;
  }

  #logLoaded(event: string): void {
    const summary = this.#current.summary();
    this.#logger.info(event, {
      path: this.#path,
      files: summary.files.length,
      domains: summary.domains.length,
      rules: summary.domains.reduce((n, d) => n + d.rules.length, 0),
      hash: summary.hash,
    });
  }

  /**
   * Watches the directory, or the file's directory: editors and Kubernetes replace a file by a
   * rename, which a watch on the file itself would miss. Any event there schedules a reload, which
   * skips files whose contents did not change.
   */
  #watch(path: string): void {
    let target = resolve(path);
    try {
      if (!Deno.statSync(target).isDirectory) target = dirname(target);
      this.#watcher = Deno.watchFs(target, { recursive: false });
    } catch (error) {
      this.#logger.warn("rules_watch_failed", {
        path,
        message: error instanceof Error ? error.message : String(error),
        note: "reload the rules with SIGHUP",
      });
      return;
    }
    const watcher = this.#watcher;
    (async () => {
      try {
        for await (const _event of watcher) this.#schedule();
      } catch (error) {
        if (!this.#closed) {
          this.#logger.warn("rules_watch_failed", {
            path,
            message: error instanceof Error ? error.message : String(error),
            note: "reload the rules with SIGHUP",
          });
        }
      }
    })();
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.reload(false).catch((error) => {
        this.#logger.error("rules_reload_failed", {
          path: this.#path,
          issues: [error instanceof Error ? error.message : String(error)],
        });
      });
    }, this.#debounceMs);
  }

  /** Stops watching; waits for a reload under way. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    await this.#running?.catch(() => {});
  }
}
