/**
 * `POST /json`: Envoy's rate limit service protocol over plain HTTP, for clients without gRPC, as
 * envoyproxy/ratelimit's `/json`: a `RateLimitRequest` in proto3 JSON (`src/envoy/json.ts`), the
 * `RateLimitResponse` in proto3 JSON, 200 when the overall code is OK, 429 when it is OVER_LIMIT,
 * 400 (`invalid_request`) for a request the protocol refuses (bad JSON, an empty domain, no
 * descriptors, a bad unit). Same decisions as the gRPC server: one `ShouldRateLimit`.
 *
 * @module
 */
import { Hono } from "hono";
import { ApiError } from "../../errors.ts";
import { rlsRequestFromJson, rlsResponseToJson } from "../../envoy/json.ts";
import { RLS_CODE } from "../../envoy/messages.ts";
import { RlsInvalidArgumentError, type ShouldRateLimit } from "../../envoy/service.ts";
import { MAX_BODY_BYTES, readJsonBody } from "../body.ts";
import { throwIssues, type ValidationIssue } from "../validate.ts";

/** The route of `POST /json`. */
export function createEnvoyJsonRoutes(shouldRateLimit: ShouldRateLimit): Hono {
  const app = new Hono();
  app.post("/json", async (c) => {
    const body = await readJsonBody(c, { maxBytes: MAX_BODY_BYTES });
    const issues: ValidationIssue[] = [];
    const request = rlsRequestFromJson(body, issues);
    throwIssues(issues);
    let response;
    try {
      response = await shouldRateLimit(request);
    } catch (error) {
      if (error instanceof RlsInvalidArgumentError) {
        throw new ApiError(400, "invalid_request", error.message);
      }
      throw error;
    }
    return c.json(
      rlsResponseToJson(response),
      response.overallCode === RLS_CODE.OVER_LIMIT ? 429 : 200,
    );
  });
  return app;
}
