/**
 * The dashboard in a real headless Chromium, against three real nodes on one real Redis: what an
 * operator sees and does, through the page's DOM contract (ids and data attributes only).
 *
 * Screenshots at desktop and phone widths go to `dist/screenshots/` (git-ignored).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { startBrowser } from "../_helpers/browser.ts";
import { postJson, startNode, type TestNode } from "../_helpers/node_process.ts";
import { integration as opts } from "../_helpers/options.ts";
import { startRedis } from "../_helpers/redis_server.ts";
import { sleep, waitFor } from "../_helpers/wait.ts";

const TOKEN = "dashboard-browser-token-0123456789";
const IDS = ["node-1", "node-2", "node-3"] as const;
const SCREENSHOTS = new URL("../../dist/screenshots/", import.meta.url);

/** What the page shows, read in one go. */
interface Snapshot {
  nodes: { id: string; state: string; allowed: string; blocked: string; p99: string }[];
  totalAllowed: string;
  totalBlocked: string;
  charts: { rates: boolean; latency: boolean };
  blockedKeys: string[];
  counters: string[];
  overrides: string[];
  authNeeded: boolean;
  status: string;
}

// The page's globals, for the one function below that runs in the page (no DOM types here).
interface PageElement {
  readonly textContent: string | null;
  readonly hidden: boolean;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
  getClientRects(): { length: number };
}
declare const document: PageElement;
declare function getComputedStyle(element: PageElement): { visibility: string };

/** Runs in the page (serialized by puppeteer): reads every part of the contract the test uses. */
function readPage(): Snapshot {
  const text = (el: PageElement | null) => (el?.textContent ?? "").trim();
  const keys = (selector: string) =>
    [...document.querySelectorAll(selector)].map((el) => el.getAttribute("data-key") ?? "");
  const visible = (el: PageElement | null) =>
    el !== null && !el.hidden && el.getClientRects().length > 0 &&
    getComputedStyle(el).visibility !== "hidden";
  return {
    nodes: [...document.querySelectorAll("#nodes tr[data-node-id]")].map((row) => ({
      id: row.getAttribute("data-node-id") ?? "",
      state: text(row.querySelector('[data-field="state"]')),
      allowed: text(row.querySelector('[data-field="allowed"]')),
      blocked: text(row.querySelector('[data-field="blocked"]')),
      p99: text(row.querySelector('[data-field="p99"]')),
    })),
    totalAllowed: text(document.querySelector("#total-allowed")),
    totalBlocked: text(document.querySelector("#total-blocked")),
    charts: {
      rates: document.querySelector("#chart-rates svg") !== null,
      latency: document.querySelector("#chart-latency svg") !== null,
    },
    blockedKeys: keys("#blocked-keys li[data-key]"),
    counters: keys("#counters li[data-key]"),
    overrides: keys("#overrides tr[data-key]"),
    authNeeded: visible(document.querySelector("#auth-needed")),
    status: text(document.querySelector("#status")),
  };
}

function snapshot(page: Page): Promise<Snapshot> {
  return page.evaluate(readPage);
}

/** A rate as shown ("12.5", "12.5/s"); NaN when it is no number. */
function rate(text: string | undefined): number {
  return Number.parseFloat(text ?? "");
}

/**
 * Reads the page every 200 ms (calling `meanwhile` before each read) until `ok` holds; fails after
 * `timeoutMs` naming `what` and showing the last snapshot.
 */
async function waitForPage(
  page: Page,
  what: string,
  ok: (s: Snapshot) => boolean,
  timeoutMs = 15_000,
  meanwhile?: () => Promise<void>,
): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  let last: Snapshot | undefined;
  for (;;) {
    await meanwhile?.();
    last = await snapshot(page);
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for the page to show ${what}; it shows ${
          JSON.stringify(last)
        }`,
      );
    }
    await sleep(200);
  }
}

/** A CSS selector of the element of `tag` whose data-key is `key` under `parent`. */
function byKey(parent: string, tag: string, key: string): string {
  return `${parent} ${tag}[data-key="${key.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"]`;
}

/** Starts one node per id, all or none: a failed start stops the ones that started. */
async function startNodes(env: (id: string) => Record<string, string>): Promise<TestNode[]> {
  const started = await Promise.allSettled(IDS.map((id) => startNode({ env: env(id) })));
  const failed = started.find((s) => s.status === "rejected");
  const nodes = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  if (failed !== undefined) {
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    throw failed.reason;
  }
  return nodes;
}

async function checks(node: TestNode, key: string, limit: number, n: number): Promise<number[]> {
  const statuses = [];
  for (let i = 0; i < n; i++) {
    statuses.push((await postJson(`${node.url}/check`, { key, limit })).status);
  }
  return statuses;
}

Deno.test({
  ...opts,
  name: "the dashboard in headless Chromium shows three nodes live and acts on the cluster",
  async fn(t) {
    await using redis = await startRedis();
    const nodes = await startNodes((id) => ({
      RATELIMITER_REDIS_URL: redis.url,
      RATELIMITER_STORE_TIMEOUT_MS: "5000",
      RATELIMITER_NODE_ID: id,
      RATELIMITER_NODE_TTL_SECONDS: "3",
      RATELIMITER_NODE_HEARTBEAT_SECONDS: "1",
      RATELIMITER_ADMIN_TOKEN: TOKEN,
    }));
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    try {
      await using browser = await startBrowser();
      const { page, errors } = await browser.newPage({ width: 1280, height: 900 });
      const requests: { url: string; authorization: string | undefined }[] = [];
      page.on(
        "request",
        (r) => requests.push({ url: r.url(), authorization: r.headers().authorization }),
      );
      await Deno.mkdir(SCREENSHOTS, { recursive: true });
      // Each step needs the state the previous ones left: stop at the first failure, with a picture.
      const step = async (name: string, fn: () => Promise<void>) => {
        if (await t.step(name, fn)) return;
        await page.screenshot({
          path: `${SCREENSHOTS.pathname}dashboard-failure.png`,
          fullPage: true,
        })
          .catch(() => {});
        throw new Error(`Step failed: ${name} (see dist/screenshots/dashboard-failure.png)`);
      };
      await step("the page loads without console errors and lists three nodes Up", async () => {
        const res = await page.goto(`${n1.url}/dashboard`, {
          waitUntil: "load",
          timeout: 15_000,
        });
        assert.equal(res?.status(), 200);
        const shown = await waitForPage(
          page,
          "three nodes Up",
          (s) =>
            JSON.stringify(s.nodes.map((n) => [n.id, n.state]).sort()) ===
              JSON.stringify(IDS.map((id) => [id, "Up"])),
        );
        assert.deepEqual(shown.charts, { rates: true, latency: true });
        assert.ok(
          Number.isFinite(rate(shown.totalAllowed)),
          `#total-allowed: ${shown.totalAllowed}`,
        );
        assert.ok(
          Number.isFinite(rate(shown.totalBlocked)),
          `#total-blocked: ${shown.totalBlocked}`,
        );
        assert.deepEqual(errors, []);
      });

      await step("checks sent to node 2 show up in the rates", async () => {
        const sent = await checks(n2, "browser:traffic", 1000, 50);
        assert.ok(sent.every((s) => s === 200), JSON.stringify(sent));
        // Rates cover the last few seconds: a trickle keeps them above 0 however slow the poll.
        await waitForPage(
          page,
          "allowed checks in the totals and on node-2, and the key under #counters",
          (s) =>
            rate(s.totalAllowed) > 0 &&
            rate(s.nodes.find((n) => n.id === "node-2")?.allowed) > 0 &&
            s.counters.includes("browser:traffic"),
          20_000,
          async () => void await checks(n2, "browser:traffic", 1000, 5),
        );
      });

      const blockedKey = "browser:blocked é/1";
      await step(
        "a key over its limit is listed as blocked, and its reset button clears it",
        async () => {
          const sent = await checks(n2, blockedKey, 3, 20);
          assert.deepEqual(sent, [200, 200, 200, ...Array(17).fill(429)]);
          const item = byKey("#blocked-keys", "li", blockedKey);
          const shown = await waitForPage(
            page,
            `"${blockedKey}" under #blocked-keys and blocked checks in #total-blocked`,
            (s) => s.blockedKeys.includes(blockedKey) && rate(s.totalBlocked) > 0,
          );
          assert.equal(shown.authNeeded, false, "#auth-needed shows before any action");

          // No token yet: the node answers 401, the page asks for it and nothing changes.
          await page.locator(`${item} button.reset`).setTimeout(10_000).click();
          await waitForPage(page, "#auth-needed", (s) => s.authNeeded);
          // Chromium itself logs the 401 answer as a failed resource load: that one is expected.
          const expected = () =>
            errors.findIndex((e) =>
              e.includes("status of 401") && /\/api\/counters\/[^ ]+\/reset\b/.test(e)
            );
          await waitFor("the browser's log of the 401", () => expected() >= 0, 5000).catch(
            () => {},
          );
          if (expected() >= 0) errors.splice(expected(), 1);
          assert.equal(
            (await checks(n3, blockedKey, 3, 1))[0],
            429,
            "a 401 reset changed nothing",
          );

          await page.locator("#admin-token").setTimeout(10_000).fill(TOKEN);
          await page.locator("#admin-token-save").setTimeout(10_000).click();
          // The page may retry the reset itself; otherwise the operator clicks again.
          const button = await page.$(`${item} button.reset`);
          await button?.click().catch(() => {/* the item left meanwhile */});
          await button?.dispose();
          await waitForPage(
            page,
            `"${blockedKey}" gone from #blocked-keys`,
            (s) => !s.blockedKeys.includes(blockedKey),
          );
          assert.equal((await checks(n3, blockedKey, 3, 1))[0], 200, "the key is allowed again");
        },
      );

      await step(
        "the token is sent as a Bearer header, never in a URL or in storage",
        async () => {
          assert.ok(requests.some((r) => r.authorization === `Bearer ${TOKEN}`));
          const leaks = requests.filter((r) =>
            r.url.includes(TOKEN) || r.url.includes(encodeURIComponent(TOKEN))
          );
          assert.deepEqual(leaks, []);
          const stored = await page.evaluate(
            "JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])",
          );
          assert.ok(!String(stored).includes(TOKEN), "the token is in the page's storage");
        },
      );

      await step(
        "an override added through the form is enforced by /check on node 2",
        async () => {
          const key = "browser:override";
          await page.locator("#override-key").setTimeout(10_000).fill(key);
          await page.locator("#override-limit").setTimeout(10_000).fill("2");
          // 60000 enforces a limit of 2 for this test whether the field means ms or seconds.
          await page.locator("#override-window").setTimeout(10_000).fill("60000");
          await page.locator("#override-save").setTimeout(10_000).click();
          await waitForPage(page, `"${key}" under #overrides`, (s) => s.overrides.includes(key));
          // Each node applies a change within a second; a peek (GET) consumes nothing.
          const deadline = Date.now() + 10_000;
          let peeked: Record<string, unknown> = {};
          while (peeked.limit !== 2 && Date.now() < deadline) {
            const res = await fetch(`${n2.url}/check/${encodeURIComponent(key)}?limit=100`);
            peeked = await res.json();
            if (peeked.limit !== 2) await sleep(100);
          }
          assert.equal(
            peeked.limit,
            2,
            `node-2 did not apply the override: ${JSON.stringify(peeked)}`,
          );
          assert.deepEqual(await checks(n2, key, 100, 3), [200, 200, 429]);
        },
      );

      await step("a node killed with SIGKILL turns Down on the page", async () => {
        await n3.stop("SIGKILL");
        await waitForPage(
          page,
          "node-3 Down and the others Up",
          (s) =>
            JSON.stringify(s.nodes.map((n) => [n.id, n.state]).sort()) ===
              JSON.stringify([["node-1", "Up"], ["node-2", "Up"], ["node-3", "Down"]]),
          20_000,
        );
      });

      await step("screenshots at desktop and phone widths, no console errors", async () => {
        await page.screenshot({
          path: `${SCREENSHOTS.pathname}dashboard-desktop.png`,
          fullPage: true,
        });
        await page.setViewport({ width: 375, height: 800 });
        await waitForPage(page, "three node rows at phone width", (s) => s.nodes.length === 3);
        await page.screenshot({
          path: `${SCREENSHOTS.pathname}dashboard-phone.png`,
          fullPage: true,
        });
        assert.deepEqual(errors, []);
      });
    } finally {
      await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    }
  },
});
