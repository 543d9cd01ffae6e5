/**
 * A minimal RESP2 client for tests that answers like `redis-cli` does when its output is not a
 * terminal, over one TCP connection instead of one process per command.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One parsed RESP2 reply; errors are kept as values because redis-cli prints them. */
type Reply =
  | { readonly kind: "status" | "error" | "bulk"; readonly text: string }
  | { readonly kind: "integer"; readonly text: string }
  | { readonly kind: "nil" }
  | { readonly kind: "array"; readonly items: readonly Reply[] };

/** Encodes a command as a RESP array of bulk strings. */
function encode(args: readonly string[]): Uint8Array {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${encoder.encode(arg).length}\r\n${arg}\r\n`);
  return encoder.encode(parts.join(""));
}

/**
 * Formats a reply as redis-cli's raw output: strings, statuses and errors as their text,
 * integers in decimal, nil as nothing, arrays as their elements joined by newlines.
 */
function format(reply: Reply): string {
  switch (reply.kind) {
    case "nil":
      return "";
    case "array":
      return reply.items.map(format).join("\n");
    default:
      return reply.text;
  }
}

/** Reads RESP replies from a connection, buffering partial frames. */
class ReplyReader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Deno.errors.ConnectionReset("Redis closed the connection");
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  async #line(): Promise<string> {
    for (;;) {
      const end = this.#buf.indexOf(0x0a);
      if (end > 0 && this.#buf[end - 1] === 0x0d) {
        const line = decoder.decode(this.#buf.subarray(0, end - 1));
        this.#buf = this.#buf.subarray(end + 1);
        return line;
      }
      await this.#fill();
    }
  }

  async #bytes(length: number): Promise<string> {
    while (this.#buf.length < length + 2) await this.#fill();
    const text = decoder.decode(this.#buf.subarray(0, length));
    this.#buf = this.#buf.subarray(length + 2);
    return text;
  }

  /** Reads one complete reply. */
  async read(): Promise<Reply> {
    const line = await this.#line();
    const rest = line.slice(1);
    switch (line[0]) {
      case "+":
        return { kind: "status", text: rest };
      case "-":
        return { kind: "error", text: rest };
      case ":":
        return { kind: "integer", text: rest };
      case "$": {
        const length = Number(rest);
        return length < 0 ? { kind: "nil" } : { kind: "bulk", text: await this.#bytes(length) };
      }
      case "*": {
        const count = Number(rest);
        if (count < 0) return { kind: "nil" };
        const items: Reply[] = [];
        for (let i = 0; i < count; i++) items.push(await this.read());
        return { kind: "array", items };
      }
      default:
        throw new SyntaxError(`Cannot parse a RESP reply: unexpected line ${JSON.stringify(line)}`);
    }
  }
}

/**
 * A lazily connected command line to one Redis: `cli(...args)` returns what `redis-cli -p PORT
 * ...args` printed (trimmed). Commands run one at a time, in call order.
 */
export class RedisCli {
  readonly #port: number;
  readonly #password: string | undefined;
  #conn: Deno.Conn | undefined;
  #reader: ReplyReader | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * A client for the Redis on 127.0.0.1:`port`; nothing connects until the first command. With
   * `password`, every new connection first sends `AUTH password` (the `default` user).
   */
  constructor(port: number, password?: string) {
    this.#port = port;
    this.#password = password;
  }

  /**
   * Sends one command and returns its reply formatted as redis-cli's non-terminal output,
   * trimmed. Error replies are returned as text (`"BUSY Redis is busy…"`), as redis-cli prints
   * them. Two redis-cli options are understood: `--raw` (the default off a terminal, so
   * ignored) and `--scan [--pattern P]` (every matching key, one per line).
   */
  cli(...args: string[]): Promise<string> {
    const run = this.#queue.then(() => this.#run(args));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #run(args: string[]): Promise<string> {
    const command = args.filter((a) => a !== "--raw");
    if (command[0] === "--scan") return await this.#scan(command.slice(1));
    const unknown = command.find((a) => a.startsWith("--"));
    if (unknown !== undefined) {
      throw new TypeError(`Cannot emulate redis-cli option "${unknown}": spawn redis-cli instead`);
    }
    return format(await this.#send(command)).trim();
  }

  async #scan(options: string[]): Promise<string> {
    const match = options[0] === "--pattern" && options[1] !== undefined ? options[1] : "*";
    const keys: string[] = [];
    let cursor = "0";
    do {
      const reply = await this.#send(["SCAN", cursor, "MATCH", match, "COUNT", "1000"]);
      if (reply.kind !== "array") throw new TypeError(`SCAN answered ${format(reply)}`);
      const [next, page] = reply.items;
      cursor = next !== undefined ? format(next) : "0";
      if (page?.kind === "array") keys.push(...page.items.map(format));
    } while (cursor !== "0");
    return keys.join("\n");
  }

  async #send(args: readonly string[]): Promise<Reply> {
    if (this.#conn === undefined || this.#reader === undefined) {
      this.#conn = await Deno.connect({ hostname: "127.0.0.1", port: this.#port });
      this.#reader = new ReplyReader(this.#conn);
      if (this.#password !== undefined) {
        const auth = encode(["AUTH", this.#password]);
        for (let sent = 0; sent < auth.length;) sent += await this.#conn.write(auth.subarray(sent));
        const reply = await this.#reader.read();
        if (reply.kind === "error") {
          this.close();
          throw new Error(`AUTH to port ${this.#port} failed: ${reply.text}`);
        }
      }
    }
    const reader = this.#reader;
    try {
      const bytes = encode(args);
      for (let sent = 0; sent < bytes.length;) {
        sent += await this.#conn.write(bytes.subarray(sent));
      }
      return await reader.read();
    } catch (error) {
      // A broken connection is not reused: the next command connects again.
      this.close();
      throw error;
    }
  }

  /** Closes the connection (if any); a later command opens a new one. */
  close(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#reader = undefined;
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
}
