//! `sync run [FILE]`: see the crate docs. Exit 0 on success, 1 when a side failed, 2 on bad input.

use clap::{Parser, Subcommand};
use runner::{pipeline, SyncConfig};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Run an Airbyte source into a destination, with state, progress and the post-sync hook")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a sync; without FILE, the embedded default (sample workbook -> local Parquet + quality report).
    Run {
        file: Option<PathBuf>,
        /// Never draw a progress bar.
        #[arg(long)]
        no_progress: bool,
    },
}

fn main() -> ExitCode {
    let Cmd::Run { file, no_progress } = Cli::parse().command;
    let cfg = match &file {
        Some(f) => SyncConfig::load(f),
        None => SyncConfig::parse(runner::config::DEFAULT_SYNC_YAML, &std::env::current_dir().unwrap_or_default()),
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sync: {e:#}");
            return ExitCode::from(2);
        }
    };
    let opts = pipeline::RunOptions { progress: !no_progress && std::io::stderr().is_terminal() };
    match pipeline::run(&cfg, &opts) {
        Ok(summary) => {
            eprint!("{}", pipeline::describe(&summary));
            if summary.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("sync: {e:#}");
            ExitCode::from(1)
        }
    }
}
