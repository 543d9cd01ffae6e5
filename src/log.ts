import type { WallClock } from "./clock.ts";

/** Log levels in increasing order of severity. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Extra structured fields of a log line. */
export type LogFields = Record<string, unknown>;

/** A structured logger: one JSON object per line with `time`, `level` and `event`. */
export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default {"info"} */
  level?: LogLevel;
  /** Fields added to every line. @default {{}} */
  base?: LogFields;
  /** Where a finished line goes. @default {writes to stdout} */
  write?: (line: string) => void;
  /** Time source for the `time` field. @default {Date.now} */
  clock?: WallClock;
}

const encoder = new TextEncoder();
function writeStdout(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

/** Creates a {@linkcode Logger} writing JSON lines. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? writeStdout;
  const clock = options.clock ?? Date.now;
  const base = options.base ?? {};
  const emit = (level: LogLevel) => (event: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const line = {
      time: new Date(clock()).toISOString(),
      level,
      event,
      ...base,
      ...fields,
    };
    write(JSON.stringify(line, errorReplacer));
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
  };
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ write: () => {} });

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  return value;
}
