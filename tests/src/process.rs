//! Running a connector binary: arguments, environment, stdin, a timeout, and its output split into lines.

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One finished run of a connector command.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line, for failure messages (`read --config … --catalog …`).
    pub label: String,
    /// Exit code; `None` when killed by a signal or the timeout.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Every stdout line as written (without the newline).
    pub lines: Vec<String>,
    /// Lines that parsed as JSON objects, in order, with their line index.
    pub messages: Vec<(usize, Value)>,
    /// Lines that are not JSON objects: (line index, excerpt).
    pub unparsable: Vec<(usize, String)>,
    pub stderr: String,
}

impl Run {
    /// A finished process's output: stdout split into lines, the JSON objects among them into messages.
    pub fn from_output(label: impl Into<String>, exit_code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Run {
        let lines: Vec<String> = String::from_utf8_lossy(stdout).lines().map(str::to_string).collect();
        let mut messages = Vec::new();
        let mut unparsable = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str::<Value>(line) {
                Ok(v) if v.is_object() => messages.push((i, v)),
                _ => unparsable.push((i, line.chars().take(200).collect())),
            }
        }
        Run {
            label: label.into(),
            exit_code,
            timed_out: false,
            lines,
            messages,
            unparsable,
            stderr: String::from_utf8_lossy(stderr).into_owned(),
        }
    }
    /// Panics, naming the first offending line, unless every stdout line is a protocol message (JSON object):
    /// connector tests want a strict stdout.
    pub fn only_messages(self) -> Run {
        if let Some((i, excerpt)) = self.unparsable.first() {
            panic!("{}: stdout line {} is not a JSON message: {excerpt}\nstderr: {}", self.label, i + 1, self.stderr);
        }
        self
    }
    /// Every message, in output order.
    pub fn all(&self) -> impl Iterator<Item = &Value> + '_ {
        self.messages.iter().map(|(_, m)| m)
    }
    /// Messages of one `type` (RECORD, STATE, TRACE, ...).
    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.all().filter(move |m| m["type"] == kind)
    }
    pub fn count(&self, kind: &str) -> usize {
        self.of_type(kind).count()
    }
    /// TRACE messages of one trace type (ERROR, STREAM_STATUS, ...).
    pub fn traces<'a>(&'a self, trace_type: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.of_type("TRACE").filter(move |m| m["trace"]["type"] == trace_type)
    }
    /// STATE messages, in output order.
    pub fn states(&self) -> Vec<&Value> {
        self.of_type("STATE").collect()
    }
    /// TRACE ERROR messages (whole messages), in output order.
    pub fn errors(&self) -> Vec<&Value> {
        self.traces("ERROR").collect()
    }
    /// The `connectionStatus` of `check`, if any.
    pub fn connection_status(&self) -> Option<&Value> {
        self.of_type("CONNECTION_STATUS").next().map(|m| &m["connectionStatus"])
    }
    /// How the run ended, every non-LOG message and stderr: a failure message for tests.
    pub fn transcript(&self) -> String {
        let lines: Vec<String> = self.all().filter(|m| m["type"] != "LOG").map(Value::to_string).collect();
        format!("{}\n{}\nstderr: {}", self.describe_end(), lines.join("\n"), self.stderr)
    }
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
    /// A short description of how the run ended, with the first error trace, for failure messages.
    pub fn describe_end(&self) -> String {
        let exit = match (self.timed_out, self.exit_code) {
            (true, _) => "timed out".to_string(),
            (false, Some(c)) => format!("exit code {c}"),
            (false, None) => "killed by a signal".to_string(),
        };
        let error =
            self.traces("ERROR").next().and_then(|t| t["trace"]["error"]["message"].as_str()).map(str::to_string);
        let stderr = self.stderr.trim();
        let stderr_tail: String = stderr.chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
        match (error, stderr.is_empty()) {
            (Some(e), _) => format!("{exit}; first TRACE ERROR: {e}"),
            (None, false) => format!("{exit}; stderr ends: {stderr_tail}"),
            (None, true) => exit,
        }
    }
}

/// How to start a connector binary.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

impl Launcher {
    /// Run `binary args…`, feeding `stdin` (closed after writing) and collecting stdout and stderr.
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let label = args.iter().map(|a| short_path(a)).collect::<Vec<_>>().join(" ");
        let mut cmd = Command::new(&self.binary);
        cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Run {
                    label,
                    exit_code: None,
                    timed_out: false,
                    lines: Vec::new(),
                    messages: Vec::new(),
                    unparsable: Vec::new(),
                    stderr: format!("cannot start {}: {e}", self.binary.display()),
                }
            }
        };
        let writer = stdin.map(|bytes| {
            let mut pipe = child.stdin.take().expect("piped stdin");
            let bytes = bytes.to_vec();
            // A connector that stops reading early closes the pipe: that is its business, not an error here.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            })
        });
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let out_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let deadline = Instant::now() + self.timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = child.kill();
                    break child.wait().ok();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        if let Some(w) = writer {
            let _ = w.join();
        }
        let out = out_thread.join().unwrap_or_default();
        let err = err_thread.join().unwrap_or_default();
        let mut run = Run::from_output(label, status.and_then(|s| s.code()), &out, &err);
        run.timed_out = timed_out;
        run
    }
}

fn short_path(arg: &str) -> String {
    let p = Path::new(arg);
    if p.is_absolute() {
        p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| arg.to_string())
    } else {
        arg.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_splits_into_messages_states_and_errors() {
        let stdout = b"{\"type\":\"STATE\",\"state\":{}}\n{\"type\":\"TRACE\",\"trace\":{\"type\":\"ERROR\"}}\n\
            {\"type\":\"CONNECTION_STATUS\",\"connectionStatus\":{\"status\":\"FAILED\"}}\n";
        let run = Run::from_output("check", Some(1), stdout, b"boom").only_messages();
        assert_eq!((run.states().len(), run.errors().len()), (1, 1));
        assert_eq!(run.connection_status().unwrap()["status"], "FAILED");
        assert!(run.transcript().contains("exit code 1") && run.transcript().contains("boom"));
        let mixed = Run::from_output("read", Some(0), b"not json\n{\"type\":\"LOG\"}\n", b"");
        assert_eq!((mixed.messages.len(), mixed.unparsable.len()), (1, 1));
        let panicked = std::panic::catch_unwind(|| mixed.only_messages());
        assert!(panicked.is_err());
    }
}
