// The security controls in headless Chromium: on the keys page a user makes a key that expires,
// sees its expiry, and rotates it (the new secret is shown once and the old one stops working);
// makes a key with a daily request limit, sees its use against the limit, and changes the limits
// (a negative one is refused, naming the field); on the settings page a user blocks an address
// range, and a mistyped range is refused with the gateway's message.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { launchBrowser, openPage, problemsOf, screenshot, signIn, startGateway } from "./harness.mjs";

describe("security pages", () => {
  let gateway;
  let browser;
  let page;

  before(async () => {
    gateway = await startGateway();
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await openPage(context);
    await signIn(page, gateway);
  });

  after(async () => {
    await browser?.close();
    const code = await gateway?.stop();
    assert.equal(code, 0, "the gateway exits cleanly");
  });

  const status = (key) =>
    fetch(`${gateway.origin}/v1/models`, { headers: { Authorization: `Bearer ${key}` } }).then((r) => r.status);

  it("makes an expiring key and rotates it", async () => {
    await page.goto(`${gateway.dashboard}keys`);
    await page.getByTestId("key-new").click();
    await page.getByTestId("key-name").fill("expiring");
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByTestId("key-expires-input").fill(tomorrow);
    await page.getByTestId("key-create").click();
    const first = await page.getByTestId("key-secret").innerText();
    await page.getByTestId("key-secret-done").click();
    assert.equal(await status(first), 200);
    const row = page.locator('[data-testid="key-row"][data-name="expiring"]');
    assert.match(await row.getByTestId("key-expires").innerText(), /\S/);

    page.once("dialog", (dialog) => dialog.accept());
    await row.getByTestId("key-rotate").click();
    const second = await page.getByTestId("key-secret").innerText();
    assert.notEqual(second, first);
    await screenshot(page, "50-key-rotated");
    await page.getByTestId("key-secret-done").click();
    assert.equal(await status(first), 401, "the old secret is dead");
    assert.equal(await status(second), 200);
  });

  it("makes a key with a daily request limit and changes its limits", async () => {
    await page.goto(`${gateway.dashboard}keys`);
    await page.getByTestId("key-new").click();
    await page.getByTestId("key-name").fill("limited");
    await page.getByTestId("key-limit-requests_per_day").fill("2");
    await page.getByTestId("key-create").click();
    await page.getByTestId("key-secret").waitFor();
    await page.getByTestId("key-secret-done").click();
    const row = page.locator('[data-testid="key-row"][data-name="limited"]');
    const summary = row.getByTestId("key-limit-summary");
    assert.equal(await summary.innerText(), "0 / 2 today");

    await row.getByTestId("key-limits").click();
    const day = page.getByTestId("key-limit-requests_per_day");
    assert.equal(await day.inputValue(), "2", "the dialog starts from the key's limits");
    await page.getByTestId("key-limit-daily_usd").fill("-1");
    await page.getByTestId("key-limits-save").click();
    assert.match(await page.getByTestId("key-limits-form").getByTestId("error").innerText(), /daily budget/);

    await day.fill("5");
    await page.getByTestId("key-limit-daily_usd").fill("1.5");
    await page.getByTestId("key-limits-save").click();
    await page.getByTestId("key-limits-form").waitFor({ state: "detached" });
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid="key-row"][data-name="limited"] [data-testid="key-limit-summary"]')
          ?.innerText === "0 / 5 today\n$0 / $1.50 today",
    );
    await screenshot(page, "52-key-limits");

    const keys = await page.evaluate(async () => (await (await fetch("/api/keys")).json()).data);
    const stored = keys.find((k) => k.name === "limited");
    assert.deepEqual(stored.limits, { requests_per_day: 5, daily_usd: 1.5 });
    assert.equal(stored.usage.today, 0);
    assert.deepEqual(problemsOf(page), []);
  });

  it("blocks an address range and refuses a mistyped one", async () => {
    await page.goto(`${gateway.dashboard}settings`);
    const section = page.getByTestId("settings-section-network");
    await section.waitFor();
    const blocklist = page.getByTestId("setting-ip-blocklist");
    await blocklist.fill("203.0.113.0/24\n198.51.100.7");
    await blocklist.blur();
    await page.getByTestId("settings-save").click();
    await page.waitForFunction(async () => {
      const settings = await (await fetch("/api/settings")).json();
      return settings.ip_blocklist?.length === 2;
    });
    const saved = await page.evaluate(async () => (await (await fetch("/api/settings")).json()).ip_blocklist);
    assert.deepEqual(saved, ["203.0.113.0/24", "198.51.100.7/32"]);
    await screenshot(page, "51-settings-network");

    await blocklist.fill("10.0.0.0/99");
    await blocklist.blur();
    await page.getByTestId("settings-save").click();
    assert.match(await page.getByTestId("settings-error").innerText(), /not an IP address or a CIDR range/);
    assert.deepEqual(problemsOf(page, [/status of 400/]), []);
  });
});
