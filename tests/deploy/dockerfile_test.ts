/**
 * No Docker engine runs on the build machines, so the Dockerfile's invariants are checked as
 * text: pinned images, non-root user, no blanket permissions, and the same permissions as
 * `deno task compile` and `tools/node_permissions.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CONFIG_ENV_VARS } from "../../src/config.ts";
import {
  LIBRARY_ENV_VARS,
  NODE_ENV_VARS,
  NODE_TASKS,
  nodePermissionFlags,
  renderDenoJson,
  renderDockerfile,
} from "../../tools/node_permissions.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

interface Instruction {
  name: string;
  args: string;
  /** Index of the build stage (FROM) it belongs to. */
  stage: number;
}

/** Splits a Dockerfile into instructions, joining continuation lines and dropping comments. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (current === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue;
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    logical.push((current + line).trim());
    current = "";
  }
  let stage = -1;
  return logical.map((line) => {
    const [name, ...rest] = line.split(/\s+/);
    if (name!.toUpperCase() === "FROM") stage++;
    return { name: name!.toUpperCase(), args: rest.join(" "), stage };
  });
}

const dockerfile = parseDockerfile(read("Dockerfile"));
const tasks: Record<string, string> = JSON.parse(read("deno.json")).tasks;
const permissionTokens = (command: string) =>
  command.split(/\s+/).filter((t) => t.startsWith("--allow-") || t === "-A").sort();

function ciDenoVersion(): string {
  const match = /^DENO_VERSION=(\S+)$/m.exec(read(".ci/run"));
  assert.ok(match, ".ci/run sets DENO_VERSION");
  return match[1]!;
}

function compileRun(): string {
  const runs = dockerfile.filter((i) => i.name === "RUN" && /\bdeno compile\b/.test(i.args));
  assert.equal(runs.length, 1, "exactly one RUN deno compile");
  return runs[0]!.args;
}

Deno.test("Dockerfile pins every base image, Deno to the version CI uses", () => {
  const froms = dockerfile.filter((i) => i.name === "FROM").map((i) => i.args.split(/\s+/)[0]!);
  assert.ok(froms.length >= 2, "multi-stage");
  for (const image of froms) {
    const tag = /:([^/@]+)(@sha256:[0-9a-f]{64})?$/.exec(image)?.[1];
    assert.ok(tag !== undefined, `${image} has a tag`);
    assert.notEqual(tag, "latest", `${image} is not :latest`);
    assert.doesNotMatch(image, /\$/, `${image} is literal, not from an ARG`);
  }
  assert.equal(froms[0], `denoland/deno:debian-${ciDenoVersion()}`);
});

Deno.test("Dockerfile runs the compiled binary as a non-root user in a separate small stage", () => {
  const last = Math.max(...dockerfile.map((i) => i.stage));
  const final = dockerfile.filter((i) => i.stage === last);
  assert.match(final[0]!.args, /^gcr\.io\/distroless\/cc-debian12:nonroot\b/);
  const users = final.filter((i) => i.name === "USER");
  assert.equal(users.length, 1, "the final stage sets USER");
  const user = users[0]!.args.split(":")[0]!;
  assert.ok(!["root", "0", ""].includes(user), `USER ${user} is not root`);
  const output = /--output\s+(\S+)/.exec(compileRun())?.[1];
  assert.ok(output !== undefined, "deno compile names its --output");
  assert.ok(
    final.some((i) =>
      i.name === "COPY" && i.args.includes("--from=build") && i.args.includes(output)
    ),
    "the binary is copied from the build stage",
  );
  assert.deepEqual(JSON.parse(final.find((i) => i.name === "ENTRYPOINT")!.args), [output]);
  const healthcheck = final.find((i) => i.name === "HEALTHCHECK");
  assert.ok(healthcheck, "HEALTHCHECK present");
  const cmd = /\bCMD\s+(\[.*\])$/.exec(healthcheck.args)?.[1];
  assert.deepEqual(JSON.parse(cmd ?? "null"), [output, "--healthcheck"]);
  assert.deepEqual(final.filter((i) => i.name === "EXPOSE").map((i) => i.args), ["8000 8081"]);
  assert.deepEqual(final.filter((i) => i.name === "STOPSIGNAL").map((i) => i.args), ["SIGTERM"]);
});

Deno.test("Dockerfile and deno tasks never grant all permissions", () => {
  const text = read("Dockerfile");
  assert.doesNotMatch(text, /(^|\s)-A(\s|$)/m);
  assert.doesNotMatch(text, /--allow-all/);
  for (const name of ["start", "dev", "compile"]) {
    // Reading is granted (the rules file, RATELIMITER_RULES_FILE, may be anywhere); writing never.
    assert.doesNotMatch(tasks[name]!, /(^|\s)-A(\s|$)|--allow-all|--allow-write|--allow-run/);
  }
});

Deno.test("Dockerfile and deno tasks pass --no-prompt, so a node never stops at a permission prompt", () => {
  assert.match(compileRun(), /(^|\s)--no-prompt(\s|$)/);
  for (const name of ["start", "dev", "compile"]) {
    assert.match(tasks[name]!, /(^|\s)--no-prompt(\s|$)/, `deno task ${name}`);
  }
});

Deno.test("Dockerfile compiles with exactly the permissions of deno task compile/start", () => {
  const expected = [...nodePermissionFlags()].sort();
  assert.deepEqual(permissionTokens(compileRun()), expected, "Dockerfile");
  for (const name of ["compile", "start", "dev"]) {
    assert.deepEqual(permissionTokens(tasks[name]!), expected, `deno task ${name}`);
  }
});

Deno.test("deno.json and the Dockerfile hold what `deno task permissions` writes", () => {
  assert.equal(renderDenoJson(read("deno.json")), read("deno.json"), "run deno task permissions");
  assert.equal(
    renderDockerfile(read("Dockerfile")),
    read("Dockerfile"),
    "run deno task permissions",
  );
});

Deno.test("renderDenoJson() and renderDockerfile() rewrite stale flags and nothing else", () => {
  const stale = (text: string) =>
    text.replaceAll(",REDIS_EMIT_DIAGNOSTICS", "").replaceAll("--allow-net", "-A --allow-read");
  const denoJson = read("deno.json");
  assert.notEqual(stale(denoJson), denoJson);
  const rendered = JSON.parse(renderDenoJson(stale(denoJson))).tasks;
  const original = JSON.parse(denoJson).tasks;
  for (const name of Object.keys(original)) {
    const expected = NODE_TASKS.includes(name)
      // `-A` is outside the run of --allow-* flags: left for the test above to catch.
      ? original[name].replace("--allow-net", "-A --allow-net")
      : stale(original[name]);
    assert.equal(rendered[name], expected, `deno task ${name}`);
  }
  const dockerfile = read("Dockerfile");
  const staleDockerfile = dockerfile.replaceAll(",REDIS_EMIT_DIAGNOSTICS", "")
    .replace("    --allow-sys=hostname \\\n", "");
  assert.notEqual(staleDockerfile, dockerfile);
  assert.equal(renderDockerfile(staleDockerfile), dockerfile);
});

Deno.test("--allow-env lists every RATELIMITER_* variable the config reads, and no other", () => {
  const allowEnv = permissionTokens(compileRun()).find((t) => t.startsWith("--allow-env="));
  assert.ok(allowEnv, "--allow-env has an explicit list");
  const listed = allowEnv.slice("--allow-env=".length).split(",");
  assert.deepEqual(
    listed.filter((v) => v.startsWith("RATELIMITER_")).sort(),
    [...CONFIG_ENV_VARS].sort(),
  );
  assert.deepEqual(
    listed.filter((v) => !v.startsWith("RATELIMITER_")).sort(),
    [...LIBRARY_ENV_VARS].sort(),
  );
  assert.equal(new Set(listed).size, NODE_ENV_VARS.length, "no duplicates");
  // main.ts reads the environment only through the config's list.
  const main = read("main.ts");
  assert.doesNotMatch(main, /Deno\.env\.toObject\(\)/);
  assert.match(main, /CONFIG_ENV_VARS/);
});

Deno.test("Dockerfile caches dependencies from deno.lock before copying the sources", () => {
  const at = (pred: (i: Instruction) => boolean) => dockerfile.findIndex(pred);
  const copyLock = at((i) => i.name === "COPY" && /\bdeno\.lock\b/.test(i.args));
  const install = at((i) => i.name === "RUN" && /deno install --frozen-lockfile/.test(i.args));
  const copySrc = at((i) => i.name === "COPY" && /\bsrc\/?\s/.test(i.args + " "));
  assert.ok(copyLock >= 0 && install > copyLock && copySrc > install, "lock, install, sources");
  assert.match(compileRun(), /--frozen-lockfile/);
  assert.match(compileRun(), /\bmain\.ts$/);
});

Deno.test(".dockerignore keeps what the build copies and leaves out the rest", () => {
  const ignored = read(".dockerignore").split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const isIgnored = (path: string) =>
    ignored.some((p) =>
      p.startsWith("*.") ? path.endsWith(p.slice(1)) : path === p || path.startsWith(p + "/")
    );
  const copied = dockerfile
    .filter((i) => i.name === "COPY" && !i.args.includes("--from="))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  assert.ok(copied.length >= 4);
  for (const source of copied) {
    const path = source.replace(/\/$/, "");
    assert.ok(!isIgnored(path), `${path} is not ignored`);
    Deno.statSync(new URL(path, ROOT)); // exists
  }
  for (const path of [".git", "tests", "bench", "dist", "README.md"]) {
    assert.ok(isIgnored(path), `${path} is ignored`);
  }
});
