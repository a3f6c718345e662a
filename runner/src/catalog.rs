//! Building the configured catalog from the discovered one and the user's stream choices, with
//! generation ids and sync ids as the platform assigns them (so destinations can truncate safely).

use crate::config::SyncConfig;
use crate::state::{stream_key, Bookkeeping};
use airbyte_protocol::{
    AirbyteCatalog, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, Extra, SyncMode,
};
use anyhow::{bail, Result};

/// The configured catalog for this run; updates generations and the sync id in `book`.
pub fn configure(
    cfg: &SyncConfig,
    discovered: &AirbyteCatalog,
    book: &mut Bookkeeping,
) -> Result<ConfiguredAirbyteCatalog> {
    let choices = cfg.choices();
    for (ns, name) in choices.keys() {
        if !discovered.streams.iter().any(|s| &s.name == name && &s.namespace == ns) {
            let available: Vec<&str> = discovered.streams.iter().map(|s| s.name.as_str()).collect();
            bail!("stream {name:?} is not offered by the source (available: {})", available.join(", "));
        }
    }
    book.last_sync_id += 1;
    let mut streams = Vec::new();
    for s in &discovered.streams {
        let choice = choices.get(&(s.namespace.clone(), s.name.clone()));
        if !choices.is_empty() && choice.is_none() {
            continue;
        }
        let supports_incremental = s.supported_sync_modes.contains(&SyncMode::Incremental);
        let sync_mode = choice.and_then(|c| c.sync_mode).unwrap_or(if supports_incremental {
            SyncMode::Incremental
        } else {
            SyncMode::FullRefresh
        });
        if sync_mode == SyncMode::Incremental && !supports_incremental {
            bail!("stream {:?} does not support incremental sync", s.name);
        }
        let destination_sync_mode = choice.and_then(|c| c.destination_sync_mode).unwrap_or(match sync_mode {
            SyncMode::Incremental => DestinationSyncMode::Append,
            SyncMode::FullRefresh => DestinationSyncMode::Overwrite,
        });
        let key = stream_key(&s.descriptor());
        let generation = book.generations.entry(key).or_insert(0);
        // A new generation for every truncating sync (as the platform's refreshes do).
        if destination_sync_mode == DestinationSyncMode::Overwrite {
            *generation += 1;
        }
        let mut cs = ConfiguredAirbyteStream::new(s.clone(), sync_mode, destination_sync_mode);
        cs.generation_id = Some(*generation);
        cs.minimum_generation_id =
            Some(if destination_sync_mode == DestinationSyncMode::Overwrite { *generation } else { 0 });
        cs.sync_id = Some(book.last_sync_id);
        streams.push(cs);
    }
    if streams.is_empty() {
        bail!("no stream to sync: the source offered none");
    }
    Ok(ConfiguredAirbyteCatalog { streams, extra: Extra::new() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use airbyte_protocol::AirbyteStream;
    use serde_json::json;

    fn discovered() -> AirbyteCatalog {
        let mut inc = AirbyteStream::new("inc", json!({"type":"object"}));
        inc.supported_sync_modes.push(SyncMode::Incremental);
        AirbyteCatalog { streams: vec![inc, AirbyteStream::new("full", json!({"type":"object"}))], extra: Extra::new() }
    }

    #[test]
    fn defaults_and_generations() {
        let cfg = SyncConfig::parse(
            "source: {command: s, config: {}}\ndestination: {command: d, config: {}}\n",
            std::path::Path::new("/x"),
        )
        .unwrap();
        let mut book = Bookkeeping::default();
        let c1 = configure(&cfg, &discovered(), &mut book).unwrap();
        assert_eq!(c1.streams[0].sync_mode, SyncMode::Incremental);
        assert_eq!(c1.streams[0].destination_sync_mode, DestinationSyncMode::Append);
        assert_eq!(c1.streams[1].destination_sync_mode, DestinationSyncMode::Overwrite);
        assert_eq!((c1.streams[1].generation_id, c1.streams[1].minimum_generation_id), (Some(1), Some(1)));
        let c2 = configure(&cfg, &discovered(), &mut book).unwrap();
        assert_eq!((c2.streams[1].generation_id, c2.streams[0].generation_id), (Some(2), Some(0)));
        assert_eq!(c2.streams[0].sync_id, Some(2));
    }

    #[test]
    fn unknown_stream_is_rejected() {
        let cfg = SyncConfig::parse(
            "source: {command: s, config: {}}\ndestination: {command: d, config: {}}\nstreams: [{name: nope}]\n",
            std::path::Path::new("/x"),
        )
        .unwrap();
        let e = configure(&cfg, &discovered(), &mut Bookkeeping::default()).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
