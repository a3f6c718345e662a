//! The `sync` file: which source and destination to run, their configs, the streams and the state folder.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A whole sync definition (YAML or JSON).
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The source connector.
    pub source: ConnectorRef,
    /// The destination connector.
    pub destination: ConnectorRef,
    /// Streams to sync; all discovered streams when empty.
    #[serde(default)]
    pub streams: Vec<StreamChoice>,
    /// Where states, generations, logs and run summaries live. Relative to the sync file's folder.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Run the post-sync checks after a successful sync over the profiles the destination saved under
    /// `location` (for destinations that save profiles but leave the checks to the runner). Destinations with
    /// their own `post_sync` block run the hook in-process; the runner then only reports what it said.
    #[serde(default)]
    pub post_sync: Option<RunnerHook>,
}

/// The runner's post-sync block.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RunnerHook {
    /// The data root that holds `_airbyte_quality/` (relative to the sync file's folder).
    pub location: PathBuf,
    /// The hook's configuration (the same keys as a destination's `post_sync` block).
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(".sync-state")
}

/// How to start a connector: a local binary or a docker image, plus its config.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ConnectorRef {
    /// Path or bare name of a binary. A bare name is looked up next to `sync` itself, then on PATH.
    #[serde(default)]
    pub command: Option<String>,
    /// A docker image to run instead of a binary (`docker run --rm -i`).
    #[serde(default)]
    pub image: Option<String>,
    /// The connector config, inline.
    #[serde(default)]
    pub config: Option<Value>,
    /// Or a JSON file holding it (relative to the sync file's folder).
    #[serde(default)]
    pub config_file: Option<PathBuf>,
}

impl std::fmt::Debug for ConnectorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config holds secrets: never print it.
        f.debug_struct("ConnectorRef")
            .field("command", &self.command)
            .field("image", &self.image)
            .finish_non_exhaustive()
    }
}

/// One selected stream and how to sync it.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct StreamChoice {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    /// `incremental` or `full_refresh`; default: incremental when the stream supports it.
    #[serde(default)]
    pub sync_mode: Option<airbyte_protocol::SyncMode>,
    /// `append`, `overwrite` or `append_dedup`; default: append for incremental, overwrite for full refresh.
    #[serde(default)]
    pub destination_sync_mode: Option<airbyte_protocol::DestinationSyncMode>,
}

/// The embedded default: the sample workbook to local Parquet with the quality report and a retrain job.
pub const DEFAULT_SYNC_YAML: &str = include_str!("../examples/main-job.yaml");

impl SyncConfig {
    /// Parse a sync file; `base` is the folder relative paths are resolved against.
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let mut cfg: SyncConfig = serde_yaml::from_str(text).context("invalid sync file")?;
        cfg.resolve(base)?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read sync file {}", path.display()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &base).with_context(|| format!("sync file {}", path.display()))
    }

    fn resolve(&mut self, base: &Path) -> Result<()> {
        if self.state_dir.is_relative() {
            self.state_dir = base.join(&self.state_dir);
        }
        if let Some(hook) = self.post_sync.as_mut() {
            if hook.location.is_relative() {
                hook.location = base.join(&hook.location);
            }
        }
        for (side, c) in [("source", &mut self.source), ("destination", &mut self.destination)] {
            if c.command.is_some() == c.image.is_some() {
                bail!("{side}: give exactly one of `command` or `image`");
            }
            if c.config.is_some() && c.config_file.is_some() {
                bail!("{side}: give `config` or `config_file`, not both");
            }
            if let Some(f) = &c.config_file {
                let p = if f.is_relative() { base.join(f) } else { f.clone() };
                let text =
                    std::fs::read(&p).with_context(|| format!("{side}: cannot read config file {}", p.display()))?;
                c.config = Some(
                    serde_json::from_slice(&text)
                        .with_context(|| format!("{side}: config file {} is not JSON", p.display()))?,
                );
                c.config_file = None;
            }
            if c.config.is_none() {
                bail!("{side}: `config` is missing");
            }
            // Relative command paths are relative to the sync file, bare names are looked up later.
            if let Some(cmd) = &c.command {
                if cmd.contains('/') && Path::new(cmd).is_relative() {
                    c.command = Some(base.join(cmd).to_string_lossy().into_owned());
                }
            }
        }
        Ok(())
    }

    /// Stream choices keyed by (namespace, name).
    pub fn choices(&self) -> BTreeMap<(Option<String>, String), &StreamChoice> {
        self.streams.iter().map(|s| ((s.namespace.clone(), s.name.clone()), s)).collect()
    }
}
