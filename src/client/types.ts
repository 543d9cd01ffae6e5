/**
 * The request and answer shapes of the service's HTTP API, as the client sends and reads them.
 *
 * Written out as plain types so the client imports nothing at run time (no zod, no hono) and a
 * consumer's type checker needs no npm package either. They cannot drift from the routes:
 * `tests/client/types_test.ts` type-checks each one against the zod schema the route validates
 * with (`src/http/check_input.ts`, `src/http/routes/admin.ts`) and the route's answer types.
 *
 * @module
 */

/** The algorithms a check may name. */
export type Algorithm =
  | "sliding_log"
  | "sliding_window"
  | "fixed_window"
  | "token_bucket"
  | "gcra";

/** The fields of one limit beside its key; `null` means absent, as on the wire. */
export interface LimitParams {
  /** Units per window (the capacity for `token_bucket`), 1 to 1,000,000. */
  limit?: number | null | undefined;
  /** Window in milliseconds, 1 to 2,592,000,000. */
  window_ms?: number | null | undefined;
  /** The algorithm; the node's default when absent. */
  algorithm?: Algorithm | null | undefined;
  /** Units this request uses, 0 (a peek) to 1,000,000. @default {1} */
  cost?: number | null | undefined;
  /** `gcra` only: the burst. */
  burst?: number | null | undefined;
  /** `token_bucket` only: tokens refilled per window. */
  refill_rate?: number | null | undefined;
}

/** One limit of a multi-limit check. */
export interface LimitItem extends LimitParams {
  /** The rate-limit key: 1 to 512 bytes of UTF-8, no NUL. */
  key: string;
}

/** A single-key `POST /check` body. */
export interface SingleCheckRequest extends LimitItem {
  /** Absent: a single-key check has no `limits`. */
  limits?: undefined;
}

/**
 * A multi-limit `POST /check` body: 1 to 16 limits decided together and atomically; their keys
 * must share one Redis Cluster slot tag (e.g. `{tenant42}:user` and `{tenant42}:ip`).
 */
export interface MultiCheckRequest {
  /** The limits of the check, 1 to 16. */
  limits: LimitItem[];
  /** Absent: a multi-limit check has no top-level `key`. */
  key?: undefined;
}

/** A `POST /check` body: exactly one of `key` (with its fields) or `limits`. */
export type CheckRequest = SingleCheckRequest | MultiCheckRequest;

/** The query of a peek (`GET /check/{key}`): the parameters the key is checked with. */
export interface PeekParams {
  /** Units per window (the capacity for `token_bucket`). */
  limit?: number | undefined;
  /** Window in milliseconds. */
  window_ms?: number | undefined;
  /** The algorithm. */
  algorithm?: Algorithm | undefined;
  /** `gcra` only: the burst. */
  burst?: number | undefined;
  /** `token_bucket` only: tokens refilled per window. */
  refill_rate?: number | undefined;
}

/** The answer of one decided check, as the node sends it. */
export interface CheckAnswer {
  /** Whether the request may go ahead (status 200; 429 when false). */
  allowed: boolean;
  /** The rate-limit key. */
  key: string;
  /** The algorithm. */
  algorithm: string;
  /** Units in use after this request. */
  current_count: number;
  /** Units still available. */
  remaining: number;
  /** 0 when allowed; else seconds until this request would fit (at least 1). */
  retry_after_seconds: number;
  /** 0 when allowed; else milliseconds until this request would fit. */
  retry_after_ms: number;
  /** Milliseconds until the next unit frees; 0 when nothing is in use. */
  reset_after_ms: number;
  /** Units per window (the capacity for `token_bucket`). */
  limit: number;
  /** Window in milliseconds. */
  window_ms: number;
  /** `gcra` only: the burst in effect. */
  burst?: number;
  /** `token_bucket` only: tokens refilled per window. */
  refill_rate?: number;
  /** Present (true) when the node's failure mode answered, not the shared store. */
  degraded?: true;
}

/** The answer of a multi-limit check: the deciding limit's fields plus every limit's answer. */
export interface MultiCheckAnswer extends CheckAnswer {
  /** The limits of the check, 1 to 16. */
  limits: CheckAnswer[];
  /** Index in `limits` of the deciding denying limit, or null when allowed. */
  denied_index: number | null;
  /** Key of the deciding denying limit, or null when allowed. */
  denied_key: string | null;
}

/** One item of a `POST /check/batch` answer: an answer with its own status, 200 or 429. */
export type BatchAnswerItem = (CheckAnswer | MultiCheckAnswer) & { status: number };

/** One node as `GET /api/nodes` lists it. */
export interface NodeInfo {
  /** The node's id. */
  id: string;
  /** Host and port the node listens on. */
  address: string;
  /** `Up` while the last heartbeat is younger than the node TTL, else `Down`. */
  state: string;
  /** ISO 8601 time the node registered. */
  registered_at: string;
  /** ISO 8601 time of the last heartbeat. */
  last_heartbeat_at: string;
  /** Milliseconds since the last heartbeat. */
  last_heartbeat_age_ms: number;
  /** The node's version. */
  version: string;
  /** True for the node that answered. */
  self: boolean;
}

/** One per-key override, as `/api/limits` shows it. */
export interface OverrideInfo {
  /** The rate-limit key. */
  key: string;
  /** Units per window (the capacity for `token_bucket`). */
  limit: number;
  /** Window in milliseconds. */
  window_ms: number;
  /** The algorithm. */
  algorithm: Algorithm | null;
  /** `gcra` only: the burst. */
  burst: number | null;
  /** `token_bucket` only: tokens refilled per window. */
  refill_rate: number | null;
  /** ISO 8601 time of the last change. */
  updated_at: string;
}

/** The answer of `GET /api/limits`. */
export interface LimitsList {
  /** The node's default limit. */
  default_limit: number;
  /** The node's default window, in milliseconds. */
  default_window_ms: number;
  /** The node's default algorithm. */
  default_algorithm: Algorithm;
  /** Every override, sorted by key. */
  overrides: OverrideInfo[];
}

/** The body of `PUT /api/limits/{key}`; `null` means absent. */
export interface OverrideRequest {
  /** Units per window (the capacity for `token_bucket`). */
  limit: number;
  /** Window in milliseconds. */
  window_ms?: number | null | undefined;
  /** The algorithm. */
  algorithm?: Algorithm | null | undefined;
  /** `gcra` only: the burst. */
  burst?: number | null | undefined;
  /** `token_bucket` only: tokens refilled per window. */
  refill_rate?: number | null | undefined;
}

/** The answer of `PUT /api/limits/{key}`. */
export interface OverridePutAnswer extends OverrideInfo {
  /** Always true: the override is stored. */
  updated: true;
  /** False when an existing override was replaced. */
  created: boolean;
}

/** The paging query of `/api/counters` and `/api/blocks`. */
export interface PageParams {
  /** The previous page's `next_cursor`; omit to start. */
  cursor?: string | undefined;
  /** Page size, 1 to 1,000. @default {100} */
  limit?: number | undefined;
  /** Only keys starting with this. */
  prefix?: string | undefined;
}

/** One counter as `GET /api/counters` lists it, under the key's effective limit. */
export interface CounterInfo {
  /** The rate-limit key. */
  key: string;
  /** The algorithm. */
  algorithm: string;
  /** Units in use in the current window. */
  count: number;
  /** Units per window (the capacity for `token_bucket`). */
  limit: number;
  /** Window in milliseconds. */
  window_ms: number;
  /** Units still available. */
  remaining: number;
  /** True when the next request of cost 1 would be refused. */
  blocked: boolean;
  /** Seconds until a request fits again; 0 when it does now. */
  retry_after_seconds: number;
  /** Milliseconds until the next unit frees. */
  reset_after_ms: number;
  /** True when an operator's override set the limit. */
  override: boolean;
}

/** A page of `GET /api/counters`. */
export interface CountersPage {
  /** The counters of this page. */
  counters: CounterInfo[];
  /** Pass to the next call; null on the last page. */
  next_cursor: string | null;
}

/** One blocked key as `GET /api/blocks` lists it. */
export interface BlockedKey {
  /** The rate-limit key. */
  key: string;
  /** The algorithm. */
  algorithm: string;
  /** Units in use. */
  current_count: number;
  /** Units per window (the capacity for `token_bucket`). */
  limit: number;
  /** Window in milliseconds. */
  window_ms: number;
  /** Seconds until a request fits again; 0 when it does now. */
  retry_after_seconds: number;
  /** True when an operator's override set the limit. */
  override: boolean;
}

/** A page of `GET /api/blocks`. */
export interface BlocksPage {
  /** True when the next request of cost 1 would be refused. */
  blocked: BlockedKey[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** The answer of `POST /api/counters/{key}/reset`. */
export interface ResetAnswer {
  /** The rate-limit key. */
  key: string;
  /** Whether a counter existed and was removed. */
  reset: boolean;
}

/** The answer of `DELETE /api/limits/{key}`. */
export interface DeleteAnswer {
  /** The rate-limit key. */
  key: string;
  /** Always true: the override is gone. */
  deleted: true;
}
