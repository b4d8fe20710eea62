// The dashboard end to end in headless Chromium, against a real gateway and a mock upstream:
// a new user signs in, connects a provider account, builds a combo, creates a key, chats
// through the chat tester and watches it arrive in the live monitor, the request log and
// the audit log, and switches to Arabic; every page renders without a console error.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import {
  launchBrowser,
  openPage,
  problemsOf,
  screenshot,
  signIn,
  startGateway,
  startMock,
} from "./harness.mjs";

const PAGES = [
  "overview",
  "providers",
  "combos",
  "keys",
  "analytics",
  "logs",
  "health",
  "translator",
  "tools",
  "settings",
];

// Chromium logs a failed fetch as a console error: the wrong-password attempt
// (401) and the call sent without its CSRF token on purpose (403).
const EXPECTED = [/status of 401/, /status of 403/];

describe("dashboard", () => {
  let mock;
  let gateway;
  let browser;
  let context;
  let page;
  let live;
  const workDir = mkdtempSync(path.join(os.tmpdir(), "omniroute-e2e-"));

  before(async () => {
    mock = await startMock();
    gateway = await startGateway();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await openPage(context);
  });

  after(async () => {
    await browser?.close();
    const code = await gateway?.stop();
    await mock?.stop();
    assert.equal(code, 0, "the gateway exits cleanly");
  });

  it("asks for the password and refuses a wrong one", async () => {
    await page.goto(gateway.dashboard);
    await page.getByTestId("login-form").waitFor();
    await screenshot(page, "00-login");
    await page.getByTestId("login-password").fill("not-the-password");
    await page.getByTestId("login-submit").click();
    await page.getByTestId("login-error").waitFor();
    const cookies = await context.cookies();
    assert.equal(cookies.length, 0, "no session for a wrong password");
  });

  it("signs in with the password and shows the onboarding wizard", async () => {
    await signIn(page, gateway);
    const [session] = await context.cookies();
    assert.equal(session.name, "omniroute_session");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
    await page.getByTestId("onboarding").waitFor();
    const steps = page.getByTestId("onboarding-step");
    assert.equal(await steps.count(), 4);
    for (const done of await steps.evaluateAll((els) => els.map((e) => e.dataset.done))) {
      assert.equal(done, "false", "nothing is set up on a first start");
    }
    await screenshot(page, "01-overview-first-start");
  });

  it("refuses a state change sent without the session's CSRF token", async () => {
    const status = await page.evaluate(
      async () =>
        (
          await fetch("/api/combos", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ name: "x", strategy: "fill-first", models: ["openai/gpt-4.1"] }),
          })
        ).status,
    );
    assert.equal(status, 403);
  });

  it("connects a provider account on the providers page and tests it", async () => {
    await page.getByTestId("nav-providers").click();
    await page.getByTestId("page-providers").waitFor();
    await page.getByTestId("provider-search").fill("openai");
    const cards = page.getByTestId("provider-card");
    await page.locator('[data-testid="provider-card"][data-id="anthropic"]').waitFor({ state: "detached" });
    assert.ok((await cards.count()) >= 1, "the search keeps OpenAI");
    await page.getByTestId("connect-openai").click();
    await page.getByTestId("connect-name").fill("e2e-openai");
    await page.getByTestId("connect-api-key").fill("sk-upstream-e2e");
    await page.getByTestId("connect-advanced").click();
    await page.getByTestId("connect-base-url").fill(mock.url);
    await page.getByTestId("connect-submit").click();
    const row = page.locator('[data-testid="connection-row"][data-name="e2e-openai"]');
    await row.waitFor();
    assert.equal(await row.getAttribute("data-enabled"), "true");
    await row.getByTestId("connection-test").click();
    await row.locator('[data-testid="connection-test-result"][data-ok="true"]').waitFor();
    await screenshot(page, "02-provider-connected");
    // The secret never comes back to the browser.
    assert.ok(!(await page.content()).includes("sk-upstream-e2e"));
  });

  it("creates a combo and reorders its entries by dragging", async () => {
    await page.getByTestId("nav-combos").click();
    await page.getByTestId("page-combos").waitFor();
    await page.getByTestId("combo-new").click();
    await page.getByTestId("combo-name").fill("e2e-combo");
    await page.getByTestId("combo-strategy").selectOption("fill-first");
    for (const model of ["openai/gpt-4.1-mini", "openai/gpt-4.1"]) {
      await page.getByTestId("combo-entry-input").fill(model);
      await page.getByTestId("combo-entry-add").click();
    }
    const order = () => page.getByTestId("combo-entry").evaluateAll((els) => els.map((e) => e.dataset.value));
    assert.deepEqual(await order(), ["openai/gpt-4.1-mini", "openai/gpt-4.1"]);
    const entries = page.getByTestId("combo-entry");
    await entries.nth(1).dragTo(entries.nth(0));
    assert.deepEqual(await order(), ["openai/gpt-4.1", "openai/gpt-4.1-mini"]);
    await page.getByTestId("combo-save").click();
    const row = page.locator('[data-testid="combo-row"][data-name="e2e-combo"]');
    await row.waitFor();
    const saved = await page.evaluate(async () => (await (await fetch("/api/combos/e2e-combo")).json()).models);
    assert.deepEqual(saved, ["openai/gpt-4.1", "openai/gpt-4.1-mini"]);
    await screenshot(page, "03-combo-created");
  });

  it("creates an API key shown once", async () => {
    await page.getByTestId("nav-keys").click();
    await page.getByTestId("page-keys").waitFor();
    await page.getByTestId("key-new").click();
    await page.getByTestId("key-name").fill("e2e-key");
    await page.getByTestId("key-create").click();
    const secret = page.getByTestId("key-secret");
    await secret.waitFor();
    const key = (await secret.innerText()).trim();
    assert.ok(key.length >= 20, `a key was shown: ${key}`);
    // The key works on the data plane.
    const reply = await fetch(`${gateway.origin}/v1/models`, { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(reply.status, 200);
    await page.keyboard.press("Escape");
    await page.locator('[data-testid="key-row"][data-name="e2e-key"]').waitFor();
  });

  it("sends a chat through the chat tester and sees each step", async () => {
    live = await openPage(context);
    await live.goto(`${gateway.dashboard}logs?tab=live`);
    await live.locator('[data-testid="live-status"][data-state="connected"]').waitFor();
    await page.getByTestId("nav-translator").click();
    await page.getByTestId("tab-chat").click();
    await page.getByTestId("chat-model").fill("e2e-combo");
    await page.getByTestId("chat-message").fill("Say hello");
    await page.getByTestId("chat-send").click();
    await page.getByTestId("chat-answer").filter({ hasText: "Hello from mock" }).waitFor();
    await page.locator('[data-testid="chat-step"][data-step="done"]').waitFor();
    await page.getByTestId("chat-steps").filter({ hasText: "openai" }).waitFor();
    await screenshot(page, "07-chat-tester");
    // The request was recorded like any tool's.
    const rows = await page.evaluate(async () => (await (await fetch("/api/usage?limit=5")).json()).data);
    assert.ok(rows.some((r) => r.requested_model === "e2e-combo" && r.status === 200 && r.provider === "openai"));
  });

  it("shows the chat in the live monitor of another tab, without a reload", async () => {
    const row = live.getByTestId("live-row").filter({ hasText: "e2e-combo" });
    await row.first().waitFor();
    await screenshot(live, "08-live-monitor");
  });

  it("lists the chat in the request log and opens its detail", async () => {
    await live.getByTestId("tab-requests").click();
    const row = live.getByTestId("log-row").filter({ hasText: "e2e-combo" });
    await row.first().click();
    const detail = live.getByTestId("log-detail");
    await detail.waitFor();
    assert.equal((await live.getByTestId("log-detail-status").innerText()).trim(), "200");
    assert.match(await detail.innerText(), /gpt-4\.1/);
    // Bodies are kept only while debug logging is on, and the drawer says so.
    await live.getByTestId("log-bodies-off").waitFor();
    await screenshot(live, "09-request-detail");
    await live.keyboard.press("Escape");
    await detail.waitFor({ state: "detached" });
  });

  it("records every change in the audit log, without secrets", async () => {
    await live.getByTestId("tab-audit").click();
    const rows = live.getByTestId("audit-row");
    await rows.first().waitFor();
    const text = await live.getByTestId("audit-table").innerText();
    assert.match(text, /created connection "e2e-openai"/);
    assert.match(text, /created combo "e2e-combo"/);
    assert.match(text, /created API key "e2e-key"/);
    assert.match(text, /signed in/);
    const entries = await live.evaluate(async () => (await (await fetch("/api/audit")).json()).data);
    assert.ok(!JSON.stringify(entries).includes("sk-upstream-e2e"), "no secret in the audit log");
    assert.ok(entries.every((e) => e.actor === "session" || e.actor === "anonymous"));
    assert.deepEqual(problemsOf(live, EXPECTED), []);
    await live.close();
  });

  it("backs up, restores, exports and imports from the settings page", async () => {
    await page.getByTestId("nav-settings").click();
    await page.getByTestId("backup-card").waitFor();
    const [backup] = await Promise.all([page.waitForEvent("download"), page.getByTestId("backup-download").click()]);
    assert.match(backup.suggestedFilename(), /^omniroute-backup-\d{8}-\d{6}\.sqlite$/);
    const backupPath = path.join(workDir, backup.suggestedFilename());
    await backup.saveAs(backupPath);
    assert.equal(readFileSync(backupPath).subarray(0, 15).toString(), "SQLite format 3");

    // A combo deleted after the backup comes back with the restore.
    const deleted = await page.evaluate(async () => {
      const { csrf_token: csrf } = await (await fetch("/api/auth/session")).json();
      return (await fetch("/api/combos/e2e-combo", { method: "DELETE", headers: { "X-CSRF-Token": csrf } })).status;
    });
    assert.equal(deleted, 204);
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByTestId("restore-file").setInputFiles(backupPath);
    await page.getByTestId("restore-run").click();
    await page.locator(".toast-ok").filter({ hasText: "Backup restored" }).waitFor();
    const combos = await page.evaluate(async () => (await (await fetch("/api/combos")).json()).data.map((c) => c.name));
    assert.ok(combos.includes("e2e-combo"), `restored combos: ${combos}`);
    // Still signed in: the restore kept the session.
    assert.equal(await page.evaluate(async () => (await fetch("/api/keys")).status), 200);

    const [exported] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-download").click()]);
    const exportPath = path.join(workDir, exported.suggestedFilename());
    await exported.saveAs(exportPath);
    const config = JSON.parse(readFileSync(exportPath, "utf8"));
    assert.equal(config.format, "omniroute-config");
    assert.ok(config.combos.some((c) => c.name === "e2e-combo"));
    assert.ok(!readFileSync(exportPath, "utf8").includes("sk-upstream-e2e"), "no secret in the export");
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByTestId("import-file").setInputFiles(exportPath);
    await page.getByTestId("import-run").click();
    await page.locator(".toast-ok").filter({ hasText: "Configuration imported" }).waitFor();
    await screenshot(page, "04-settings-data");
  });

  it("resets breakers and cooldowns from the health page", async () => {
    await page.getByTestId("nav-health").click();
    await page.getByTestId("health-providers").waitFor().catch(() => {});
    page.once("dialog", (dialog) => dialog.accept());
    await page.getByTestId("health-reset").click();
    await page.locator(".toast-ok").filter({ hasText: "Breakers and cooldowns reset" }).waitFor();
  });

  it("shows the onboarding steps done once everything is set up", async () => {
    await page.getByTestId("nav-overview").click();
    await page.getByTestId("page-overview").waitFor();
    const steps = page.getByTestId("onboarding-step");
    if (await steps.count()) {
      const done = await steps.evaluateAll((els) => els.map((e) => e.dataset.done));
      assert.deepEqual(done, ["true", "true", "true", "true"]);
    }
  });

  it("renders every page without console errors, and screenshots each", async () => {
    for (const [i, name] of PAGES.entries()) {
      await page.getByTestId(`nav-${name}`).click();
      await page.getByTestId(`page-${name}`).waitFor();
      await page.locator(".loading").first().waitFor({ state: "detached", timeout: 10_000 }).catch(() => {});
      await screenshot(page, `${String(i + 10).padStart(2, "0")}-${name}`);
    }
    assert.deepEqual(problemsOf(page, EXPECTED), []);
  });

  it("fits a 1024 px wide window and has a light theme", async () => {
    await page.setViewportSize({ width: 1024, height: 800 });
    for (const name of PAGES) {
      await page.getByTestId(`nav-${name}`).click();
      await page.getByTestId(`page-${name}`).waitFor();
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      assert.ok(overflow <= 0, `${name} scrolls sideways by ${overflow}px at 1024 px`);
    }
    const before = await page.locator("html").getAttribute("data-theme");
    await page.getByTestId("theme-toggle").click();
    const theme = await page.locator("html").getAttribute("data-theme");
    assert.notEqual(theme, before);
    await screenshot(page, `20-settings-${theme}-1024`);
    await page.getByTestId("theme-toggle").click();
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("switches to Arabic, lays out right to left, and remembers it", async () => {
    await page.getByTestId("language").selectOption("ar");
    assert.equal(await page.locator("html").getAttribute("dir"), "rtl");
    assert.equal(await page.locator("html").getAttribute("lang"), "ar");
    assert.match(await page.getByTestId("nav-providers").innerText(), /المزوّدون/);
    await screenshot(page, "30-arabic-rtl");
    await page.reload();
    await page.getByTestId("nav-providers").waitFor();
    assert.equal(await page.locator("html").getAttribute("dir"), "rtl");
    await page.getByTestId("language").selectOption("en");
    assert.equal(await page.locator("html").getAttribute("dir"), "ltr");
  });

  it("signs out", async () => {
    await page.getByTestId("logout").click();
    await page.getByTestId("login-form").waitFor();
    const reply = await page.evaluate(async () => (await fetch("/api/keys")).status);
    assert.equal(reply, 401);
  });
});
