import assert from "node:assert/strict";
import { chromiumMissingMessage, startBrowser } from "./browser.ts";
import { integration as opts } from "./options.ts";
import { waitFor } from "./wait.ts";

Deno.test("startBrowser() fails with one line naming the Debian package when Chromium is missing", async () => {
  const path = "/nonexistent/chromium";
  await assert.rejects(startBrowser({ executablePath: path }), (error: Error) => {
    assert.equal(error.message, chromiumMissingMessage(path));
    assert.match(error.message, /apt-get install -y chromium\)$/);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
});

Deno.test({
  ...opts,
  name: "startBrowser() pages record console errors and uncaught exceptions, not other messages",
  fn: async () => {
    await using browser = await startBrowser();
    const { page, errors } = await browser.newPage({ width: 375, height: 800 });
    const html = "<title>self-check</title><p>ok</p><script>" +
      "console.log('fine'); console.warn('careful'); console.error('boom');" +
      "setTimeout(() => { throw new Error('late failure'); });</script>";
    await page.goto(`data:text/html,${encodeURIComponent(html)}`, { timeout: 10_000 });
    assert.equal(await page.title(), "self-check");
    await waitFor("both errors to be recorded", () => errors.length >= 2, 10_000);
    assert.deepEqual(errors.map((e) => e.replace(/ \(.*\)$/, "")).sort(), [
      "console.error: boom",
      "uncaught: late failure",
    ]);
    assert.deepEqual(await page.evaluate("[innerWidth, innerHeight]"), [375, 800]);
    const png = await page.screenshot({ type: "png" });
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  },
});
