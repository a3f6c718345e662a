//! The S3 connection keys of Airbyte's destination-s3 (region, endpoint, access key, role), shared by the
//! destinations that write to a bucket: their configs `#[serde(flatten)]` an [`S3Connection`], so the JSON keys
//! stay at the level Airbyte puts them. Bucket name and prefix stay in each config: whether they are required
//! differs per destination.

use airbyte_protocol::{ConnectorError, Result};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use serde::Deserialize;
use std::fmt;

/// Region used when `s3_bucket_region` is absent or empty (Airbyte's default).
pub const DEFAULT_REGION: &str = "us-east-1";

/// How to reach and authenticate to S3 (or an S3-compatible server).
#[derive(Clone, Default, Deserialize)]
pub struct S3Connection {
    /// Bucket region (absent or empty: `us-east-1`).
    #[serde(default)]
    pub s3_bucket_region: Option<String>,
    /// Custom endpoint for S3-compatible servers (MinIO, moto), e.g. `http://localhost:9000`.
    #[serde(default)]
    pub s3_endpoint: Option<String>,
    /// Access key id; without it the default AWS credential chain is used.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key (a secret: never printed).
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Role to assume with the container's web identity token (`AWS_WEB_IDENTITY_TOKEN_FILE`).
    #[serde(default)]
    pub role_arn: Option<String>,
}

impl fmt::Debug for S3Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Connection")
            .field("s3_bucket_region", &self.s3_bucket_region)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| airbyte_protocol::redact::MASK))
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| airbyte_protocol::redact::MASK))
            .field("role_arn", &self.role_arn)
            .finish()
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

impl S3Connection {
    pub fn region(&self) -> &str {
        non_empty(&self.s3_bucket_region).unwrap_or(DEFAULT_REGION)
    }

    /// The static key pair, when `access_key_id` is given (checked by [`S3Connection::validate`] to have a
    /// secret).
    pub fn access_key(&self) -> Option<(&str, &str)> {
        non_empty(&self.access_key_id).map(|id| (id, self.secret_access_key.as_deref().unwrap_or_default()))
    }

    /// Check what serde cannot. `at` prefixes key names in messages (`""` or `"loading_method."`).
    pub fn validate(&self, at: &str) -> Result<()> {
        if non_empty(&self.access_key_id).is_some() && non_empty(&self.secret_access_key).is_none() {
            return Err(ConnectorError::config(format!(
                "{at}access_key_id is set but {at}secret_access_key is missing; give both or neither"
            )));
        }
        Ok(())
    }

    /// An `object_store` builder for `bucket` with region, endpoint and credentials applied (the environment's
    /// AWS settings fill the rest). `at` prefixes key names in messages.
    pub fn store_builder(&self, bucket: &str, at: &str) -> Result<AmazonS3Builder> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_region(self.region());
        if let Some(endpoint) = non_empty(&self.s3_endpoint) {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some((key, secret)) = self.access_key() {
            builder = builder.with_access_key_id(key).with_secret_access_key(secret);
        }
        if let Some(role) = non_empty(&self.role_arn) {
            let Ok(token_file) = std::env::var("AWS_WEB_IDENTITY_TOKEN_FILE") else {
                return Err(ConnectorError::config(format!(
                    "{at}role_arn is set, but this destination can only assume a role with a web identity token \
                     (AWS_WEB_IDENTITY_TOKEN_FILE, as on EKS); use {at}access_key_id/{at}secret_access_key instead"
                )));
            };
            builder = builder
                .with_config(AmazonS3ConfigKey::RoleArn, role)
                .with_config(AmazonS3ConfigKey::WebIdentityTokenFile, token_file);
        }
        Ok(builder)
    }
}

/// Reject bucket names S3 never accepts (too short, or a path given as the name). `key` names the config key.
pub fn validate_bucket_name(key: &str, bucket: &str) -> Result<()> {
    if bucket.len() < 3 || bucket.len() > 63 || bucket.contains('/') {
        return Err(ConnectorError::config(format!(
            "{key} {bucket:?} is not a valid bucket name (3-63 characters, no `/`)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> S3Connection {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_and_redacted_debug() {
        let c = parse(json!({"s3_bucket_region": "", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t"}));
        assert_eq!(c.region(), DEFAULT_REGION);
        assert_eq!(c.access_key(), Some(("AKIAEXAMPLE", "s3cr3t")));
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t") && !debug.contains("AKIAEXAMPLE"), "{debug}");
        assert_eq!(parse(json!({"s3_bucket_region": "eu-west-1"})).region(), "eu-west-1");
        assert_eq!(parse(json!({"access_key_id": ""})).access_key(), None);
    }

    #[test]
    fn key_without_secret_and_bad_bucket_names_are_config_errors() {
        let e = parse(json!({"access_key_id": "AKIA"})).validate("loading_method.").unwrap_err();
        assert!(e.is_config() && e.message.contains("loading_method.secret_access_key"), "{}", e.message);
        parse(json!({})).validate("").unwrap();
        assert!(validate_bucket_name("s3_bucket_name", "ab").unwrap_err().message.contains("s3_bucket_name"));
        assert!(validate_bucket_name("s3_bucket_name", "a/b/c").is_err());
        validate_bucket_name("s3_bucket_name", "my-bucket").unwrap();
    }

    #[test]
    fn builder_applies_endpoint_and_keys() {
        let c = parse(json!({"s3_endpoint": "http://127.0.0.1:9", "access_key_id": "AK", "secret_access_key": "SK"}));
        let builder = c.store_builder("bucket", "").unwrap();
        assert_eq!(builder.get_config_value(&AmazonS3ConfigKey::Endpoint).as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(builder.get_config_value(&AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("AK"));
        assert_eq!(builder.get_config_value(&AmazonS3ConfigKey::Region).as_deref(), Some(DEFAULT_REGION));
        builder.build().unwrap();
    }
}
