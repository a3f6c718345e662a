//! The command-line scaffold every connector's `main.rs` calls: `spec`, `check`, `discover`, `read`, `write`.
//!
//! It loads and validates the files, runs the connector, maps every error (and panic) to a TRACE ERROR with
//! the right `failure_type`, and returns the exit code. `check` with a config problem is a FAILED status
//! and exit 0, as the platform expects.

use crate::config::Config;
use crate::error::{ConnectorError, Result};
use crate::files::{self, InputState};
use crate::message::{
    AirbyteCatalog, AirbyteMessage, ConfiguredAirbyteCatalog, ConnectorSpecification, Status, TraceMessage,
};
use crate::output::Output;
use crate::source::SourceOutput;
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Mutex;

/// A source connector.
#[allow(async_fn_in_trait)]
pub trait Source {
    /// The connector specification (the golden copy lives in `specs/<name>/spec.json`).
    fn spec(&self) -> ConnectorSpecification;
    /// Check that the config works (credentials, reachability). A config_error or transient_error becomes a
    /// FAILED status; a system_error becomes a TRACE and a non-zero exit.
    async fn check(&self, config: &Config) -> Result<()>;
    async fn discover(&self, config: &Config) -> Result<AirbyteCatalog>;
    async fn read(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        state: &InputState,
        out: &SourceOutput,
    ) -> Result<()>;
}

/// A destination connector.
#[allow(async_fn_in_trait)]
pub trait Destination {
    fn spec(&self) -> ConnectorSpecification;
    async fn check(&self, config: &Config) -> Result<()>;
    /// Consume protocol lines from `input` (stdin) and acknowledge states on `out`.
    async fn write(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        input: Input,
        out: &Output,
    ) -> Result<()>;
}

/// What a destination reads its protocol lines from.
pub enum Input {
    /// The process's standard input.
    Stdin,
    /// Any other reader (tests, embedding).
    Reader(Box<dyn BufRead + Send>),
}

impl Input {
    /// The input as a buffered reader (stdin through a 1 MB buffer).
    pub fn into_reader(self) -> Box<dyn BufRead + Send> {
        match self {
            Input::Stdin => Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())),
            Input::Reader(reader) => reader,
        }
    }

    /// Stdin as a file when it is redirected from a regular file (`< messages.jsonl`), sharing stdin's
    /// position; `None` for pipes, terminals, sockets and other readers.
    pub fn regular_file(&self) -> Option<std::fs::File> {
        #[cfg(unix)]
        if let Input::Stdin = self {
            use std::os::fd::AsFd;
            let file = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned().ok()?);
            return file.metadata().ok()?.is_file().then_some(file);
        }
        #[cfg(not(unix))]
        let _ = self;
        None
    }
}

#[derive(Parser, Debug)]
#[command(about = "An Airbyte protocol v0.18 connector", disable_version_flag = true)]
struct Cli {
    /// Log at DEBUG level (same as LOG_LEVEL=debug).
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the connector specification.
    Spec,
    /// Check a config.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the catalog of streams (sources).
    Discover {
        #[arg(long)]
        config: PathBuf,
    },
    /// Read records (sources).
    Read {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        catalog: PathBuf,
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Write records from stdin (destinations).
    Write {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        catalog: PathBuf,
    },
}

/// Process exit code for success.
pub const EXIT_OK: i32 = 0;
/// Process exit code for any failure reported as a TRACE ERROR.
pub const EXIT_FAILURE: i32 = 1;

static PANIC_INFO: Mutex<Option<(String, String)>> = Mutex::new(None);

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown panic".to_string()
        };
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture().to_string();
        *PANIC_INFO.lock().unwrap_or_else(|e| e.into_inner()) = Some((msg, format!("at {location}\n{backtrace}")));
    }));
}

/// The TRACE ERROR for a panic caught by the hook, as a system_error.
pub fn panic_error() -> ConnectorError {
    let (msg, detail) = PANIC_INFO
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_else(|| ("unknown panic".into(), String::new()));
    ConnectorError::system(format!("internal error (a bug in the connector): {msg}")).with_internal(detail)
}

/// Emit an error as a TRACE ERROR.
pub fn emit_error(out: &Output, e: &ConnectorError) {
    let mut trace = e.to_trace();
    if let Some(internal) = &trace.internal_message {
        trace.stack_trace = internal.split_once('\n').map(|(_, bt)| bt.to_string()).filter(|s| !s.trim().is_empty());
    }
    let _ = out.emit(&AirbyteMessage::trace(TraceMessage::error(trace)));
    let _ = out.flush();
}

enum Role<'a, S, D> {
    Source(&'a S),
    Destination(&'a D),
}

/// Run a source with the process arguments on stdout; returns the exit code.
pub fn run_source<S: Source>(source: S) -> i32 {
    run_role::<S, NoDestination>(Role::Source(&source), std::env::args_os().collect(), Output::stdout())
}

/// Run a destination with the process arguments, stdin and stdout; returns the exit code.
pub fn run_destination<D: Destination>(destination: D) -> i32 {
    run_role::<NoSource, D>(Role::Destination(&destination), std::env::args_os().collect(), Output::stdout())
}

/// Run a source with explicit arguments (first = program name) and output: for in-process tests.
pub fn run_source_with<S: Source>(source: &S, args: Vec<std::ffi::OsString>, out: Output) -> i32 {
    run_role::<S, NoDestination>(Role::Source(source), args, out)
}

fn run_role<S: Source, D: Destination>(role: Role<'_, S, D>, args: Vec<std::ffi::OsString>, out: Output) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let _ = e.print();
            return if e.kind() == clap::error::ErrorKind::DisplayHelp { EXIT_OK } else { EXIT_FAILURE };
        }
        Err(e) => {
            emit_error(&out, &ConnectorError::config(format!("invalid command line: {}", e.to_string().trim())));
            return EXIT_FAILURE;
        }
    };
    install_panic_hook();
    crate::logging::init(out.clone(), crate::logging::level_from_env(cli.debug));
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            emit_error(&out, &ConnectorError::system(format!("cannot start the async runtime: {e}")));
            return EXIT_FAILURE;
        }
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(dispatch(&role, cli.command, &out))));
    let code = match result {
        Ok(Ok(())) => EXIT_OK,
        Ok(Err(e)) => {
            emit_error(&out, &e);
            EXIT_FAILURE
        }
        Err(_) => {
            emit_error(&out, &panic_error());
            EXIT_FAILURE
        }
    };
    let _ = out.flush();
    // Background tasks (HTTP pools) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

fn spec_of<S: Source, D: Destination>(role: &Role<'_, S, D>) -> ConnectorSpecification {
    match role {
        Role::Source(s) => s.spec(),
        Role::Destination(d) => d.spec(),
    }
}

fn load_config(spec: &ConnectorSpecification, path: &std::path::Path) -> Result<Config> {
    let value = files::read_json(path, "config")?;
    if !value.is_object() {
        return Err(ConnectorError::config(format!("config file {} must hold a JSON object", path.display())));
    }
    Config::validate(&spec.connection_specification, value)
}

async fn dispatch<S: Source, D: Destination>(role: &Role<'_, S, D>, command: Command, out: &Output) -> Result<()> {
    let spec = spec_of(role);
    match command {
        Command::Spec => out.emit(&AirbyteMessage::spec(spec)),
        Command::Check { config } => {
            let result = match load_config(&spec, &config) {
                Ok(cfg) => match role {
                    Role::Source(s) => s.check(&cfg).await,
                    Role::Destination(d) => d.check(&cfg).await,
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => out.emit(&AirbyteMessage::connection_status(Status::Succeeded, None)),
                Err(e) if !matches!(e.failure_type, crate::message::FailureType::SystemError) => {
                    let msg = crate::redact::apply(&e.message).into_owned();
                    out.emit(&AirbyteMessage::connection_status(Status::Failed, Some(msg)))
                }
                Err(e) => Err(e),
            }
        }
        Command::Discover { config } => {
            let cfg = load_config(&spec, &config)?;
            let Role::Source(s) = role else {
                return Err(ConnectorError::config("discover is a source command; this connector is a destination"));
            };
            let catalog = s.discover(&cfg).await?;
            out.emit(&AirbyteMessage::catalog(catalog))
        }
        Command::Read { config, catalog, state } => {
            let Role::Source(s) = role else {
                return Err(ConnectorError::config("read is a source command; this connector is a destination"));
            };
            let cfg = load_config(&spec, &config)?;
            let catalog = files::load_catalog(&catalog)?;
            let state = InputState::load(state.as_deref())?;
            s.read(&cfg, &catalog, &state, &SourceOutput::new(out.clone())).await
        }
        Command::Write { config, catalog } => {
            let Role::Destination(d) = role else {
                return Err(ConnectorError::config("write is a destination command; this connector is a source"));
            };
            let cfg = load_config(&spec, &config)?;
            let catalog = files::load_catalog(&catalog)?;
            d.write(&cfg, &catalog, Input::Stdin, out).await
        }
    }
}

// Placeholders so one generic runner serves both roles.
struct NoSource;
struct NoDestination;

impl Source for NoSource {
    fn spec(&self) -> ConnectorSpecification {
        unreachable!("not a source")
    }
    async fn check(&self, _: &Config) -> Result<()> {
        unreachable!("not a source")
    }
    async fn discover(&self, _: &Config) -> Result<AirbyteCatalog> {
        unreachable!("not a source")
    }
    async fn read(&self, _: &Config, _: &ConfiguredAirbyteCatalog, _: &InputState, _: &SourceOutput) -> Result<()> {
        unreachable!("not a source")
    }
}

impl Destination for NoDestination {
    fn spec(&self) -> ConnectorSpecification {
        unreachable!("not a destination")
    }
    async fn check(&self, _: &Config) -> Result<()> {
        unreachable!("not a destination")
    }
    async fn write(&self, _: &Config, _: &ConfiguredAirbyteCatalog, _: Input, _: &Output) -> Result<()> {
        unreachable!("not a destination")
    }
}

/// Look up each configured stream in the discovered catalog; an unknown stream is a config error
/// (CAT's invalid-catalog test). Returns the configured streams paired with their discovered definitions.
pub fn match_catalog<'a>(
    discovered: &'a AirbyteCatalog,
    configured: &'a ConfiguredAirbyteCatalog,
) -> Result<Vec<(&'a crate::message::ConfiguredAirbyteStream, &'a crate::message::AirbyteStream)>> {
    let mut out = Vec::new();
    for cs in &configured.streams {
        let found = discovered
            .streams
            .iter()
            .find(|s| s.name == cs.stream.name && s.namespace == cs.stream.namespace)
            .ok_or_else(|| {
                let names: Vec<&str> = discovered.streams.iter().map(|s| s.name.as_str()).take(20).collect();
                ConnectorError::config(format!(
                    "the configured catalog names stream {} which this source does not have (available: {})",
                    cs.descriptor(),
                    names.join(", ")
                ))
            })?;
        out.push((cs, found));
    }
    Ok(out)
}
