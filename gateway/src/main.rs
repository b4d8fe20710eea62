//! The headless `omniroute` binary: parse flags, start the gateway, stop cleanly on a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omniroute::clitools::command::{GatewayPlace, SetupRequest};
use omniroute::config::{Options, default_data_dir};
use omniroute::{Gateway, Handle};

/// OmniRoute: one local endpoint for every AI coding tool.
#[derive(Parser, Debug)]
#[command(name = "omniroute", version, about)]
struct Cli {
    /// Address to listen on [default: 127.0.0.1, or [server] host of the config file]
    #[arg(long, env = "OMNIROUTE_HOST", global = true)]
    host: Option<String>,
    /// Port to listen on [default: 20128, or [server] port of the config file]
    #[arg(long, env = "PORT", global = true)]
    port: Option<u16>,
    /// Where the database and key file live [default: ~/.omniroute]
    #[arg(long, env = "DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// A declarative TOML config file applied at start
    #[arg(long, env = "OMNIROUTE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Do not open the dashboard in a browser
    #[arg(long)]
    no_open: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Set a new dashboard password and sign every browser out
    ResetPassword {
        /// The new password (at least 8 characters) [default: a generated one, printed]
        #[arg(long, env = "OMNIROUTE_NEW_PASSWORD")]
        password: Option<String>,
    },
    /// Point a coding tool at this gateway (showing the change as a diff), or put its files back
    Setup {
        /// claude-code, codex, gemini-cli, openclaw, cline, kilo-code, roo-code, continue, opencode, qwen-code, droid, copilot, or cursor (prints the steps)
        #[arg(required_unless_present = "list")]
        tool: Option<String>,
        /// List the tools found on this machine and their state
        #[arg(long, conflicts_with_all = ["restore", "dry_run"])]
        list: bool,
        /// Put back the tool's files as they were before OmniRoute changed them
        #[arg(long)]
        restore: bool,
        /// Show the change, write nothing
        #[arg(long)]
        dry_run: bool,
        /// The model or combo the tool uses [default: the first enabled combo]
        #[arg(long)]
        model: Option<String>,
        /// More models to offer, comma-separated (Copilot, OpenCode, Continue, Droid, OpenClaw)
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// A gateway API key [default: a new key made for this tool]
        #[arg(long, env = "OMNIROUTE_API_KEY")]
        key: Option<String>,
        /// The gateway's address as the tool reaches it [default: where the gateway is configured to serve]
        #[arg(long)]
        url: Option<String>,
    },
    /// Write a consistent copy of the database (safe while the gateway runs)
    Backup {
        /// Where to write it [default: <data dir>/backups/omniroute-<time>-manual.db]
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Replace the database with a backup, after checking it; a running gateway reloads
    Restore {
        /// A database written by `omniroute backup`, the dashboard, or the automatic backups
        file: PathBuf,
    },
    /// Re-seal every stored secret under a new data key (stop the gateway first)
    Rekey,
}

/// Runs `backup`, `restore` or `rekey`; `None` for other commands.
fn maintenance(command: &Command, data_dir: &std::path::Path) -> Option<ExitCode> {
    let env_key = std::env::var("OMNIROUTE_SECRET_KEY").ok();
    let (name, outcome) = match command {
        Command::Backup { out } => (
            "backup",
            omniroute::admin::backup_database(data_dir, out.as_deref())
                .map(|file| format!("Backup written to {}\n", file.display())),
        ),
        Command::Restore { file } => (
            "restore",
            omniroute::admin::restore_database(data_dir, file, env_key.as_deref()).map(|done| {
                format!(
                    "Restored {} (schema version {}, {} connections, {} combos).\nThe replaced database is kept as {}.\nA running gateway reloads within seconds.\n",
                    file.display(),
                    done.info.schema_version,
                    done.info.connections,
                    done.info.combos,
                    done.previous.display()
                )
            }),
        ),
        Command::Rekey => (
            "rekey",
            omniroute::admin::rekey(data_dir, env_key.as_deref()).map(|done| match done.new_env_key {
                Some(key) => format!(
                    "{} secrets re-sealed. The data key comes from OMNIROUTE_SECRET_KEY: set it to this new key before the next start (shown only this once):\n{key}\n",
                    done.secrets
                ),
                None => format!(
                    "{} secrets re-sealed under a new data key; the key file was replaced.\n",
                    done.secrets
                ),
            }),
        ),
        _ => return None,
    };
    Some(match outcome {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("omniroute {name}: {e}");
            ExitCode::FAILURE
        }
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
        if let Some(code) = maintenance(command, &data_dir) {
            return code;
        }
    }
    if let Some(Command::Setup {
        tool,
        list,
        restore,
        dry_run,
        model,
        models,
        key,
        url,
    }) = cli.command
    {
        let request = SetupRequest {
            tool,
            list,
            restore,
            dry_run,
            model,
            extra_models: models,
            key,
            url,
        };
        let place = GatewayPlace {
            data_dir: cli.data_dir.unwrap_or_else(default_data_dir),
            host: cli.host,
            port: cli.port,
            config: cli.config,
        };
        let outcome = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(omniroute::clitools::command::run(request, place)));
        return match outcome {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("omniroute setup: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::ResetPassword { password }) = cli.command {
        let data_dir = cli.data_dir.unwrap_or_else(default_data_dir);
        return match omniroute::reset_dashboard_password(&data_dir, password.clone()) {
            Ok(new) => {
                if password.is_none() {
                    println!("New dashboard password (shown only this once): {new}");
                } else {
                    println!("The dashboard password was changed.");
                }
                println!(
                    "Every dashboard session was signed out ({}).",
                    data_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("omniroute reset-password: {e}");
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OMNIROUTE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omniroute: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let options = Options {
        host: cli.host,
        port: cli.port,
        data_dir: cli.data_dir.unwrap_or_else(default_data_dir),
        config_path: cli.config,
        secret_key_hex: std::env::var("OMNIROUTE_SECRET_KEY").ok(),
        initial_password: std::env::var("INITIAL_PASSWORD").ok(),
        warnings: Vec::new(),
        upstream_override: std::env::var("OMNIROUTE_UPSTREAM_OVERRIDE")
            .ok()
            .filter(|o| !o.is_empty()),
    };
    let handle = match Gateway::start(options).await {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("omniroute: {e}");
            return ExitCode::FAILURE;
        }
    };
    announce(&handle, cli.no_open);
    wait_for_signal().await;
    eprintln!("omniroute: shutting down, flushing usage records…");
    handle.shutdown().await;
    eprintln!("omniroute: stopped");
    ExitCode::SUCCESS
}

fn announce(handle: &Handle, _no_open: bool) {
    println!("Data dir: {}", handle.data_dir().display());
    if let Some(key) = handle.generated_api_key() {
        println!("Generated an API key (shown only this once, store it now): {key}");
    }
    if let Some(password) = handle.generated_dashboard_password() {
        println!("Dashboard password (shown only this once): {password}");
    }
    println!("Dashboard: {}/dashboard/", handle.url());
    // Last, so that whoever waits for this line has seen the ones above.
    println!("OmniRoute listening on {}/v1", handle.url());
    // A headless server has no browser to open; the desktop app opens its own
    // window, so `--no-open` is accepted for scripts and changes nothing here.
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
