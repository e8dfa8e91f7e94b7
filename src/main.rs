//! The `otrelay` command: `run`, `check`, `explain`, `test-message`.
//!
//! Runs on the main thread, which becomes the pipeline thread under `run`. Exit statuses: 0 on
//! success, 1 when something could not be delivered or started, 78 (`EX_CONFIG`) for a bad
//! config.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use otrelay::config::{Config, EXIT_CONFIG};

/// Forwards Microsoft Defender for IoT alerts to SIEMs as CEF over syslog, at line rate.
#[derive(Parser)]
#[command(name = "otrelay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Forward alerts from the configured sources until they end or SIGINT/SIGTERM.
    Run {
        /// Config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Validate a config file; exits 78 with the line and key of the first problem.
    Check {
        /// Config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Read alerts on stdin and say, for each, which exclusion, rule and condition decided its
    /// fate and what each matching action would send. Sends nothing.
    Explain {
        /// Config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Send a clearly marked test alert through every action of a rule.
    TestMessage {
        /// Config file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// Name of the rule to test.
        #[arg(short, long)]
        rule: String,
    },
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("otrelay: config error: {e}");
        ExitCode::from(EXIT_CONFIG as u8)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match load(&config) {
            Ok(c) => {
                print!("{}", otrelay::cli::describe(&c));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run { config } => {
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let stop = Arc::new(AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
                    eprintln!("otrelay: cannot install the handler for signal {signal}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            match otrelay::run::run(&config, stop) {
                Ok(outcome) => {
                    eprint!("{}", outcome.summary);
                    if outcome.undelivered > 0 {
                        eprintln!(
                            "otrelay: ERROR {} messages were not delivered; they are in {}",
                            outcome.undelivered,
                            config.dead_letter.display()
                        );
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("otrelay: ERROR {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Explain { config } => {
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let stdin = std::io::stdin().lock();
            let mut stdout = std::io::stdout().lock();
            match otrelay::cli::explain(&config, stdin, &mut stdout) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("otrelay: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::TestMessage { config, rule } => {
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match otrelay::cli::test_message(&config, &rule) {
                Ok(results) => {
                    let mut failed = false;
                    for r in results {
                        match r.outcome {
                            Ok(_) => eprintln!("otrelay: test message: {}: sent", r.action),
                            Err(e) => {
                                failed = true;
                                eprintln!("otrelay: test message: {}: FAILED: {e}", r.action);
                            }
                        }
                    }
                    if failed {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("otrelay: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
