/**
 * Fuzz: seeded random requests (JSON values, check-shaped bodies, mutated JSON, random bytes,
 * deep nesting, random methods, paths and content types) against every route. Never a 5xx, never
 * a crash. Rerun a failure with `FUZZ_SEED=<seed> deno task test tests/http/fuzz_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { jsonRequest, makeTestApp } from "../_helpers/app.ts";
import {
  attackAnswerProblem,
  attackFetchRequest,
  describeAttack,
  randomAttackRequest,
  randomBody,
  randomContentType,
  randomMethod,
  randomPath,
} from "../_helpers/fuzz.ts";
import { Rng } from "../_helpers/random.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0x5eed_2026);
const CASES = 3000;
/** Stop early past this, so a slow machine cannot make the test run away. */
const TIME_BUDGET_MS = 30_000;

interface FuzzRequest {
  path: string;
  init: RequestInit;
}

function randomRequest(rng: Rng): FuzzRequest {
  const method = randomMethod(rng);
  const headers: Record<string, string> = {};
  const type = randomContentType(rng);
  if (type !== undefined) headers["content-type"] = type;
  const init: RequestInit = { method, headers };
  if (method !== "GET" && method !== "HEAD") init.body = randomBody(rng);
  return { path: randomPath(rng), init };
}

function describe(request: FuzzRequest): string {
  const body = request.init.body;
  const shown = typeof body === "string"
    ? body.slice(0, 200)
    : body instanceof Uint8Array
    ? `<${body.length} bytes>`
    : "";
  return `${request.init.method} ${request.path.slice(0, 200)} ${shown}`;
}

/** Checks one answer: below 500, and JSON with an error code when 4xx (HEAD has no body). */
async function assertSane(res: Response, request: FuzzRequest, where: string): Promise<void> {
  assert.ok(res.status < 500, `${where}: status ${res.status} for ${describe(request)}`);
  const text = await res.text();
  if (request.init.method === "HEAD") return;
  const decision = request.init.method === "POST" && /^\/check\/?(\?|$)/.test(request.path) &&
    (res.status === 200 || res.status === 429);
  if (decision) {
    assert.equal(typeof JSON.parse(text).allowed, "boolean", `${where}: ${text}`);
  } else if (res.status >= 400) {
    assert.equal(typeof JSON.parse(text).error?.code, "string", `${where}: ${text}`);
  }
}

Deno.test(`fuzz: ${CASES} random requests through app.request() never get a 5xx (seed ${SEED})`, async () => {
  const rng = new Rng(SEED);
  const { app } = makeTestApp();
  const started = Date.now();
  const statuses = new Map<number, number>();
  let n = 0;
  for (; n < CASES && Date.now() - started < TIME_BUDGET_MS; n++) {
    const request = randomRequest(rng);
    const where = `seed ${SEED} case ${n}`;
    const res = await app.request(request.path, request.init);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    await assertSane(res, request, where);
    if (n % 500 === 0) assert.equal((await app.request("/health")).status, 200, where);
  }
  assert.ok(n >= 500, `only ${n} cases ran within ${TIME_BUDGET_MS} ms (seed ${SEED})`);
  // The fuzz reached the deciding code, not only the validators.
  assert.ok((statuses.get(200) ?? 0) > 50, `statuses ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(400) ?? 0) > 50, `statuses ${JSON.stringify([...statuses])}`);
});

Deno.test(`fuzz: random bodies over real HTTP leave the server answering (seed ${SEED})`, async () => {
  const rng = new Rng(SEED ^ 0xa5a5a5a5);
  const { app } = makeTestApp();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    for (let n = 0; n < 300; n++) {
      const request = randomRequest(rng);
      const where = `seed ${SEED ^ 0xa5a5a5a5} case ${n}`;
      const res = await fetch(url + request.path, {
        ...request.init,
        signal: AbortSignal.timeout(10_000),
      });
      await assertSane(res, request, where);
    }
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

/** Attack requests per run: each kind (peek, admin call, check, batch) a quarter of them. */
const ATTACK_CASES = 200;
/** A client blocked at 2 per hour, whose state no other client's request may change. */
const VICTIM = { key: "victim", limit: 2, window_ms: 3_600_000 };
const VICTIM_PEEK = `/check/victim?limit=${VICTIM.limit}&window_ms=${VICTIM.window_ms}`;

Deno.test(`fuzz: issue 9 attack inputs on the embedded store: no 5xx, a blocked client stays blocked (seed ${SEED})`, async () => {
  const rng = new Rng(SEED ^ 0x0909_0909);
  const { app } = makeTestApp();
  for (const status of [200, 200, 429]) {
    assert.equal((await app.request("/check", jsonRequest(VICTIM))).status, status);
  }
  const started = Date.now();
  const kinds = new Map<string, number>();
  let n = 0;
  for (; n < ATTACK_CASES && Date.now() - started < TIME_BUDGET_MS; n++) {
    const attack = randomAttackRequest(rng, n, VICTIM.key);
    const where = `seed ${SEED} case ${n} (${describeAttack(attack)})`;
    const res = await app.fetch(attackFetchRequest(attack));
    const problem = attackAnswerProblem(attack, res.status, await res.text());
    assert.equal(problem, undefined, `${where}: ${problem}`);
    kinds.set(attack.kind, (kinds.get(attack.kind) ?? 0) + 1);
    // No request of another client, nor a peek of the victim's own key, unblocks it.
    const victim = await app.request(VICTIM_PEEK);
    const seen = await victim.json();
    // Answered from the store (429), or refused (503): never allowed.
    assert.ok(
      victim.status === 429 && seen.current_count === 2 || victim.status === 503,
      `${where}: victim ${victim.status} ${JSON.stringify(seen)}`,
    );
  }
  assert.equal((await app.request("/health")).status, 200);
  assert.ok(n >= 40, `only ${n} attack cases ran within ${TIME_BUDGET_MS} ms: ${[...kinds]}`);
});
