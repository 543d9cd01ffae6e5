/**
 * Reads the `curl` examples of a Markdown document (the README) so a test can send each one to a
 * running node and compare the answer with the one the document shows.
 *
 * What counts as an example and its answer:
 * - Every command starting with `curl` in a fenced shell block (`sh`, `bash`, `shell` or no
 *   language). A block made only of assignments (`TOKEN=...`) defines shell variables for the
 *   blocks after it; a value of `...` keeps the value the caller supplied.
 * - Its answer is a trailing comment holding JSON (`curl …   # {"key":"user:42"}`), or else, for the
 *   first `curl` of a block, the next fenced block when it is `json` and no heading comes between.
 *
 * Only what the README uses of the shell is understood: words in single and double quotes
 * (single-quoted words may span lines), `\` line continuations, `$NAME` and `${NAME}` expansion
 * and `#` comments. Anything else (pipes, `&&`, `$(…)`, an unknown curl option) is reported as an
 * error rather than guessed, so a test fails on an example it cannot run.
 *
 * @module
 */

/** One `curl` command found in the document. */
export interface CurlExample {
  /** 1-based line of the document where the command starts. */
  readonly line: number;
  readonly method: string;
  /** The URL as written (`localhost:8000/check`). */
  readonly url: string;
  readonly headers: [string, string][];
  readonly body: string | undefined;
  /** `-i`: the example shows the status and headers. */
  readonly include: boolean;
  /** The answer the document shows, parsed, if any. */
  readonly answer: unknown;
  /** Where that answer is written (1-based line). */
  readonly answerLine: number | undefined;
}

/** What {@linkcode readmeCurlExamples} found. */
export interface ReadmeExamples {
  readonly examples: CurlExample[];
  /** One line per `curl` example (or block) that could not be understood. */
  readonly errors: string[];
  /**
   * `curl` commands in fenced blocks of any language, counted by a pattern (at a line's start,
   * after a `$ ` prompt or after `;`, `&`, `|`, `(`): a cross-check that none was skipped.
   */
  readonly curlWords: number;
}

interface Fence {
  readonly lang: string;
  readonly text: string;
  /** 1-based line of the first line inside the fence. */
  readonly line: number;
  /** Whether a heading stands between this block and the previous one. */
  readonly afterHeading: boolean;
}

/** Splits Markdown into its fenced code blocks. */
export function fencedBlocks(markdown: string): Fence[] {
  const lines = markdown.split("\n");
  const fences: Fence[] = [];
  let heading = false;
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (open === null) {
      if (/^#{1,6}\s/.test(lines[i]!)) heading = true;
      continue;
    }
    const marker = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trimStart().startsWith(marker)) body.push(lines[j++]!);
    fences.push({
      lang: open[2]!.toLowerCase(),
      text: body.join("\n"),
      line: i + 2,
      afterHeading: heading,
    });
    heading = false;
    i = j;
  }
  return fences;
}

/** One shell command: its words and a trailing comment, if any. */
interface ShellCommand {
  readonly words: string[];
  readonly comment: string | undefined;
  /** 1-based line within the block where the command starts. */
  readonly line: number;
}

/**
 * Splits shell text into commands and words, expanding `$NAME` from `vars`. Throws a
 * `SyntaxError` on anything outside the subset described in the module comment.
 */
export function parseShell(text: string, vars: ReadonlyMap<string, string>): ShellCommand[] {
  const commands: ShellCommand[] = [];
  let words: string[] = [];
  let word: string | undefined;
  let comment: string | undefined;
  let line = 1;
  let start = 1;
  const expand = (at: number): [string, number] => {
    const braced = /^\$\{([A-Za-z_]\w*)\}/.exec(text.slice(at));
    const plain = /^\$([A-Za-z_]\w*)/.exec(text.slice(at));
    const match = braced ?? plain;
    if (match === null) {
      throw new SyntaxError(`Cannot expand "${text.slice(at, at + 8)}": only $NAME is supported`);
    }
    const value = vars.get(match[1]!);
    if (value === undefined) throw new SyntaxError(`Cannot expand "$${match[1]}": not defined`);
    return [value, at + match[0].length];
  };
  const endCommand = () => {
    if (word !== undefined) words.push(word);
    if (words.length > 0) commands.push({ words, comment, line: start });
    words = [];
    word = undefined;
    comment = undefined;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
      endCommand();
      start = line;
      i++;
    } else if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (c === "\\" && text[i + 1] === "\n") {
      line++;
      i += 2;
    } else if (c === "#" && word === undefined) {
      const end = text.indexOf("\n", i);
      comment = text.slice(i + 1, end === -1 ? text.length : end).trim();
      i = end === -1 ? text.length : end;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new SyntaxError(`Cannot parse line ${line}: unterminated '`);
      const quoted = text.slice(i + 1, end);
      line += quoted.split("\n").length - 1;
      word = (word ?? "") + quoted;
      i = end + 1;
    } else if (c === '"') {
      word ??= "";
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "$") {
          const [value, next] = expand(i);
          word += value;
          i = next;
        } else if (text[i] === "\\" && /["\\$`]/.test(text[i + 1] ?? "")) {
          word += text[i + 1];
          i += 2;
        } else {
          if (text[i] === "\n") line++;
          word += text[i++];
        }
      }
      if (i >= text.length) throw new SyntaxError(`Cannot parse line ${line}: unterminated "`);
      i++;
    } else if (c === "$") {
      const [value, next] = expand(i);
      word = (word ?? "") + value;
      i = next;
    } else if (/[|&;<>()`\\]/.test(c)) {
      throw new SyntaxError(`Cannot parse line ${line}: "${c}" is not supported`);
    } else {
      word = (word ?? "") + c;
      i++;
    }
  }
  endCommand();
  return commands;
}

/** The curl options the README may use, and whether each takes a value. */
const CURL_OPTIONS: Record<string, "method" | "header" | "data" | "json" | "include" | "flag"> = {
  "-X": "method",
  "--request": "method",
  "-H": "header",
  "--header": "header",
  "-d": "data",
  "--data": "data",
  "--data-raw": "data",
  "--data-binary": "data",
  "--json": "json",
  "-i": "include",
  "--include": "include",
  "-s": "flag",
  "--silent": "flag",
  "-S": "flag",
  "--show-error": "flag",
  "-f": "flag",
  "--fail": "flag",
};

/** Reads the words of one `curl` command (without its answer). */
export function parseCurl(
  words: readonly string[],
): Omit<CurlExample, "line" | "answer" | "answerLine"> {
  if (words[0] !== "curl") throw new SyntaxError(`Cannot run "${words[0]}": not a curl command`);
  let method: string | undefined;
  const headers: [string, string][] = [];
  let body: string | undefined;
  let include = false;
  let json = false;
  const urls: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith("-")) {
      urls.push(word);
      continue;
    }
    // Short flags may be combined (`-si`); options with a value stand alone.
    const flags = /^-[a-zA-Z]{2,}$/.test(word) ? [...word.slice(1)].map((f) => `-${f}`) : [word];
    for (const flag of flags) {
      const kind = CURL_OPTIONS[flag];
      if (kind === undefined) {
        throw new SyntaxError(`Cannot run curl option "${flag}": not supported`);
      }
      if (kind === "include") include = true;
      if (kind === "include" || kind === "flag") continue;
      if (flags.length > 1) throw new SyntaxError(`Cannot combine "${flag}" in "${word}"`);
      const value = words[++i];
      if (value === undefined) throw new SyntaxError(`Cannot run curl: "${flag}" has no value`);
      if (kind === "method") method = value;
      if ((kind === "data" || kind === "json") && value.startsWith("@")) {
        throw new SyntaxError(`Cannot run curl: "${flag} ${value}" reads a file`);
      }
      if (kind === "data" || kind === "json") {
        body = body === undefined ? value : `${body}${kind === "json" ? "" : "&"}${value}`;
      }
      if (kind === "json") json = true;
      if (kind === "header") {
        const colon = value.indexOf(":");
        if (colon <= 0) {
          throw new SyntaxError(`Cannot read header "${value}": expected "Name: value"`);
        }
        headers.push([value.slice(0, colon).trim(), value.slice(colon + 1).trim()]);
      }
    }
  }
  if (urls.length !== 1) {
    throw new SyntaxError(`Cannot run curl: expected one URL, received ${JSON.stringify(urls)}`);
  }
  // `--json` is `-d` with JSON's content-type and accept, unless given.
  const has = (name: string) => headers.some(([h]) => h.toLowerCase() === name);
  if (json && !has("content-type")) headers.push(["content-type", "application/json"]);
  if (json && !has("accept")) headers.push(["accept", "application/json"]);
  return {
    method: method ?? (body === undefined ? "GET" : "POST"),
    url: urls[0]!,
    headers,
    body,
    include,
  };
}

const SHELL_LANGS = new Set(["", "sh", "bash", "shell", "console"]);
const ASSIGNMENT = /^([A-Za-z_]\w*)=(.*)$/s;

/** Every `curl` example of `markdown` with its answer, reading variables from `vars`. */
export function readmeCurlExamples(
  markdown: string,
  vars: Record<string, string> = {},
): ReadmeExamples {
  const known = new Map(Object.entries(vars));
  const fences = fencedBlocks(markdown);
  const examples: CurlExample[] = [];
  const errors: string[] = [];
  let curlWords = 0;
  fences.forEach((fence, index) => {
    curlWords += fence.text.match(/(?:^|[;&|(])[ \t]*(?:\$[ \t]+)?curl\s/gm)?.length ?? 0;
    if (!SHELL_LANGS.has(fence.lang)) return;
    let commands: ShellCommand[];
    try {
      commands = parseShell(fence.text, known);
    } catch (error) {
      if (/(^|\s)curl\s/m.test(fence.text)) {
        errors.push(`line ${fence.line}: ${(error as Error).message}`);
      }
      return;
    }
    const isAssignment = (c: ShellCommand) => c.words.length === 1 && ASSIGNMENT.test(c.words[0]!);
    if (commands.length > 0 && commands.every(isAssignment)) {
      for (const command of commands) {
        const [, name, value] = ASSIGNMENT.exec(command.words[0]!)!;
        if (value === "...") {
          if (!known.has(name!)) errors.push(`line ${fence.line}: no value given for ${name}`);
        } else known.set(name!, value!);
      }
      return;
    }
    if (!commands.some((c) => c.words[0] === "curl")) return;
    const next = fences[index + 1];
    const following = next !== undefined && next.lang === "json" && !next.afterHeading
      ? next
      : undefined;
    let first = true;
    for (const command of commands) {
      const line = fence.line + command.line - 1;
      try {
        const request = parseCurl(command.words);
        let answer: unknown;
        let answerLine: number | undefined;
        if (command.comment !== undefined && /^[[{]/.test(command.comment)) {
          answer = JSON.parse(command.comment);
          answerLine = line;
        } else if (first && following !== undefined) {
          answer = JSON.parse(following.text);
          answerLine = following.line;
        }
        examples.push({ line, ...request, answer, answerLine });
      } catch (error) {
        errors.push(`line ${line}: ${(error as Error).message}`);
      }
      first = false;
    }
  });
  return { examples, errors, curlWords };
}

/** Field names whose values depend on time, the host or the order of events: only the type is compared. */
export const VARYING_FIELDS: ReadonlySet<string> = new Set([
  "retry_after_seconds",
  "retry_after_ms",
  "reset_after_ms",
  "registered_at",
  "last_heartbeat_at",
  "last_heartbeat_age_ms",
  "last_heartbeat",
  "generated_at",
  "allowed_per_second",
  "blocked_per_second",
  "updated_at",
  "node_id",
  "id",
  "address",
]);

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/**
 * Every place `actual` differs from the answer the document shows, as `path: problem` lines.
 * Each field shown must exist with the same JSON type, and the same value unless its name is in
 * {@linkcode VARYING_FIELDS}. Fields not shown are ignored; a `"...": "..."` member or a `"..."`
 * array item stands for content left out. Array items are compared by position.
 */
export function answerProblems(expected: unknown, actual: unknown, path = "$"): string[] {
  const got = JSON.stringify(actual);
  if (jsonType(expected) !== jsonType(actual)) {
    return [`${path}: expected ${jsonType(expected)} ${JSON.stringify(expected)}, received ${got}`];
  }
  if (Array.isArray(expected)) {
    const items = actual as unknown[];
    return expected.flatMap((item, i) => {
      if (item === "...") return [];
      if (i >= items.length) return [`${path}[${i}]: missing (received ${items.length} items)`];
      return answerProblems(item, items[i], `${path}[${i}]`);
    });
  }
  if (expected !== null && typeof expected === "object") {
    const fields = actual as Record<string, unknown>;
    return Object.entries(expected).flatMap(([name, value]) => {
      if (name === "...") return [];
      if (!Object.hasOwn(fields, name)) return [`${path}.${name}: missing`];
      if (VARYING_FIELDS.has(name)) {
        return jsonType(value) === jsonType(fields[name]) ? [] : [
          `${path}.${name}: expected ${jsonType(value)}, received ${JSON.stringify(fields[name])}`,
        ];
      }
      return answerProblems(value, fields[name], `${path}.${name}`);
    });
  }
  return expected === actual
    ? []
    : [`${path}: expected ${JSON.stringify(expected)}, received ${got}`];
}
