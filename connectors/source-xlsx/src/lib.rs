//! source-xlsx: Excel and OpenDocument workbooks as Airbyte streams, one stream per sheet.
//!
//! - [`config`]: the user's settings and the connection specification.
//! - [`reader`]: finding and fetching files (local, http(s), s3) and streaming a sheet's cells with calamine.
//! - [`values`]: cell types, inference and writing cells as JSON.
//! - [`xlsb_dates`]: whole-number dates in .xlsb files, which calamine leaves as numbers.
//! - [`streams`]: discover (layout + type inference) and read (rows to RECORD lines, state per file version).

pub mod config;
pub mod reader;
pub mod streams;
pub mod values;
pub mod xlsb_dates;

use airbyte_protocol::{
    cli::Source, AirbyteCatalog, Config, ConfiguredAirbyteCatalog, ConnectorSpecification, InputState, Result,
    SourceOutput,
};

/// The source connector.
pub struct XlsxSource;

impl XlsxSource {
    fn config(config: &Config) -> Result<config::XlsxConfig> {
        config.parse()
    }
}

impl Source for XlsxSource {
    fn spec(&self) -> ConnectorSpecification {
        let mut spec: ConnectorSpecification = serde_json::from_value(serde_json::json!({
            "connectionSpecification": config::connection_specification(),
            "supportsIncremental": true,
            "protocol_version": "0.18.0",
        }))
        .expect("static spec");
        spec.supports_incremental = Some(true);
        spec
    }

    async fn check(&self, config: &Config) -> Result<()> {
        streams::check(&Self::config(config)?).await
    }

    async fn discover(&self, config: &Config) -> Result<AirbyteCatalog> {
        streams::discover(&Self::config(config)?).await
    }

    async fn read(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        state: &InputState,
        out: &SourceOutput,
    ) -> Result<()> {
        streams::read(&Self::config(config)?, catalog, state, out).await
    }
}
