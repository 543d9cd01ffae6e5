import { Hono } from "hono";
import type { Rules } from "../../rules/rules_holder.ts";
import type { RateLimitRule } from "../../rules/types.ts";
import { adminAuth, type AdminAuthOptions } from "../middleware/admin_auth.ts";

/** Options for {@linkcode createRulesRoutes}. */
export interface RulesRoutesOptions {
  /** The node's rules; `undefined`: none loaded (the answer lists no domain). */
  rules: Rules | undefined;
  /** Bearer-token rules of the API (a read: the token only with `readAuth`). @default {open} */
  auth?: AdminAuthOptions;
}

/** One rule as `GET /api/rules` shows it. */
function ruleView(rule: RateLimitRule) {
  return {
    path: rule.path,
    name: rule.name ?? null,
    unlimited: rule.unlimited,
    requests_per_unit: rule.limit,
    unit: rule.unit ?? null,
    unit_multiplier: rule.unitMultiplier ?? 1,
    window_ms: rule.windowMs,
    algorithm: rule.algorithm,
    burst: rule.burst ?? null,
    refill_rate: rule.refillRate ?? null,
    shadow_mode: rule.shadowMode,
    detailed_metric: rule.detailedMetric,
    replaces: rule.replaces,
  };
}

/**
 * `GET /rules` (mounted under `/api`): the rules in force on this node (files, their hash, when
 * they were loaded, every domain with its rules in file order) and how the last reload went, so an
 * operator sees at once whether an edit was taken or refused (the old rules then stay).
 */
export function createRulesRoutes(options: RulesRoutesOptions): Hono {
  const app = new Hono();
  app.use("/rules", adminAuth(options.auth));
  app.get("/rules", (c) => {
    const rules = options.rules;
    const summary = rules?.current().summary();
    const last = rules?.lastReload;
    return c.json({
      path: rules?.path ?? null,
      files: summary?.files ?? [],
      hash: summary?.hash ?? "",
      loaded_at: summary?.loadedAt ?? null,
      last_reload: last === undefined ? null : {
        result: last.result,
        at: last.at.toISOString(),
        issues: last.issues,
      },
      domains: (summary?.domains ?? []).map((d) => ({
        domain: d.domain,
        rules: d.rules.map(ruleView),
      })),
    });
  });
  return app;
}
