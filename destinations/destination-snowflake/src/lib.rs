//! destination-snowflake: Airbyte records into typed Snowflake tables, loaded from staged Parquet with
//! COPY INTO, in Airbyte's destination-snowflake v4 layout (upper-case names, `_AIRBYTE_*` columns).
//!
//! - [`config`]: Airbyte-compatible config (host, role, warehouse, database, schema, username, key pair or
//!   password) plus the loading method (internal SSE stage or external S3 stage).
//! - [`client`]: the [`client::SnowflakeClient`] trait and its implementation on the snowflake-api crate.
//! - [`sql`]: every statement's text, with identifiers and literals escaped.
//! - [`tables`]: stream -> table plan, schema evolution.
//! - [`stage`]: uploads to internal stages (S3/GCS/local answers) and to an external S3 stage.
//! - [`writer`]: the load loop, acks, overwrite swap and generation cleanup; `check`.

pub mod client;
pub mod config;
pub mod sql;
pub mod stage;
pub mod tables;
pub mod writer;

use airbyte_protocol::cli::Input;
use airbyte_protocol::{
    Config, ConfiguredAirbyteCatalog, ConnectorSpecification, Destination, DestinationSyncMode, Extra, Output, Result,
};

/// The connector.
pub struct SnowflakeDestination;

impl Destination for SnowflakeDestination {
    fn spec(&self) -> ConnectorSpecification {
        ConnectorSpecification {
            documentation_url: Some("https://docs.airbyte.com/integrations/destinations/snowflake".into()),
            changelog_url: None,
            connection_specification: config::connection_specification(),
            supports_incremental: Some(true),
            supports_normalization: Some(false),
            supports_dbt: Some(false),
            supported_destination_sync_modes: Some(vec![
                DestinationSyncMode::Overwrite,
                DestinationSyncMode::Append,
                DestinationSyncMode::AppendDedup,
            ]),
            advanced_auth: None,
            protocol_version: None,
            extra: Extra::new(),
        }
    }

    async fn check(&self, config: &Config) -> Result<()> {
        let config = config::SnowflakeConfig::from_value(config.value())?;
        let client = client::ApiClient::connect(&config)?;
        writer::check(&client, &config).await
    }

    async fn write(
        &self,
        config: &Config,
        catalog: &ConfiguredAirbyteCatalog,
        input: Input,
        out: &Output,
    ) -> Result<()> {
        let config = config::SnowflakeConfig::from_value(config.value())?;
        let client = client::ApiClient::connect(&config)?;
        let loader = writer::Loader::prepare(&client, &config, catalog).await?;
        loader.run(catalog, input.into_reader(), out).await
    }
}
