//! Runs one sync: discover, configure, then `source read | destination write` with back-pressure (a
//! bounded pipe), storing every state the destination acknowledges atomically.

use crate::catalog;
use crate::config::{ConnectorRef, SyncConfig};
use crate::state::{write_atomic, StateStore};
use airbyte_protocol::codec::{decode_line, InputMessage, LineReader};
use airbyte_protocol::{AirbyteMessage, ConfiguredAirbyteCatalog, StreamStatus, TraceMessage, TraceType};
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Which side of the sync failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Source,
    Destination,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

/// Counts for one stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamCounts {
    pub records: u64,
    pub bytes: u64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub sync_id: i64,
    pub started_at: String,
    pub duration_seconds: f64,
    pub streams: BTreeMap<String, StreamCounts>,
    pub states_acknowledged: u64,
    /// The failing side and its error, if the sync failed.
    pub failure: Option<(Side, String)>,
    pub catalog_path: PathBuf,
    pub logs: Vec<PathBuf>,
    /// What the post-sync hook said (the destination's in-process hook or the runner's own).
    pub hook: Vec<String>,
}

impl RunSummary {
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show a progress bar on stderr (only drawn on a terminal).
    pub progress: bool,
}

/// How one connector is launched.
struct Launcher {
    side: Side,
    program: PathBuf,
    docker_image: Option<String>,
    work_dir: PathBuf,
}

impl Launcher {
    fn new(side: Side, r: &ConnectorRef, work_dir: &Path) -> Result<Self> {
        let (program, docker_image) = match (&r.command, &r.image) {
            (Some(cmd), None) => (resolve_command(cmd).with_context(|| format!("{side} command {cmd:?}"))?, None),
            (None, Some(img)) => (PathBuf::from("docker"), Some(img.clone())),
            _ => bail!("{side}: give exactly one of `command` or `image`"),
        };
        Ok(Launcher { side, program, docker_image, work_dir: work_dir.to_path_buf() })
    }

    /// The command for `args`, where file arguments live in the work folder.
    fn command(&self, args: &[&str], files: &[(&str, &Path)]) -> Command {
        match &self.docker_image {
            None => {
                let mut c = Command::new(&self.program);
                c.args(args);
                for (flag, path) in files {
                    c.arg(flag).arg(path);
                }
                c
            }
            Some(image) => docker_command(image, &self.work_dir, args, files),
        }
    }
}

/// `docker run` with the work folder mounted at `/sync`, as the platform mounts its config files.
pub fn docker_command(image: &str, work_dir: &Path, args: &[&str], files: &[(&str, &Path)]) -> Command {
    let mut c = Command::new("docker");
    c.args(["run", "--rm", "-i", "--init", "-v"]).arg(format!("{}:/sync", work_dir.display())).arg(image).args(args);
    for (flag, path) in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        c.arg(flag).arg(format!("/sync/{name}"));
    }
    c
}

/// A bare name is looked up next to this executable, then on PATH; a path is used as is.
pub fn resolve_command(cmd: &str) -> Result<PathBuf> {
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
        return Ok(p);
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        let p = dir.join(cmd);
        if p.exists() {
            return Ok(p);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join(cmd);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(anyhow!("{cmd:?} is neither next to `sync` nor on PATH; build it (`cargo build --bins`) or give a path"))
}

fn write_private(path: &Path, value: &Value) -> Result<()> {
    write_atomic(path, &serde_json::to_vec(value)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Run the sync described by `cfg`.
pub fn run(cfg: &SyncConfig, opts: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let store = StateStore::open(&cfg.state_dir)?;
    let work = store.dir().join("run");
    let logs_dir = store.logs_dir();
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&logs_dir)?;
    let stamp = started_at.format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let source_log_path = logs_dir.join(format!("{stamp}-source.log"));
    let dest_log_path = logs_dir.join(format!("{stamp}-destination.log"));

    // A CONTROL message from an earlier run (rotated credentials) overrides the configured source config.
    let override_path = store.dir().join("source_config.override.json");
    let source_config = if override_path.exists() {
        serde_json::from_slice(&std::fs::read(&override_path)?).context("source config override is corrupt")?
    } else {
        cfg.source.config.clone().unwrap_or(Value::Null)
    };
    let source_config_path = work.join("source_config.json");
    let dest_config_path = work.join("destination_config.json");
    write_private(&source_config_path, &source_config)?;
    write_private(&dest_config_path, cfg.destination.config.as_ref().unwrap_or(&Value::Null))?;

    let source = Launcher::new(Side::Source, &cfg.source, &work)?;
    let destination = Launcher::new(Side::Destination, &cfg.destination, &work)?;
    let source_log = Arc::new(Mutex::new(BufWriter::new(File::create(&source_log_path)?)));
    let dest_log = Arc::new(Mutex::new(BufWriter::new(File::create(&dest_log_path)?)));

    // 1. discover
    let catalog = discover(&source, &source_config_path, &source_log)?;
    let mut book = store.bookkeeping()?;
    let configured = catalog::configure(cfg, &catalog, &mut book)?;
    store.save_bookkeeping(&book)?;
    let catalog_path = work.join("configured_catalog.json");
    write_atomic(&catalog_path, &serde_json::to_vec_pretty(&configured)?)?;
    let state_path = work.join("state.json");
    write_atomic(&state_path, &serde_json::to_vec(&store.as_input())?)?;

    // 2. destination first, so the source's output always has a reader.
    let mut dest_child = destination
        .command(&["write"], &[("--config", &dest_config_path), ("--catalog", &catalog_path)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::options().append(true).open(&dest_log_path)?))
        .spawn()
        .with_context(|| format!("cannot start the destination {}", destination.program.display()))?;
    let mut source_child = match source
        .command(
            &["read"],
            &[("--config", &source_config_path), ("--catalog", &catalog_path), ("--state", &state_path)],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::from(File::options().append(true).open(&source_log_path)?))
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = dest_child.kill();
            return Err(anyhow!("cannot start the source {}: {e}", source.program.display()));
        }
    };

    let progress = Progress::new(opts.progress);
    let store = Arc::new(Mutex::new(store));
    let dest_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let acked = Arc::new(Mutex::new(0u64));
    let hook_messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let dest_reader = {
        let stdout = dest_child.stdout.take().expect("piped");
        let (store, errors, acked, log, progress, hook) = (
            store.clone(),
            dest_errors.clone(),
            acked.clone(),
            dest_log.clone(),
            progress.clone(),
            hook_messages.clone(),
        );
        std::thread::spawn(move || read_destination(stdout, &hook, &store, &errors, &acked, &log, &progress))
    };

    // 3. forward source -> destination
    let forwarded = forward(
        &mut source_child,
        &mut dest_child,
        &configured,
        &source_log,
        &progress,
        &override_path,
        &source_config,
    );
    let source_status = source_child.wait()?;
    let (counts, source_errors, dest_broken) = forwarded;
    let source_ok = source_status.success() && source_errors.is_empty();
    // Tell the destination how each stream ended, as the platform does; then close its input.
    if let Some(mut stdin) = dest_child.stdin.take() {
        let status = if source_ok { StreamStatus::Complete } else { StreamStatus::Incomplete };
        for s in &configured.streams {
            let msg = AirbyteMessage::trace(TraceMessage::stream_status(s.descriptor(), status));
            let _ = writeln!(stdin, "{}", serde_json::to_string(&msg)?);
        }
        let _ = stdin.flush();
    }
    let dest_read_result = dest_reader.join().map_err(|_| anyhow!("destination reader thread panicked"))?;
    let dest_status = dest_child.wait()?;
    progress.finish();
    for log in [&source_log, &dest_log] {
        let _ = log.lock().map(|mut l| l.flush());
    }

    let dest_errors = dest_errors.lock().map(|e| e.clone()).unwrap_or_default();
    // A destination that stopped reading made us stop the source: that is the destination's failure.
    let failure = if !source_ok && !dest_broken {
        let msg = source_errors.first().cloned().unwrap_or_else(|| format!("source exited with {source_status}"));
        Some((Side::Source, msg))
    } else if !dest_status.success() || !dest_errors.is_empty() || dest_broken || dest_read_result.is_err() {
        let msg = dest_errors
            .first()
            .cloned()
            .or_else(|| dest_read_result.err().map(|e| e.to_string()))
            .unwrap_or_else(|| format!("destination exited with {dest_status}"));
        Some((Side::Destination, msg))
    } else {
        None
    };
    let _ = std::fs::remove_file(&source_config_path);
    let _ = std::fs::remove_file(&dest_config_path);
    let states_acknowledged = *acked.lock().map_err(|_| anyhow!("poisoned"))?;
    let mut hook = hook_messages.lock().map(|h| h.clone()).unwrap_or_default();
    let mut failure = failure;
    if let (None, Some(runner_hook)) = (&failure, &cfg.post_sync) {
        match run_hook(runner_hook, book.last_sync_id) {
            Ok((line, fail)) => {
                hook.push(line);
                failure = fail.map(|m| (Side::Destination, m));
            }
            Err(e) => hook.push(format!("post-sync failed: {e:#}")),
        }
    }
    let summary = RunSummary {
        sync_id: book.last_sync_id,
        started_at: started_at.to_rfc3339(),
        duration_seconds: started.elapsed().as_secs_f64(),
        streams: counts,
        states_acknowledged,
        failure,
        catalog_path,
        logs: vec![source_log_path, dest_log_path],
        hook,
    };
    write_atomic(&logs_dir.join(format!("{stamp}-summary.json")), &serde_json::to_vec_pretty(&summary)?)?;
    Ok(summary)
}

/// Progress on a terminal: one bar for the whole sync (length from ESTIMATE traces, so it shows an ETA) and one
/// line per stream with records, bytes and rate. Hidden when not drawing.
#[derive(Clone)]
struct Progress {
    multi: MultiProgress,
    total: ProgressBar,
    streams: Arc<Mutex<BTreeMap<String, ProgressBar>>>,
    shown: bool,
}

impl Progress {
    fn new(show: bool) -> Self {
        let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new_spinner());
        total.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {human_pos} records {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Progress { multi, total, streams: Arc::new(Mutex::new(BTreeMap::new())), shown: show }
    }

    fn stream_bar(&self, key: &str) -> ProgressBar {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams
            .entry(key.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {prefix:<40} {human_pos:>10} records {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(key.to_string());
                bar
            })
            .clone()
    }

    fn update(&self, key: &str, counts: &StreamCounts, total: u64) {
        let bar = self.stream_bar(key);
        bar.set_position(counts.records);
        bar.set_message(HumanBytes(counts.bytes).to_string());
        self.total.set_position(total);
    }

    /// Once the sources' ESTIMATE traces give a total, show a bar with an ETA.
    fn estimate(&self, total_rows: u64) {
        if self.total.length().is_none() {
            self.total.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} {wide_bar} {human_pos}/{human_len} records, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
        }
        self.total.set_length(total_rows);
    }

    /// A line above the bars (or on stderr when not drawing).
    fn println(&self, line: &str) {
        if self.shown {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        for bar in self.streams.lock().unwrap_or_else(|e| e.into_inner()).values() {
            bar.finish_and_clear();
        }
        self.total.finish_and_clear();
    }
}

fn discover(
    source: &Launcher,
    config: &Path,
    log: &Arc<Mutex<BufWriter<File>>>,
) -> Result<airbyte_protocol::AirbyteCatalog> {
    let out = source
        .command(&["discover"], &[("--config", config)])
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot start the source {}", source.program.display()))?;
    let mut catalog = None;
    let mut errors = Vec::new();
    for line in out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<AirbyteMessage>(line) {
            Ok(m) => match m.kind {
                airbyte_protocol::MessageType::Catalog => catalog = m.catalog,
                airbyte_protocol::MessageType::Trace => {
                    if let Some(e) = m.trace.and_then(|t| t.error) {
                        errors.push(e.message);
                    }
                }
                _ => log_line(log, line),
            },
            Err(_) => log_line(log, line),
        }
    }
    log_line(log, &out.stderr);
    if let Some(e) = errors.first() {
        bail!("{} discover failed: {e}", source.side);
    }
    catalog.ok_or_else(|| anyhow!("{} discover printed no catalog (exit {})", source.side, out.status))
}

fn log_line(log: &Arc<Mutex<BufWriter<File>>>, line: &[u8]) {
    if line.is_empty() {
        return;
    }
    if let Ok(mut l) = log.lock() {
        let _ = l.write_all(line);
        let _ = l.write_all(b"\n");
    }
}

type Forwarded = (BTreeMap<String, StreamCounts>, Vec<String>, bool);

/// Copy RECORD and STATE lines from the source to the destination; everything else is logged or handled.
fn forward(
    source: &mut Child,
    dest: &mut Child,
    catalog: &ConfiguredAirbyteCatalog,
    log: &Arc<Mutex<BufWriter<File>>>,
    progress: &Progress,
    override_path: &Path,
    source_config: &Value,
) -> Forwarded {
    let mut counts: BTreeMap<String, StreamCounts> =
        catalog.streams.iter().map(|s| (crate::state::stream_key(&s.descriptor()), StreamCounts::default())).collect();
    let mut errors = Vec::new();
    let mut estimates: BTreeMap<String, i64> = BTreeMap::new();
    let stdout = source.stdout.take().expect("piped");
    let mut reader = LineReader::new(BufReader::with_capacity(1 << 20, stdout));
    let mut sink = dest.stdin.take().map(|s| BufWriter::with_capacity(1 << 20, s));
    let mut broken = false;
    let mut total: u64 = 0;
    loop {
        let (n, line) = match reader.next_line() {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => {
                errors.push(format!("cannot read the source's output: {e}"));
                break;
            }
        };
        let mut is_state = false;
        let forward_it = match decode_line(line, n) {
            Ok(InputMessage::Record(r)) => {
                let key = match &r.namespace {
                    Some(ns) => format!("{ns}.{}", r.stream),
                    None => r.stream.to_string(),
                };
                let c = counts.entry(key.clone()).or_default();
                c.records += 1;
                c.bytes += line.len() as u64;
                total += 1;
                if c.records % 512 == 1 {
                    progress.update(&key, c, total);
                }
                true
            }
            Ok(InputMessage::State(_)) => {
                is_state = true;
                true
            }
            Ok(InputMessage::Trace(t)) => {
                handle_trace(&t, &mut errors, &mut estimates, progress);
                log_line(log, line);
                false
            }
            Ok(InputMessage::Other(airbyte_protocol::MessageType::Control)) => {
                apply_control(line, override_path, source_config, log);
                false
            }
            Ok(InputMessage::Log(l)) => {
                pass_through("source", &l, progress);
                log_line(log, line);
                false
            }
            _ => {
                log_line(log, line);
                false
            }
        };
        if forward_it && !broken {
            if let Some(w) = sink.as_mut() {
                let r = w.write_all(line).and_then(|_| w.write_all(b"\n"));
                let r = if is_state { r.and_then(|_| w.flush()) } else { r };
                if r.is_err() {
                    broken = true;
                    let _ = source.kill();
                }
            }
        }
    }
    for (key, c) in &counts {
        progress.update(key, c, total);
    }
    if let Some(mut w) = sink {
        if w.flush().is_err() {
            broken = true;
        }
        // Keep the destination's stdin open: the caller appends the stream statuses and then closes it.
        if let Ok(inner) = w.into_inner() {
            dest.stdin = Some(inner);
        }
    }
    (counts, errors, broken)
}

/// Warnings and errors a connector logs are shown to the person running the sync, not only written to the log file.
fn pass_through(side: &str, l: &airbyte_protocol::LogMessage, progress: &Progress) {
    use airbyte_protocol::LogLevel;
    let level = match l.level {
        LogLevel::Fatal => "FATAL",
        LogLevel::Error => "ERROR",
        LogLevel::Warn => "WARN",
        _ => return,
    };
    progress.println(&format!("{side} {level}: {}", l.message));
}

fn handle_trace(
    t: &TraceMessage,
    errors: &mut Vec<String>,
    estimates: &mut BTreeMap<String, i64>,
    progress: &Progress,
) {
    match t.kind {
        TraceType::Error => {
            if let Some(e) = &t.error {
                errors.push(e.message.clone());
            }
        }
        TraceType::Estimate => {
            if let Some(e) = &t.estimate {
                if let Some(rows) = e.row_estimate {
                    estimates.insert(e.name.clone(), rows);
                    progress.estimate(estimates.values().sum::<i64>().max(0) as u64);
                }
            }
        }
        _ => {}
    }
}

/// A CONTROL message carries the source's new config (e.g. a rotated refresh token): keep it for the next run.
fn apply_control(line: &[u8], override_path: &Path, current: &Value, log: &Arc<Mutex<BufWriter<File>>>) {
    let Ok(msg) = serde_json::from_slice::<AirbyteMessage>(line) else { return };
    let Some(cfg) = msg.control.and_then(|c| c.connector_config).map(|c| c.config) else { return };
    let mut merged = current.clone();
    if let (Some(m), Some(new)) = (merged.as_object_mut(), cfg.as_object()) {
        for (k, v) in new {
            m.insert(k.clone(), v.clone());
        }
    }
    if write_private(override_path, &merged).is_ok() {
        log_line(log, b"runner: stored the source's updated config (CONTROL message) for the next run");
    }
}

#[allow(clippy::too_many_arguments)]
fn read_destination(
    stdout: std::process::ChildStdout,
    hook: &Arc<Mutex<Vec<String>>>,
    store: &Arc<Mutex<StateStore>>,
    errors: &Arc<Mutex<Vec<String>>>,
    acked: &Arc<Mutex<u64>>,
    log: &Arc<Mutex<BufWriter<File>>>,
    progress: &Progress,
) -> Result<()> {
    let mut reader = LineReader::new(BufReader::new(stdout));
    while let Some((n, line)) = reader.next_line()? {
        match decode_line(line, n) {
            Ok(InputMessage::State(s)) => {
                store.lock().map_err(|_| anyhow!("poisoned"))?.acknowledge(*s)?;
                *acked.lock().map_err(|_| anyhow!("poisoned"))? += 1;
                progress.total.set_message(format!("{} states committed", acked.lock().map(|a| *a).unwrap_or(0)));
            }
            Ok(InputMessage::Trace(t)) if t.kind == TraceType::Error => {
                if let Some(e) = t.error {
                    errors.lock().map_err(|_| anyhow!("poisoned"))?.push(e.message);
                }
                log_line(log, line);
            }
            Ok(InputMessage::Log(l)) if l.message.starts_with("post-sync") => {
                hook.lock().map_err(|_| anyhow!("poisoned"))?.push(l.message);
                log_line(log, line);
            }
            Ok(InputMessage::Log(l)) => {
                pass_through("destination", &l, progress);
                log_line(log, line);
            }
            _ => log_line(log, line),
        }
    }
    Ok(())
}

/// The runner's own hook run over the profiles saved for this sync. Returns the line to show and, when the
/// hook's config says so, a failure.
fn run_hook(hook: &crate::config::RunnerHook, sync_id: i64) -> Result<(String, Option<String>)> {
    let config: post_sync::PostSyncConfig =
        serde_json::from_value(hook.config.clone().unwrap_or_else(|| serde_json::json!({})))
            .context("invalid post_sync config")?;
    let location = post_sync::DataLocation::local(&hook.location);
    let result = post_sync::run_post_sync_blocking(
        &config,
        &location,
        Vec::new(),
        post_sync::SyncInfo::new(sync_id.to_string()),
    );
    let fail = post_sync::sync_failure(&config, &result);
    let outcome = result?;
    Ok((
        format!(
            "post-sync: {} ({}); report {}",
            outcome.decision.as_str(),
            outcome.reasons.join("; "),
            outcome.report_html.display()
        ),
        fail,
    ))
}

/// Human-readable end-of-run summary.
pub fn describe(summary: &RunSummary) -> String {
    let mut s = String::new();
    let verdict = match &summary.failure {
        None => "succeeded".to_string(),
        Some((side, msg)) => format!("FAILED in the {side}: {msg}"),
    };
    s.push_str(&format!("sync {} {verdict} in {:.1} s\n", summary.sync_id, summary.duration_seconds));
    for (name, c) in &summary.streams {
        s.push_str(&format!("  {name:<40} {:>10} records {:>12}\n", c.records, HumanBytes(c.bytes).to_string()));
    }
    s.push_str(&format!("  {} states committed by the destination\n", summary.states_acknowledged));
    for line in &summary.hook {
        s.push_str(&format!("  {line}\n"));
    }
    s.push_str(&format!(
        "  logs: {}\n",
        summary.logs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    ));
    s
}
