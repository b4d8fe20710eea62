//! Runs the mock of the subscription (OAuth) providers as a process, for the browser tests: `mock-oauth [--device-interval S] [--email HOST=EMAIL]… [--script HOST=STEP,STEP…]…`; prints its origin (`http://127.0.0.1:P`, the gateway's `OMNIROUTE_UPSTREAM_OVERRIDE`), then takes control commands on stdin until killed.
//!
//! `--device-interval` sets the `interval` device flows hand out (the real
//! providers' 5 s by default); `--email` the account a login of `HOST`'s
//! provider creates; `--script` queues device-poll answers for `HOST`'s
//! provider (`pending`, `slow_down`, `denied`, `expired`, `approve`), after
//! which every poll approves.
//!
//! Each stdin line is one command, answered by `ok <line>` (or
//! `error <line>: <why>`) on stdout once applied:
//! - `access-lifetime SECS`: the `expires_in` of access tokens issued from now on;
//! - `revoke-refresh HOST`: every refresh token `HOST`'s provider issued stops working;
//! - `revoke-access HOST`: every access token `HOST`'s provider issued stops working;
//! - `email HOST EMAIL`, `script HOST STEP,STEP…`: as the options, from now on.
//!
//! A host the mock does not play is refused (the mock's controls would panic).

use std::io::{BufRead, Write};

use omniroute_tests::mock::oauth::{DeviceStep, OAuthMock};

/// Hosts of every provider the mock plays, as its controls accept them.
const HOSTS: &[&str] = &[
    "auth.openai.com",
    "chatgpt.com",
    "claude.com",
    "claude.ai",
    "platform.claude.com",
    "console.anthropic.com",
    "api.anthropic.com",
    "accounts.google.com",
    "oauth2.googleapis.com",
    "www.googleapis.com",
    "cloudcode-pa.googleapis.com",
    "github.com",
    "api.github.com",
    "api.githubcopilot.com",
    "auth.kimi.com",
    "api.kimi.com",
    "api.kilo.ai",
    "app.kilo.ai",
    "api.workos.com",
    "api.cline.bot",
    "app.cline.bot",
    "oidc.us-east-1.amazonaws.com",
    "q.us-east-1.amazonaws.com",
    "codewhisperer.us-east-1.amazonaws.com",
    "chat.qwen.ai",
    "portal.qwen.ai",
];

fn host(name: &str) -> Result<&str, String> {
    HOSTS
        .contains(&name)
        .then_some(name)
        .ok_or_else(|| format!("{name} is not a host the mock plays"))
}

/// The value after each `--name` in `args`.
fn values<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].as_str())
        .collect()
}

fn steps(list: &str) -> Result<Vec<DeviceStep>, String> {
    list.split(',')
        .map(|name| {
            Ok(match name.trim() {
                "pending" => DeviceStep::Pending,
                "slow_down" => DeviceStep::SlowDown,
                "denied" => DeviceStep::Denied,
                "expired" => DeviceStep::Expired,
                "approve" => DeviceStep::Approve,
                other => return Err(format!("unknown device step `{other}`")),
            })
        })
        .collect()
}

fn seconds(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))
}

/// `HOST=VALUE`.
fn pair(arg: &str) -> Result<(&str, &str), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("`{arg}` is not HOST=VALUE"))?;
    Ok((host(name)?, value))
}

fn configure(mock: &OAuthMock, args: &[String]) -> Result<(), String> {
    if let Some(secs) = values(args, "--device-interval").last() {
        mock.set_device_interval(seconds(secs)?);
    }
    for arg in values(args, "--email") {
        let (host, email) = pair(arg)?;
        mock.set_email(host, email);
    }
    for arg in values(args, "--script") {
        let (host, list) = pair(arg)?;
        mock.script_device(host, steps(list)?);
    }
    Ok(())
}

/// Applies one stdin command.
fn command(mock: &OAuthMock, line: &str) -> Result<(), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["access-lifetime", secs] => mock.set_access_lifetime(seconds(secs)?),
        ["revoke-refresh", name] => mock.revoke_refresh_tokens(host(name)?),
        ["revoke-access", name] => mock.revoke_access_tokens(host(name)?),
        ["email", name, email] => mock.set_email(host(name)?, email),
        ["script", name, list] => mock.script_device(host(name)?, steps(list)?),
        _ => return Err("unknown command".into()),
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mock = OAuthMock::start().await;
    if let Err(why) = configure(&mock, &args) {
        eprintln!("mock-oauth: {why}");
        std::process::exit(2);
    }
    println!("{}", mock.origin());
    let control = mock.clone();
    // Commands come from a plain thread: the controls only take a lock. At
    // the end of stdin the mock keeps running.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let answer = match command(&control, line) {
                Ok(()) => format!("ok {line}"),
                Err(why) => format!("error {line}: {why}"),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{answer}");
            let _ = out.flush();
        }
    });
    let _ = tokio::signal::ctrl_c().await;
}
