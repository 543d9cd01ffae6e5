/**
 * Every `curl` example of the README runs against a real node, in README order, and its answer is
 * compared with the one the README shows (see `tests/_helpers/readme_examples.ts` for what counts
 * as an example and its answer), so the README cannot drift from the service.
 *
 * The node runs on the embedded store, as `deno task start` does, with a known admin token that
 * stands for the README's `$TOKEN`. An example the test cannot parse or run fails it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startNode } from "../_helpers/node_process.ts";
import { integration } from "../_helpers/options.ts";
import {
  answerProblems,
  type CurlExample,
  parseCurl,
  parseShell,
  readmeCurlExamples,
} from "../_helpers/readme_examples.ts";

const README = new URL("../../README.md", import.meta.url);
const TOKEN = "readme-examples-admin-token";
const VARS = { TOKEN, RATELIMITER_ADMIN_TOKEN: TOKEN };
/** The README's examples address one local node on the default port. */
const README_ORIGIN = /^(?:https?:\/\/)?(?:localhost|127\.0\.0\.1):8000(?=\/|$)/;

/** The status an example's shown answer implies: a denial is 429, an error some 4xx, else 200. */
function expectedStatus(answer: unknown): "200" | "429" | "4xx" {
  if (answer === null || typeof answer !== "object") return "200";
  if ("error" in answer) return "4xx";
  return (answer as { allowed?: unknown }).allowed === false ? "429" : "200";
}

async function run(example: CurlExample, origin: string): Promise<void> {
  const where = `README.md:${example.line} (${example.method} ${example.url})`;
  assert.match(example.url, README_ORIGIN, `${where}: the example must address localhost:8000`);
  const headers = new Headers(example.headers);
  // curl's default for -d, which fetch would send as text/plain.
  if (example.body !== undefined && !headers.has("content-type")) {
    headers.set("content-type", "application/x-www-form-urlencoded");
  }
  const res = await fetch(example.url.replace(README_ORIGIN, origin), {
    method: example.method,
    headers,
    body: example.body ?? null,
  });
  const text = await res.text();
  const status = expectedStatus(example.answer);
  const statusOk = status === "4xx"
    ? res.status >= 400 && res.status < 500
    : res.status === Number(status);
  assert.ok(statusOk, `${where}: expected status ${status}, received ${res.status}: ${text}`);
  if (example.answer === undefined) return;
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, `${where}: not JSON`);
  const problems = answerProblems(example.answer, JSON.parse(text));
  assert.deepEqual(
    problems,
    [],
    `${where}: the answer differs from README.md:${example.answerLine}:\n${
      problems.join("\n")
    }\nreceived: ${text}`,
  );
}

Deno.test({
  ...integration,
  name: "README: every curl example runs against a node and answers as shown",
  async fn(t) {
    const { examples, errors, curlWords } = readmeCurlExamples(
      await Deno.readTextFile(README),
      VARS,
    );
    assert.deepEqual(errors, [], `README curl examples that cannot be run:\n${errors.join("\n")}`);
    assert.equal(
      examples.length,
      curlWords,
      `${curlWords} curl commands in README code blocks, ${examples.length} understood`,
    );
    assert.ok(examples.length >= 14, `only ${examples.length} curl examples found`);
    await using node = await startNode({ env: { RATELIMITER_ADMIN_TOKEN: TOKEN } });
    for (const example of examples) {
      await t.step(`README.md:${example.line} ${example.method} ${example.url}`, async () => {
        await run(example, node.url);
      });
    }
  },
});

Deno.test("parseShell() joins continuations and multi-line single quotes, and expands $NAME", () => {
  const commands = parseShell(
    [
      `curl -X PUT localhost:8000/a -H "$AUTH" \\`,
      `  -d '{"a": [`,
      `  1]}'   # {"ok":true}`,
      `curl localhost:8000/b`,
    ].join("\n"),
    new Map([["AUTH", "Authorization: Bearer t"]]),
  );
  assert.deepEqual(commands, [
    {
      words: [
        "curl",
        "-X",
        "PUT",
        "localhost:8000/a",
        "-H",
        "Authorization: Bearer t",
        "-d",
        '{"a": [\n  1]}',
      ],
      comment: '{"ok":true}',
      line: 1,
    },
    { words: ["curl", "localhost:8000/b"], comment: undefined, line: 4 },
  ]);
});

Deno.test("parseShell() refuses what it does not understand", () => {
  assert.throws(() => parseShell("curl $UNSET", new Map()), /"\$UNSET": not defined/);
  assert.throws(() => parseShell("curl a | jq", new Map()), /"\|" is not supported/);
  assert.throws(() => parseShell("curl 'a", new Map()), /unterminated '/);
});

Deno.test("parseCurl() reads the method, headers, body and flags", () => {
  assert.deepEqual(parseCurl(["curl", "-si", "localhost:8000/x", "-d", "{}", "-H", "A: b"]), {
    method: "POST",
    url: "localhost:8000/x",
    headers: [["A", "b"]],
    body: "{}",
    include: true,
  });
  assert.equal(parseCurl(["curl", "localhost:8000/x"]).method, "GET");
  assert.deepEqual(parseCurl(["curl", "-f", "--json", '{"a":1}', "localhost:8000/x"]).headers, [
    ["content-type", "application/json"],
    ["accept", "application/json"],
  ]);
  assert.throws(() => parseCurl(["curl", "-o", "f", "localhost:8000/x"]), /"-o": not supported/);
  assert.throws(() => parseCurl(["curl", "a", "b"]), /expected one URL/);
  assert.throws(() => parseCurl(["curl", "-d", "@body.json", "a"]), /reads a file/);
});

Deno.test("readmeCurlExamples() takes a following json block or a trailing JSON comment as the answer", () => {
  const markdown = [
    "```sh",
    "TOKEN=...",
    "```",
    "```sh",
    "curl localhost:8000/a",
    'curl localhost:8000/b -H "Authorization: Bearer $TOKEN"   # {"b":1}',
    "```",
    "text",
    "```json",
    '{"a": 1}',
    "```",
    "## Heading",
    "```sh",
    "curl localhost:8000/c",
    "```",
    "## Next",
    "```json",
    '{"c": 1}',
    "```",
    "```sh",
    "curl localhost:8000/d -o x",
    "```",
  ].join("\n");
  const { examples, errors, curlWords } = readmeCurlExamples(markdown, { TOKEN: "t" });
  assert.deepEqual(
    examples.map((e) => [e.line, e.url, e.answer, e.answerLine]),
    [[5, "localhost:8000/a", { a: 1 }, 10], [6, "localhost:8000/b", { b: 1 }, 6], [
      14,
      "localhost:8000/c",
      undefined,
      undefined,
    ]],
  );
  assert.deepEqual(examples[1]!.headers, [["Authorization", "Bearer t"]]);
  assert.deepEqual(errors, ['line 21: Cannot run curl option "-o": not supported']);
  assert.equal(curlWords, 4);
  // A curl outside a shell block is counted but not run, so the counts differ and the test fails;
  // the word in prose or a code comment is not a command.
  const other = readmeCurlExamples("```text\ncurl localhost:8000/a\n```\n```ts\n// curl it\n```");
  assert.deepEqual([other.examples.length, other.curlWords], [0, 1]);
  assert.deepEqual(readmeCurlExamples("```sh\nTOKEN=...\n```").errors, [
    "line 2: no value given for TOKEN",
  ]);
});

Deno.test("answerProblems() compares shown fields by type, and by value unless they vary", () => {
  const shown = {
    allowed: true,
    retry_after_ms: 0,
    limits: [{ key: "a", "...": "..." }, "..."],
    next: null,
  };
  assert.deepEqual(
    answerProblems(shown, {
      allowed: true,
      retry_after_ms: 5,
      limits: [{ key: "a", x: 1 }, {}],
      next: null,
      extra: 1,
    }),
    [],
  );
  assert.deepEqual(
    answerProblems(shown, { allowed: false, retry_after_ms: "5", limits: [], next: "c" }),
    [
      "$.allowed: expected true, received false",
      '$.retry_after_ms: expected number, received "5"',
      "$.limits[0]: missing (received 0 items)",
      '$.next: expected null null, received "c"',
    ],
  );
});
