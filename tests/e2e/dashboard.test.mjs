// The dashboard end to end in headless Chromium, against a real gateway and a mock upstream:
// a new user signs in, sets up a provider and a combo, creates a key, chats through the
// chat tester, and switches to Arabic; every page renders without a console error.
import assert from "node:assert/strict";
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

  it("sets up a provider account and a combo through the session's API", async () => {
    // The providers and combos pages are not built yet; their API is, and the
    // signed-in browser uses it with its session cookie and CSRF token.
    const result = await page.evaluate(async (mockUrl) => {
      const { csrf_token: csrf } = await (await fetch("/api/auth/session")).json();
      const post = (path, body, token) =>
        fetch(path, {
          method: "POST",
          headers: { "Content-Type": "application/json", ...(token ? { "X-CSRF-Token": token } : {}) },
          body: JSON.stringify(body),
        });
      const refused = (await post("/api/combos", { name: "x", strategy: "fill-first", models: ["openai/gpt-4.1"] })).status;
      const connection = (
        await post("/api/connections", { provider: "openai", name: "e2e-openai", api_key: "sk-upstream-e2e", base_url: mockUrl }, csrf)
      ).status;
      const combo = (
        await post("/api/combos", { name: "e2e-combo", strategy: "fill-first", models: ["openai/gpt-4.1", "openai/gpt-4.1-mini"] }, csrf)
      ).status;
      return { refused, connection, combo };
    }, mock.url);
    assert.equal(result.refused, 403, "a call without the CSRF token is refused");
    assert.ok([200, 201].includes(result.connection), `connection: ${result.connection}`);
    assert.ok([200, 201].includes(result.combo), `combo: ${result.combo}`);
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
    for (const name of ["overview", "analytics", "settings"]) {
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
