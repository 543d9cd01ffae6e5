/**
 * Starts Debian's Chromium headless for browser tests, driven by puppeteer-core over the DevTools
 * protocol. Nothing is downloaded: the browser is the installed `/usr/bin/chromium`; when it is
 * missing the test fails with {@linkcode chromiumMissingMessage}.
 *
 * puppeteer-core rather than playwright-core: under Deno, playwright-core needs more than the test
 * task grants (it reads `/proc/sys/...`, which Deno allows only with `--allow-all`).
 *
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * Flags for a quiet headless run on a machine with no network but loopback: no sandbox (tests run
 * as root), no GPU, and none of the browser's own background traffic (updates, sync).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Why a browser test cannot run, and how to fix it. */
export function chromiumMissingMessage(path: string): string {
  return `Cannot start Chromium for this test: no browser at ${path}; ` +
    "install the Debian package chromium (apt-get install -y chromium)";
}

/** Options for {@linkcode startBrowser}. */
export interface StartBrowserOptions {
  /** The browser's executable. @default {"/usr/bin/chromium"} */
  executablePath?: string;
  /** Longest wait for the browser to start, and for any one DevTools call. @default {30000} */
  timeoutMs?: number;
}

/** A page opened by {@linkcode TestBrowser.newPage}, with what went wrong in it. */
export interface TestPage {
  readonly page: Page;
  /**
   * Every `console.error` message and uncaught exception of the page so far, as text
   * (a failed resource load is logged by the browser as a console error, so it is here too).
   */
  readonly errors: string[];
}

/** A headless browser started by a test. */
export interface TestBrowser {
  readonly browser: Browser;
  /** Opens a blank page at the given viewport size (CSS pixels), recording its errors. */
  newPage(viewport?: { width: number; height: number }): Promise<TestPage>;
  /** Closes the browser; kills its process if it has not exited within 10 s. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts headless Chromium; throws an Error with {@linkcode chromiumMissingMessage} if absent. */
export async function startBrowser(options: StartBrowserOptions = {}): Promise<TestBrowser> {
  const executablePath = options.executablePath ?? CHROMIUM_PATH;
  const timeout = options.timeoutMs ?? 30_000;
  try {
    await Deno.stat(executablePath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(chromiumMissingMessage(executablePath));
    }
    throw error;
  }
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS],
    timeout,
    protocolTimeout: timeout,
  });
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= closeBounded(browser, 10_000);
    return closed;
  };
  return {
    browser,
    async newPage(viewport = { width: 1280, height: 900 }) {
      const page = await browser.newPage();
      const errors = recordErrors(page);
      await page.setViewport(viewport);
      return { page, errors };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function recordErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location().url;
    errors.push(`console.error: ${message.text()}${where ? ` (${where})` : ""}`);
  });
  page.on("pageerror", (error) => {
    errors.push(`uncaught: ${error instanceof Error ? error.message : String(error)}`);
  });
  return errors;
}

async function closeBounded(browser: Browser, ms: number): Promise<void> {
  const child = browser.process();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    await Promise.race([browser.close().catch(() => {}), timedOut]);
  } finally {
    clearTimeout(timer);
    // Only the process this browser launched, and only if it is still running.
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
    }
  }
}
