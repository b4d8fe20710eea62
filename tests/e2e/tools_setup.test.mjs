// One-click tool setup in headless Chromium: on the CLI tools page a user previews the change
// to Claude Code's settings as a diff, applies it (a key is made for the tool), sees the card
// turn "Uses this gateway", and restores the file to its exact bytes. The gateway runs with a
// temp HOME, so the machine's real config is never touched.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import { launchBrowser, openPage, problemsOf, screenshot, signIn, startGateway } from "./harness.mjs";

describe("tool setup", () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "omniroute-e2e-home-"));
  const settings = path.join(home, ".claude", "settings.json");
  const original = '{\n  // mine\n  "theme": "dark"\n}\n';
  let gateway;
  let browser;
  let page;

  before(async () => {
    mkdirSync(path.dirname(settings), { recursive: true });
    writeFileSync(settings, original);
    gateway = await startGateway({ HOME: home, PATH: "/usr/bin:/bin" });
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await openPage(context);
    await signIn(page, gateway);
  });

  after(async () => {
    await browser?.close();
    const code = await gateway?.stop();
    rmSync(home, { recursive: true, force: true });
    assert.equal(code, 0, "the gateway exits cleanly");
  });

  it("previews, applies and restores Claude Code's settings", async () => {
    await page.goto(`${gateway.dashboard}tools`);
    const card = page.locator('[data-testid="tool-card"][data-id="claude-code"]');
    await card.waitFor();
    assert.equal(await card.getAttribute("data-configured"), "false");
    await card.getByTestId("setup-model").fill("anthropic/claude-sonnet-4-5");

    await card.getByTestId("setup-preview").click();
    const diff = await card.getByTestId("setup-diff").innerText();
    assert.match(diff, new RegExp(`\\+\\s+"ANTHROPIC_BASE_URL": "${gateway.origin}"`));
    assert.match(diff, /\+\s+"ANTHROPIC_MODEL": "anthropic\/claude-sonnet-4-5"/);
    assert.equal(readFileSync(settings, "utf8"), original, "a preview writes nothing");
    await screenshot(page, "40-tools-setup-preview");

    await card.getByTestId("setup-apply").click();
    // The list reloads after the change, so the card is found again.
    const applied = page.locator('[data-testid="tool-card"][data-id="claude-code"][data-configured="true"]');
    await applied.waitFor();
    const written = readFileSync(settings, "utf8");
    assert.ok(written.startsWith('{\n  // mine\n  "theme": "dark",'), written);
    assert.match(written, /"ANTHROPIC_AUTH_TOKEN": "sk-/);
    await screenshot(page, "41-tools-setup-applied");

    // The key made for the tool is listed on the keys page.
    const keys = await page.evaluate(async () => (await (await fetch("/api/keys")).json()).data);
    assert.ok(keys.some((k) => k.name === "claude-code (set up by OmniRoute)"), JSON.stringify(keys));

    await applied.getByTestId("setup-restore").click();
    await page.locator('[data-testid="tool-card"][data-id="claude-code"][data-configured="false"]').waitFor();
    assert.equal(readFileSync(settings, "utf8"), original, "restore gives back the exact bytes");
    assert.deepEqual(readdirSync(path.dirname(settings)), ["settings.json"]);

    // A file that does not parse is refused with the gateway's message, and left alone.
    const codexConfig = path.join(home, ".codex", "config.toml");
    mkdirSync(path.dirname(codexConfig), { recursive: true });
    writeFileSync(codexConfig, "model = [\n");
    const codex = page.locator('[data-testid="tool-card"][data-id="codex"]');
    await codex.getByTestId("setup-model").fill("openai/gpt-4.1");
    await codex.getByTestId("setup-apply").click();
    assert.match(await codex.getByTestId("setup-error").innerText(), /config\.toml is not valid TOML/);
    assert.equal(readFileSync(codexConfig, "utf8"), "model = [\n");
    assert.deepEqual(problemsOf(page, [/status of 409/]), []);
  });
});
