// OAuth sign-ins from the providers page in headless Chromium, against a real gateway whose
// provider URLs all lead to the OAuth mock (OMNIROUTE_UPSTREAM_OVERRIDE): GitHub Copilot's
// device flow (a refused code in plain words, then a code approved after `pending` and
// `slow_down`), Claude Code's browser sign-in behind its terms checkbox, once in manual mode
// (the provider's page shows code#state, pasted back) and once through the gateway's own
// /callback, an account whose grant the provider revoked signed in again from its row, and a
// discontinued provider's note. No console error on the way.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  launchBrowser,
  openPage,
  problemsOf,
  screenshot,
  signIn,
  startGateway,
  startOAuthMock,
} from "./harness.mjs";

const COPILOT_EMAIL = "octocat@example.com";
const CLAUDE_EMAIL = "claude-max@example.com";
// Claude's manual-mode page, where its authorize endpoint sends the browser: the mock plays it.
const CLAUDE_MANUAL_PAGE = "https://platform.claude.com/oauth/code/callback";

describe("OAuth sign-in from the providers page", () => {
  let mock;
  let gateway;
  let browser;
  let context;
  let page;

  before(async () => {
    mock = await startOAuthMock({
      deviceInterval: 1,
      emails: { "github.com": COPILOT_EMAIL, "claude.ai": CLAUDE_EMAIL },
      // The first code is refused; the second is approved after a pending and a slow_down.
      scripts: { "github.com": ["denied", "pending", "slow_down"] },
    });
    gateway = await startGateway({ OMNIROUTE_UPSTREAM_OVERRIDE: mock.origin });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gateway.origin });
    // The gateway maps the provider URLs it calls to the mock, but the authorize endpoint
    // redirects the browser to the real https host of Claude's code page: map that one the
    // same way, so that the browser never looks for the real host.
    await context.route(`${mock.url("https://claude.com/cai/oauth/authorize")}?**`, async (route) => {
      const answer = await route.fetch({ maxRedirects: 0 });
      const headers = answer.headers();
      if (headers.location?.startsWith("https://")) headers.location = mock.url(headers.location);
      await route.fulfill({ response: answer, headers });
    });
    page = await openPage(context);
    await signIn(page, gateway);
    await page.getByTestId("nav-providers").click();
    await page.getByTestId("page-providers").waitFor();
  });

  after(async () => {
    await browser?.close();
    const code = await gateway?.stop();
    await mock?.stop();
    assert.equal(code, 0, "the gateway exits cleanly");
  });

  const card = (id) => page.locator(`[data-testid="provider-card"][data-id="${id}"]`);
  const dialog = () => page.getByTestId("sign-in");
  const accountRow = (provider) =>
    page.locator(`[data-testid="connection-row"][data-provider="${provider}"]`);

  it("shows a discontinued provider's note instead of a sign-in", async () => {
    await page.getByTestId("provider-search").fill("qwen code");
    const qwen = card("qwen-code");
    await qwen.waitFor();
    assert.equal(await qwen.getAttribute("data-status"), "deprecated");
    assert.match(await qwen.getByTestId("provider-deprecated").innerText(), /discontinued/i);
    assert.match(
      await qwen.getByTestId("provider-status-note").innerText(),
      /Qwen discontinued its free OAuth tier/,
    );
    assert.equal(await qwen.locator("button").count(), 0, "nothing to sign in to or connect");
    await screenshot(page, "oauth-01-discontinued-provider");
  });

  it("offers Sign in (and a token as the second way) on OAuth providers", async () => {
    await page.getByTestId("provider-search").fill("");
    for (const [id, flow] of [
      ["copilot", "device"],
      ["claude-code", "pkce"],
    ]) {
      const c = card(id);
      assert.equal(await c.getAttribute("data-oauth"), flow);
      assert.equal(await c.getByTestId(`sign-in-${id}`).innerText(), "Sign in");
      await c.getByTestId(`connect-${id}`).waitFor();
    }
    assert.equal(await card("openai").getByTestId("sign-in-openai").count(), 0, "API-key providers connect with a key");
  });

  it("says in plain words when the provider refuses the device code", async () => {
    await card("copilot").getByTestId("sign-in-copilot").click();
    assert.equal(await dialog().getAttribute("data-flow"), "device");
    assert.equal(await dialog().getByTestId("sign-in-terms").count(), 0, "Copilot has no terms warning");
    await dialog().getByTestId("sign-in-start").click();
    await dialog().getByTestId("sign-in-user-code").waitFor();
    const failed = dialog().getByTestId("sign-in-failed");
    await failed.waitFor({ timeout: 15_000 });
    assert.match(await failed.innerText(), /did not work.*refused/s);
    await screenshot(page, "oauth-02-device-code-refused");
    await dialog().getByTestId("sign-in-retry").click();
    await dialog().getByTestId("sign-in-start").waitFor();
    assert.equal(await dialog().getAttribute("data-phase"), "intro");
  });

  it("signs in to GitHub Copilot with a device code, slowing down when asked", async () => {
    await dialog().getByTestId("sign-in-start").click();
    const code = dialog().getByTestId("sign-in-user-code");
    await code.waitFor();
    const userCode = (await code.innerText()).trim();
    assert.match(userCode, /^[A-Z2-9]{4}-[A-Z2-9]{4}$/, "the code is shown as the provider gave it");
    assert.equal(
      await dialog().getByTestId("sign-in-verify-link").getAttribute("href"),
      "https://github.com/login/device",
    );
    await dialog().getByTestId("copy").click();
    await dialog().getByTestId("copy").filter({ hasText: "Copied" }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), userCode);
    // pending at 1 s, then slow_down: the gateway says 6 s, and the dialog waits that long.
    const interval = dialog().locator('[data-testid="sign-in-interval"][data-slowed="true"]');
    await interval.waitFor({ timeout: 10_000 });
    assert.equal(await interval.getAttribute("data-interval"), "6");
    assert.match(await interval.innerText(), /every 6 s/);
    await screenshot(page, "oauth-03-device-code");
    const done = dialog().getByTestId("sign-in-done");
    await done.waitFor({ timeout: 20_000 });
    assert.equal(await done.getAttribute("data-email"), COPILOT_EMAIL);
    assert.match(await done.innerText(), new RegExp(`Signed in as ${COPILOT_EMAIL}`));
    await screenshot(page, "oauth-04-device-signed-in");
    await dialog().getByTestId("sign-in-close").click();
    await dialog().waitFor({ state: "detached" });

    const row = accountRow("copilot");
    await row.waitFor();
    assert.equal(await row.getAttribute("data-oauth"), "true");
    assert.equal(await row.getAttribute("data-state"), "active");
    assert.equal(await row.getByTestId("connection-email").innerText(), COPILOT_EMAIL);
    assert.match(await row.getByTestId("connection-token-expiry").innerText(), /token valid for/);
    assert.equal(await card("copilot").getByTestId("sign-in-copilot").innerText(), "Add account");
  });

  it("signs in to Claude Code in manual mode: terms, the provider's page, code#state pasted back", async () => {
    await card("claude-code").getByTestId("sign-in-claude-code").click();
    const terms = dialog().getByTestId("sign-in-terms");
    await terms.waitFor();
    assert.match(await terms.innerText(), /only in Claude Code/);
    const start = dialog().getByTestId("sign-in-start");
    assert.equal(await start.isDisabled(), true, "the warning must be accepted first");
    assert.equal(await dialog().getByTestId("sign-in-manual").isChecked(), false, "a local gateway takes the redirect");
    await dialog().getByTestId("sign-in-manual").check();
    await dialog().getByTestId("sign-in-accept-terms").check();
    await screenshot(page, "oauth-05-terms-warning");

    // The sign-in page opens in a new tab; the provider ends on its page showing code#state.
    const opened = context.waitForEvent("page");
    await start.click();
    const providerTab = await opened;
    await providerTab.waitForURL((url) => url.href.startsWith(mock.url(CLAUDE_MANUAL_PAGE)));
    const pasted = (await providerTab.locator("#code").innerText()).trim();
    assert.match(pasted, /^[^#\s]+#[^#\s]+$/);
    await screenshot(providerTab, "oauth-06-claude-code-page");
    const waiting = dialog().getByTestId("sign-in-waiting");
    assert.equal(await waiting.getAttribute("data-manual"), "true");
    assert.match(await dialog().getByTestId("sign-in-open").getAttribute("href"), /\/claude\.com\/cai\/oauth\/authorize\?code=true&/);

    // Another sign-in's state is refused without ending this one.
    await dialog().getByTestId("sign-in-paste").fill(`${pasted.split("#")[0]}#not-this-state`);
    await dialog().getByTestId("sign-in-complete").click();
    await dialog().getByTestId("sign-in-paste-error").filter({ hasText: "another sign-in" }).waitFor();
    await screenshot(page, "oauth-07-paste-back");

    await dialog().getByTestId("sign-in-paste").fill(pasted);
    await dialog().getByTestId("sign-in-complete").click();
    const done = dialog().getByTestId("sign-in-done");
    await done.waitFor();
    assert.match(await done.innerText(), new RegExp(`Signed in as ${CLAUDE_EMAIL}`));
    await providerTab.close();
    await dialog().getByTestId("sign-in-close").click();

    const row = accountRow("claude-code");
    await row.waitFor();
    assert.equal(await row.getByTestId("connection-email").innerText(), CLAUDE_EMAIL);
    await screenshot(page, "oauth-08-accounts");
  });

  it("signs in to Claude Code again through the gateway's /callback, renewing the same account", async () => {
    // Its new access token is due at once, so the next request renews it (see below).
    await mock.control("access-lifetime 0");
    await card("claude-code").getByTestId("sign-in-claude-code").click();
    await dialog().getByTestId("sign-in-accept-terms").check();
    const opened = context.waitForEvent("page");
    await dialog().getByTestId("sign-in-start").click();
    const providerTab = await opened;
    // The provider sends the browser back to the gateway, which saves the account.
    await providerTab.waitForURL(/^http:\/\/localhost:\d+\/callback\?/);
    assert.match(await providerTab.locator("h1").innerText(), /Signed in/);
    await providerTab.close();
    assert.equal(await dialog().getByTestId("sign-in-waiting").getAttribute("data-manual"), "false");
    const done = dialog().getByTestId("sign-in-done");
    await done.waitFor({ timeout: 10_000 });
    assert.match(await done.innerText(), new RegExp(`Signed in as ${CLAUDE_EMAIL}`));
    await dialog().getByTestId("sign-in-close").click();
    assert.equal(await accountRow("claude-code").count(), 1, "the same account, renewed");
  });

  it("offers Sign in again on an account whose grant the provider revoked, and renews it", async () => {
    await mock.control("revoke-refresh claude.ai");
    await mock.control("access-lifetime 3600");
    // A request through the gateway (the chat tester's route) must renew the token, and the
    // provider refuses: the gateway stops using the account until it signs in again.
    const cookie = (await context.cookies(gateway.origin)).map((c) => `${c.name}=${c.value}`).join("; ");
    const session = await (await fetch(`${gateway.origin}/api/auth/session`, { headers: { cookie } })).json();
    const chat = await fetch(`${gateway.origin}/api/playground/chat`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json", "x-csrf-token": session.csrf_token },
      body: JSON.stringify({ model: "cc/claude-sonnet-4-5", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }),
    });
    const refusal = await chat.text();
    assert.notEqual(chat.status, 200, refusal);
    assert.match(refusal, /Sign in to this account again/);

    const row = accountRow("claude-code");
    for (let i = 0; (await row.getAttribute("data-state")) !== "failed"; i++) {
      assert.ok(i < 50, "the account shows as signed out");
      await page.getByTestId("providers-refresh").click();
      await page.waitForTimeout(200);
    }
    assert.match(await row.getByTestId("connection-state").innerText(), /Signed out/);
    await screenshot(page, "oauth-09-signed-out");
    await row.getByTestId("connection-sign-in-again").click();
    assert.equal(await dialog().getAttribute("data-provider"), "claude-code");
    assert.equal(await dialog().getByTestId("sign-in-name").inputValue(), CLAUDE_EMAIL, "under its own name");
    await dialog().getByTestId("sign-in-accept-terms").check();
    const opened = context.waitForEvent("page");
    await dialog().getByTestId("sign-in-start").click();
    const providerTab = await opened;
    await providerTab.waitForURL(/^http:\/\/localhost:\d+\/callback\?/);
    await providerTab.close();
    await dialog().getByTestId("sign-in-done").waitFor({ timeout: 10_000 });
    await dialog().getByTestId("sign-in-close").click();
    await page.getByTestId("providers-refresh").click();
    await page.locator('[data-testid="connection-row"][data-provider="claude-code"][data-state="active"]').waitFor();
    assert.equal(await row.getByTestId("connection-sign-in-again").count(), 0);
    assert.equal(await accountRow("claude-code").count(), 1, "the same account, back in use");
  });

  it("logged no console error but the one refusal provoked on purpose", () => {
    // Chromium logs a failed fetch as a console error: the paste of another sign-in's state (400).
    const refused = page.problems.filter((p) => /status of 400/.test(p));
    assert.equal(refused.length, 1, page.problems.join("\n"));
    assert.deepEqual(problemsOf(page, [/status of 400/]), []);
  });
});
