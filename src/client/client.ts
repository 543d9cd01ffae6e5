/**
 * The typed client of the service's HTTP API: checks, peeks, batches, multi-limit checks and the
 * management calls, each with a timeout, and a chosen answer when the service cannot answer.
 *
 * @module
 */
import { RatelimiterError, RatelimiterUnavailableError, type UnavailableReason } from "./errors.ts";
import type {
  BatchAnswerItem,
  BlocksPage,
  CheckAnswer,
  CheckRequest,
  CountersPage,
  DeleteAnswer,
  LimitsList,
  MultiCheckAnswer,
  MultiCheckRequest,
  NodeInfo,
  OverrideInfo,
  OverridePutAnswer,
  OverrideRequest,
  PageParams,
  PeekParams,
  ResetAnswer,
  SingleCheckRequest,
} from "./types.ts";

/**
 * What a check answers when the service cannot: `"open"` allows, `"closed"` denies (both marked
 * `unavailable: true`), `"throw"` throws a {@linkcode RatelimiterUnavailableError}.
 */
export type OnUnavailable = "open" | "closed" | "throw";

/** Options for {@linkcode createClient}. */
export interface ClientOptions {
  /** Base URL of a node, e.g. `http://127.0.0.1:8000`. */
  url: string;
  /** Longest wait for one call's whole answer, in milliseconds. @default {1000} */
  timeoutMs?: number;
  /**
   * What `check`, `peek` and `batch` answer when the service is unreachable, too slow, or answers
   * 5xx (e.g. 503 `store_unavailable`). Management calls always throw then.
   * @default {"open"}
   */
  onUnavailable?: OnUnavailable;
  /** The admin token, sent as `Authorization: Bearer <token>` on `/api` calls only. */
  token?: string;
  /** The `fetch` to use (a test double, or one with a custom agent). @default {globalThis.fetch} */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

/** Options of one call. */
export interface CallOptions {
  /** This call's timeout in milliseconds. @default {the client's timeoutMs} */
  timeoutMs?: number;
  /** Aborts the call; an abort rejects with the signal's reason (it is not "unavailable"). */
  signal?: AbortSignal;
}

/** A check's answer when the service could not decide; `allowed` is what `onUnavailable` says. */
export interface UnavailableAnswer {
  /** True with `onUnavailable: "open"`, false with `"closed"`. */
  allowed: boolean;
  /** Always true here: the service did not decide. */
  unavailable: true;
  /** Why the service could not answer. */
  reason: UnavailableReason;
  /** What happened, for a log line. */
  message: string;
  /** The key checked (the first key of a multi-limit check). */
  key: string;
}

/**
 * A check's result: the node's answer (`unavailable` absent), or an {@linkcode UnavailableAnswer}.
 * Narrow with `if (result.unavailable)`.
 */
export type CheckResult<A extends CheckAnswer = CheckAnswer> =
  | (A & { unavailable?: false })
  | UnavailableAnswer;

/** The result of a batch: one result per check, in order. */
export interface BatchResult {
  /** One result per check, in order. */
  results: CheckResult<BatchAnswerItem>[];
}

/** The per-key overrides (`/api/limits`). */
export interface LimitsApi {
  /** The defaults and every override; `prefix` keeps only keys starting with it. */
  list(params?: { prefix?: string }, options?: CallOptions): Promise<LimitsList>;
  /** One key's override; a key without one throws a {@linkcode RatelimiterError} `not_found`. */
  get(key: string, options?: CallOptions): Promise<OverrideInfo>;
  /** Sets or replaces a key's override. */
  put(key: string, override: OverrideRequest, options?: CallOptions): Promise<OverridePutAnswer>;
  /** Removes a key's override; none throws a {@linkcode RatelimiterError} `not_found`. */
  delete(key: string, options?: CallOptions): Promise<DeleteAnswer>;
}

/** The live counters (`/api/counters`). */
export interface CountersApi {
  /** One page of counters; pass `next_cursor` back as `cursor` for the next. */
  list(params?: PageParams, options?: CallOptions): Promise<CountersPage>;
  /** Removes a key's counters (every algorithm). */
  reset(key: string, options?: CallOptions): Promise<ResetAnswer>;
}

/** A client of one node, built by {@linkcode createClient}. */
export interface RatelimiterClient {
  /** Checks one key (counting it if allowed). A 429 is an answer with `allowed: false`. */
  check(request: SingleCheckRequest, options?: CallOptions): Promise<CheckResult<CheckAnswer>>;
  /** Checks several limits together and atomically: all consume or none does. */
  check(
    request: MultiCheckRequest,
    options?: CallOptions,
  ): Promise<CheckResult<MultiCheckAnswer>>;
  /** Checks one key or several limits. */
  check(
    request: CheckRequest,
    options?: CallOptions,
  ): Promise<CheckResult<CheckAnswer | MultiCheckAnswer>>;
  /** Reads a key's state without consuming (`GET /check/{key}`). */
  peek(key: string, params?: PeekParams, options?: CallOptions): Promise<CheckResult>;
  /** Many independent checks in one request (1 to 1,000), answered in order. */
  batch(checks: CheckRequest[], options?: CallOptions): Promise<BatchResult>;
  /** Every node of the cluster. */
  nodes(options?: CallOptions): Promise<NodeInfo[]>;
  /** The per-key overrides. */
  readonly limits: LimitsApi;
  /** The live counters. */
  readonly counters: CountersApi;
  /** One page of the keys at or over their limit. */
  blocks(params?: PageParams, options?: CallOptions): Promise<BlocksPage>;
}

const ON_UNAVAILABLE: readonly string[] = ["open", "closed", "throw"];

function timeoutOf(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`Invalid ${name}: expected a positive number, received ${value}`);
  }
  return value;
}

/**
 * A key as one path segment. `.` and `..` cannot be sent in a path through `fetch` (URL parsing
 * removes them, even as `%2E`), so they are refused here rather than sent to another route.
 */
function segment(key: string): string {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(
      `Invalid key: expected a non-empty string, received ${JSON.stringify(key)}`,
    );
  }
  if (key === "." || key === "..") {
    throw new TypeError(`Invalid key ${JSON.stringify(key)}: it cannot be addressed in a URL path`);
  }
  return encodeURIComponent(key);
}

function query(params: Record<string, string | number | undefined> | undefined): string {
  if (params === undefined) return "";
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) search.set(name, String(value));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

interface Answer {
  status: number;
  body: unknown;
}

/**
 * Creates a client of the node at `options.url`. Uses only `fetch` and `AbortSignal` (tested in
 * Deno and Node 20) and imports nothing else.
 *
 * Throws a `TypeError` for a URL that is not `http:` or `https:` or holds credentials (pass the
 * admin token as `token`), a `RangeError` for a timeout that is not a positive number.
 */
export function createClient(options: ClientOptions): RatelimiterClient {
  const base = new URL(options.url);
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError(`Invalid url: expected http: or https:, received ${base.protocol}`);
  }
  if (base.username !== "" || base.password !== "") {
    // Never echoed: a password in the URL is a secret.
    throw new TypeError(
      "Invalid url: credentials in the URL are not supported; pass token instead",
    );
  }
  const root = `${base.origin}${base.pathname}`.replace(/\/+$/, "");
  const defaultTimeout = timeoutOf(options.timeoutMs, 1000, "timeoutMs");
  const onUnavailable = options.onUnavailable ?? "open";
  if (!ON_UNAVAILABLE.includes(onUnavailable)) {
    throw new TypeError(
      `Invalid onUnavailable: expected "open", "closed" or "throw", received ${
        JSON.stringify(onUnavailable)
      }`,
    );
  }
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const token = options.token;

  /** Sends one call; answers its status and JSON, or throws one of the client's errors. */
  async function send(
    method: string,
    path: string,
    body: unknown,
    call: CallOptions,
    accept: readonly number[],
  ): Promise<Answer> {
    const timeoutMs = timeoutOf(call.timeoutMs, defaultTimeout, "timeoutMs");
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = call.signal === undefined ? timeout : AbortSignal.any([call.signal, timeout]);
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token !== undefined && path.startsWith("/api/")) headers.authorization = `Bearer ${token}`;
    let status: number;
    let text: string;
    try {
      const res = await doFetch(`${root}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal,
      });
      status = res.status;
      text = await res.text();
    } catch (error) {
      if (call.signal?.aborted) throw call.signal.reason;
      if (timeout.aborted) {
        throw new RatelimiterUnavailableError(
          "timeout",
          `No answer from ${method} ${root}${path} within ${timeoutMs} ms`,
          { cause: error },
        );
      }
      throw new RatelimiterUnavailableError(
        "network",
        `Cannot reach ${method} ${root}${path}: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
    }
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } })
      ?.error;
    if (status >= 500) {
      const code = typeof error?.code === "string" ? error.code : undefined;
      throw new RatelimiterUnavailableError(
        code === "store_unavailable" ? "store_unavailable" : "server_error",
        `${method} ${root}${path} answered ${status}${code === undefined ? "" : ` ${code}`}`,
        { status },
      );
    }
    if (accept.includes(status) && typeof parsed === "object" && parsed !== null) {
      return { status, body: parsed };
    }
    if (status >= 400 && status < 500) {
      throw new RatelimiterError(
        status,
        typeof error?.code === "string" ? error.code : "http_error",
        typeof error?.message === "string" ? error.message : `${method} ${path} answered ${status}`,
        error?.details,
      );
    }
    throw new RatelimiterUnavailableError(
      "server_error",
      `${method} ${root}${path} answered ${status} without the service's JSON`,
      { status },
    );
  }

  /** A check's call, with the client's answer when the service cannot decide. */
  async function decide<A>(
    key: string,
    run: () => Promise<A>,
  ): Promise<A | UnavailableAnswer> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof RatelimiterUnavailableError) || onUnavailable === "throw") throw error;
      return {
        allowed: onUnavailable === "open",
        unavailable: true,
        reason: error.reason,
        message: error.message,
        key,
      };
    }
  }

  const keyOf = (request: CheckRequest): string =>
    request.limits === undefined ? request.key : request.limits[0]?.key ?? "";

  const api = async <T>(method: string, path: string, call: CallOptions = {}, body?: unknown) =>
    (await send(method, `/api${path}`, body, call, [200])).body as T;

  const client: RatelimiterClient = {
    // The overloads are declared on the interface; this one implementation serves them all.
    check: ((request: CheckRequest, call: CallOptions = {}) =>
      decide(
        keyOf(request),
        async () => (await send("POST", "/check", request, call, [200, 429])).body as CheckAnswer,
      )) as RatelimiterClient["check"],
    peek: async (key, params, call = {}) => {
      const path = `/check/${segment(key)}${query(params as Record<string, string | number>)}`;
      return await decide(key, async () =>
        (await send("GET", path, undefined, call, [200, 429]))
          .body as CheckAnswer);
    },
    batch: async (checks, call = {}) => {
      try {
        const answer = await send("POST", "/check/batch", { checks }, call, [200]);
        return answer.body as BatchResult;
      } catch (error) {
        if (!(error instanceof RatelimiterUnavailableError) || onUnavailable === "throw") {
          throw error;
        }
        return {
          results: checks.map((check) => ({
            allowed: onUnavailable === "open",
            unavailable: true as const,
            reason: error.reason,
            message: error.message,
            key: keyOf(check),
          })),
        };
      }
    },
    nodes: async (call) => (await api<{ nodes: NodeInfo[] }>("GET", "/nodes", call)).nodes,
    limits: {
      list: async (params, call) => await api("GET", `/limits${query(params)}`, call),
      get: async (key, call) => await api("GET", `/limits/${segment(key)}`, call),
      put: async (key, override, call) =>
        await api("PUT", `/limits/${segment(key)}`, call, override),
      delete: async (key, call) => await api("DELETE", `/limits/${segment(key)}`, call),
    },
    counters: {
      list: async (params, call) => await api("GET", `/counters${query({ ...params })}`, call),
      reset: async (key, call) => await api("POST", `/counters/${segment(key)}/reset`, call),
    },
    blocks: async (params, call) => await api("GET", `/blocks${query({ ...params })}`, call),
  };
  return client;
}
