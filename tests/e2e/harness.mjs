// Starts the real pieces for a browser test: the mock upstreams, a fresh gateway and headless Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN_DIR = process.env.OMNIROUTE_BIN_DIR ?? path.join(ROOT, "target", "debug");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const PASSWORD = "e2e-dashboard-pass";

/** Where screenshots go: `E2E_SCREENSHOTS`, else target/e2e-screenshots. */
export const SCREENSHOT_DIR =
  process.env.E2E_SCREENSHOTS ?? path.join(ROOT, "target", "e2e-screenshots");

/** Runs `bin args`, resolving with the first stdout line that starts with `prefix`. */
function startProcess(bin, args, prefix, env, stdin = "ignore") {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: [stdin, "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk) => {
      buffered += chunk;
      for (const line of buffered.split("\n")) {
        if (line.startsWith(prefix)) {
          child.stdout.off("data", onData);
          child.stdout.resume();
          resolve({ child, line: line.trim(), stderr: () => stderr });
          return;
        }
      }
    };
    child.stdout.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${bin} exited early (${code}): ${stderr}`)));
  });
}

/** The mock upstream (speaks OpenAI, Anthropic, Gemini), its base URL ending in /v1. */
export async function startMock() {
  const { child, line } = await startProcess(path.join(BIN_DIR, "mock-upstream"), [], "http://", {});
  return { url: line, stop: () => stop(child) };
}

/**
 * The mock of the subscription (OAuth) providers (tests/src/mock/oauth.rs):
 * `origin` is what the gateway's `OMNIROUTE_UPSTREAM_OVERRIDE` takes, and
 * `url(real)` where the mock serves a real `https://host/path` URL. Options:
 * `deviceInterval` (seconds), `emails` and `scripts` keyed by a host of the
 * provider (`{ "github.com": ["pending", "slow_down"] }`: one device-poll
 * answer each, then every poll approves). `control(command)` changes the
 * running mock (`revoke-refresh claude.ai`, `access-lifetime 0`: see
 * tests/src/bin/mock_oauth.rs) and resolves once it is applied.
 */
export async function startOAuthMock({ deviceInterval, emails = {}, scripts = {} } = {}) {
  const args = [];
  if (deviceInterval !== undefined) args.push("--device-interval", String(deviceInterval));
  for (const [host, email] of Object.entries(emails)) args.push("--email", `${host}=${email}`);
  for (const [host, steps] of Object.entries(scripts)) args.push("--script", `${host}=${steps.join(",")}`);
  const { child, line } = await startProcess(path.join(BIN_DIR, "mock-oauth"), args, "http://", {}, "pipe");
  // Commands are answered in order, one `ok …` or `error …` line each.
  const waiting = [];
  let buffered = "";
  child.stdout.on("data", (chunk) => {
    buffered += chunk;
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const answer = buffered.slice(0, end).trim();
      buffered = buffered.slice(end + 1);
      const next = waiting.shift();
      if (!next) continue;
      if (answer.startsWith("ok ")) next.resolve();
      else next.reject(new Error(`mock-oauth: ${answer}`));
    }
  });
  return {
    origin: line,
    url: (real) => `${line}/${real.replace(/^https?:\/\//, "")}`,
    control: (command) =>
      new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${command}\n`);
      }),
    stop: () => stop(child),
  };
}

/** A gateway on a free port with an empty data dir, as on a user's first start. */
export async function startGateway(extraEnv = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "omniroute-e2e-"));
  const { child, line, stderr } = await startProcess(
    path.join(BIN_DIR, "omniroute"),
    ["--port", "0", "--no-open", "--data-dir", dataDir],
    "OmniRoute listening on ",
    { OMNIROUTE_LOG: "warn", INITIAL_PASSWORD: PASSWORD, ...extraEnv },
  );
  const v1 = line.replace("OmniRoute listening on ", "");
  const origin = v1.replace(/\/v1$/, "");
  return {
    origin,
    dashboard: `${origin}/dashboard/`,
    stderr,
    stop: async () => {
      const code = await stop(child);
      rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve(child.exitCode);
      return;
    }
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

/** Headless Chromium with the flags these machines need. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A page that records console errors and uncaught exceptions, so a test can
 * assert none happened. Failed requests the test provokes on purpose (a wrong
 * password) are logged by Chromium as console errors too; `allow` filters them.
 */
export async function openPage(context) {
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") page.problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => page.problems.push(`pageerror: ${error.message}`));
  return page;
}

/** The problems a page logged, leaving out the expected ones. */
export function problemsOf(page, allow = []) {
  return page.problems.filter((p) => !allow.some((pattern) => pattern.test(p)));
}

/** Saves a full-page screenshot as `<dir>/<name>.png`. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Signs in through the login form. */
export async function signIn(page, gateway) {
  await page.goto(gateway.dashboard);
  await page.getByTestId("login-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("page-overview").waitFor();
}
