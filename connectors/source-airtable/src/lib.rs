//! source-airtable: Airtable bases as Airbyte streams, a drop-in for Airbyte's connector (same config, same
//! stream names) with typed values, exact rate limits and incremental sync.
//!
//! - [`config`]: the Airbyte-compatible config and the spec.
//! - [`client`]: API calls, rate limits, OAuth refresh, error mapping.
//! - [`schema`]: field types -> JSON schema, typed values.
//! - [`streams`]: discover and read.

pub mod client;
pub mod config;
pub mod schema;
pub mod streams;

use airbyte_protocol::cli::Source;
use airbyte_protocol::{
    AirbyteCatalog, Config, ConfiguredAirbyteCatalog, ConnectorSpecification, InputState, Output, Result, SourceOutput,
};
use client::AirtableClient;
use config::AirtableConfig;

/// The Airtable source.
pub struct AirtableSource {
    /// Where CONTROL messages (rotated OAuth tokens) go during `check` and `discover`; `read` uses its own output.
    control: Output,
}

impl AirtableSource {
    pub fn new(control: Output) -> Self {
        AirtableSource { control }
    }

    fn client(&self, config: &Config, control: Output) -> Result<(AirtableConfig, AirtableClient)> {
        let parsed = AirtableConfig::from_config(config)?;
        let client = AirtableClient::new(&parsed, config.value(), control)?;
        Ok((parsed, client))
    }
}

impl Source for AirtableSource {
    fn spec(&self) -> ConnectorSpecification {
        serde_json::from_value(serde_json::json!({
            "documentationUrl": "https://github.com/airbyte-rs/connectors/blob/main/connectors/source-airtable/docs.md",
            "connectionSpecification": config::connection_specification(),
            "supportsIncremental": true,
            "protocol_version": "0.18.0"
        }))
        .expect("the spec is a valid ConnectorSpecification")
    }

    async fn check(&self, config: &Config) -> Result<()> {
        let (parsed, client) = self.client(config, self.control.clone())?;
        streams::check(&client, &parsed).await
    }

    async fn discover(&self, config: &Config) -> Result<AirbyteCatalog> {
        let (parsed, client) = self.client(config, self.control.clone())?;
        streams::discover(&client, &parsed).await
    }

    async fn read(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        state: &InputState,
        out: &SourceOutput,
    ) -> Result<()> {
        let (parsed, client) = self.client(config, out.output().clone())?;
        streams::read(&client, &parsed, catalog, state, out).await
    }
}
