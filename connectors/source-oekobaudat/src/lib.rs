//! Airbyte source for EPD data (environmental product declarations) from OEKOBAU.DAT or any soda4LCA node.
//!
//! - [`config`]: the configuration and its JSON schema.
//! - [`client`]: soda4LCA Service API calls through the shared retrying, rate-limited HTTP helper.
//! - [`records`]: list entries and EPD extended views turned into rows; indicator values as numbers.
//! - [`indicators`]: EN 15804 indicator UUID -> key tables (from openLCA's EPD profiles).
//! - [`streams`]: the catalog and the read (paging, bounded-concurrency detail fetches, `uuid -> version` state).

pub mod client;
pub mod config;
pub mod indicators;
pub mod records;
pub mod streams;

use airbyte_protocol::{
    AirbyteCatalog, Config, ConfiguredAirbyteCatalog, ConnectorSpecification, InputState, Result, SourceOutput,
};
use config::OekobaudatConfig;

/// The connector, as the protocol scaffold runs it.
pub struct OekobaudatSource;

impl airbyte_protocol::Source for OekobaudatSource {
    fn spec(&self) -> ConnectorSpecification {
        ConnectorSpecification {
            documentation_url: Some("https://docs.airbyte.com/integrations/sources/oekobaudat".into()),
            changelog_url: None,
            connection_specification: config::connection_specification(),
            supports_incremental: Some(true),
            supports_normalization: Some(false),
            supports_dbt: Some(false),
            supported_destination_sync_modes: None,
            advanced_auth: None,
            protocol_version: Some("0.18.0".into()),
            extra: Default::default(),
        }
    }

    /// Lists the data stocks, resolves the configured (or default) one and reads one list entry from it.
    async fn check(&self, config: &Config) -> Result<()> {
        let config = OekobaudatConfig::from_config(config)?;
        let client = client::SodaClient::new(&config)?;
        let stocks = client.datastocks().await?;
        let (stock, _) = streams::resolve_stock(&config, Some(&stocks))?;
        let query = client::ListQuery::from_config(&config);
        client.process_page(&stock, &query, 0, 1).await?;
        Ok(())
    }

    async fn discover(&self, config: &Config) -> Result<AirbyteCatalog> {
        OekobaudatConfig::from_config(config)?;
        Ok(streams::catalog())
    }

    async fn read(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        state: &InputState,
        out: &SourceOutput,
    ) -> Result<()> {
        let config = OekobaudatConfig::from_config(config)?;
        streams::read(&config, catalog, state, out).await
    }
}
