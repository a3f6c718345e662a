//! Where profiles, reports and the queue live beside the data:
//! `<root>/_airbyte_quality/<stream>/<sync>.json` per stream and sync (the history is that folder),
//! `<root>/_airbyte_quality/_reports/<sync>.{json,html}`, `<root>/_airbyte_quality/queue.sqlite`.

use crate::profile::StreamProfile;
use airbyte_protocol::message::StreamDescriptor;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The folder under a data root that holds everything the hook writes.
pub const QUALITY_DIR: &str = "_airbyte_quality";

/// Where a sync's data is. Only local folders for now; profiles of object-store destinations are kept in a
/// local state folder given as the location.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataLocation {
    /// A local folder: the destination path.
    Local(PathBuf),
}

impl DataLocation {
    pub fn local(path: impl Into<PathBuf>) -> Self {
        DataLocation::Local(path.into())
    }
    /// `<root>/_airbyte_quality`.
    pub fn quality_dir(&self) -> PathBuf {
        match self {
            DataLocation::Local(root) => root.join(QUALITY_DIR),
        }
    }
    /// The folder of one stream's profiles.
    pub fn stream_dir(&self, stream: &StreamDescriptor) -> PathBuf {
        self.quality_dir().join(stream_folder_name(stream))
    }
    pub fn profile_path(&self, stream: &StreamDescriptor, sync_id: &str) -> PathBuf {
        self.stream_dir(stream).join(format!("{}.json", safe_name(sync_id)))
    }
    pub fn default_report_dir(&self) -> PathBuf {
        self.quality_dir().join("_reports")
    }
    pub fn default_queue_path(&self) -> PathBuf {
        self.quality_dir().join("queue.sqlite")
    }
}

/// A name safe as one path segment: `[A-Za-z0-9._-]`, others become `_`, never `.`/`..`, at most 120 bytes.
pub fn safe_name(name: &str) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if s.chars().all(|c| c == '.') || s.is_empty() {
        s = s.replace('.', "_");
        if s.is_empty() {
            s.push('_');
        }
    }
    if s.starts_with('.') {
        s.replace_range(0..1, "_");
    }
    s.truncate(120);
    s
}

/// `<namespace>__<name>` or `<name>`, made path-safe.
pub fn stream_folder_name(stream: &StreamDescriptor) -> String {
    match &stream.namespace {
        Some(ns) if !ns.is_empty() => safe_name(&format!("{ns}__{}", stream.name)),
        _ => safe_name(&stream.name),
    }
}

/// Write `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp =
        dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("f"), uuid::Uuid::new_v4()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

/// Save one stream's profile of a sync. If a profile of the same sync exists (another part), the parts merge
/// unless `replace`.
pub fn save_profile(location: &DataLocation, profile: &StreamProfile, replace: bool) -> Result<PathBuf> {
    let sync_id = profile.sync_id.as_deref().context("profile has no sync id")?;
    let path = location.profile_path(&profile.stream, sync_id);
    let to_write = if !replace && path.exists() {
        let mut existing = read_profile(&path)?;
        existing.merge(profile);
        existing
    } else {
        profile.clone()
    };
    write_atomic(&path, &serde_json::to_vec(&to_write)?)?;
    Ok(path)
}

pub fn read_profile(path: &Path) -> Result<StreamProfile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read profile {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("profile {} is not valid", path.display()))
}

/// Every saved profile of a stream, oldest first (by sync time, then sync id).
pub fn stream_history(location: &DataLocation, stream: &StreamDescriptor) -> Result<Vec<StreamProfile>> {
    read_profiles_in(&location.stream_dir(stream))
}

fn read_profiles_in(dir: &Path) -> Result<Vec<StreamProfile>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(out) };
    for entry in entries {
        let path = entry?.path();
        let is_profile = path.extension().is_some_and(|e| e == "json")
            && !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if is_profile {
            match read_profile(&path) {
                Ok(p) => out.push(p),
                Err(e) => tracing::warn!("skipping unreadable profile: {e:#}"),
            }
        }
    }
    out.sort_by(|a, b| a.synced_at.cmp(&b.synced_at).then_with(|| a.sync_id.cmp(&b.sync_id)));
    Ok(out)
}

/// All streams with saved profiles under a location.
pub fn list_stream_dirs(location: &DataLocation) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(location.quality_dir()) else { return Ok(out) };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() && !name.starts_with('_') && !name.starts_with('.') {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The profiles of one sync over all streams (for `post-sync run`), or of the newest sync when `sync_id` is None.
pub fn profiles_of_sync(location: &DataLocation, sync_id: Option<&str>) -> Result<Vec<StreamProfile>> {
    let mut all = Vec::new();
    for dir in list_stream_dirs(location)? {
        all.extend(read_profiles_in(&dir)?);
    }
    let wanted = match sync_id {
        Some(s) => s.to_string(),
        None => match all.iter().max_by(|a, b| a.synced_at.cmp(&b.synced_at)).and_then(|p| p.sync_id.clone()) {
            Some(s) => s,
            None => return Ok(Vec::new()),
        },
    };
    Ok(all.into_iter().filter(|p| p.sync_id.as_deref() == Some(wanted.as_str())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        assert_eq!(safe_name(".."), "__");
        assert_eq!(safe_name("../etc/passwd"), "_._etc_passwd");
        assert_eq!(safe_name(""), "_");
        assert_eq!(stream_folder_name(&StreamDescriptor::new("a/b c", Some("ns".into()))), "ns__a_b_c");
    }
}
