//! One error type for every connector, carrying the Airbyte `failure_type` it maps to.

use crate::message::{ErrorTrace, Extra, FailureType, StreamDescriptor};
use std::fmt;

/// Result alias used across the workspace.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// An error a connector reports to the platform as a TRACE ERROR.
///
/// `message` is for the user and must name what is wrong and where; `internal` carries technical detail.
#[derive(Debug, Clone)]
pub struct ConnectorError {
    pub failure_type: FailureType,
    pub message: String,
    pub internal: Option<String>,
    pub stream: Option<StreamDescriptor>,
}

impl ConnectorError {
    pub fn new(failure_type: FailureType, message: impl Into<String>) -> Self {
        ConnectorError { failure_type, message: message.into(), internal: None, stream: None }
    }
    /// The user must fix the configuration (or the catalog / state / input they gave).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(FailureType::ConfigError, message)
    }
    /// Temporary: a retry of the same sync may succeed.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(FailureType::TransientError, message)
    }
    /// A bug or an unexpected condition on our side.
    pub fn system(message: impl Into<String>) -> Self {
        Self::new(FailureType::SystemError, message)
    }
    pub fn with_internal(mut self, internal: impl Into<String>) -> Self {
        self.internal = Some(internal.into());
        self
    }
    pub fn with_stream(mut self, stream: StreamDescriptor) -> Self {
        self.stream = Some(stream);
        self
    }
    /// Prefix the user message with context, e.g. a file or stream name.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
    pub fn is_config(&self) -> bool {
        self.failure_type == FailureType::ConfigError
    }
    pub fn is_transient(&self) -> bool {
        self.failure_type == FailureType::TransientError
    }
    /// The TRACE ERROR payload for this error.
    pub fn to_trace(&self) -> ErrorTrace {
        ErrorTrace {
            message: self.message.clone(),
            internal_message: self.internal.clone(),
            stack_trace: None,
            failure_type: Some(self.failure_type),
            stream_descriptor: self.stream.clone(),
            extra: Extra::new(),
        }
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.failure_type.as_str())
    }
}

impl std::error::Error for ConnectorError {}

impl From<std::io::Error> for ConnectorError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let kind = match e.kind() {
            NotFound | PermissionDenied | InvalidInput | InvalidData => FailureType::ConfigError,
            TimedOut | Interrupted | ConnectionReset | ConnectionAborted | ConnectionRefused | WouldBlock => {
                FailureType::TransientError
            }
            _ => FailureType::SystemError,
        };
        ConnectorError::new(kind, e.to_string())
    }
}

impl From<serde_json::Error> for ConnectorError {
    fn from(e: serde_json::Error) -> Self {
        ConnectorError::system(format!("JSON error: {e}"))
    }
}

impl From<anyhow::Error> for ConnectorError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<ConnectorError>() {
            Ok(ce) => ce,
            Err(e) => ConnectorError::system(format!("{e:#}")),
        }
    }
}

/// Attach context to results in one call: `file.read().config_context("workbook a.xlsx")?`.
pub trait ResultExt<T> {
    /// Map any error into a config error with the given context.
    fn config_context(self, context: impl fmt::Display) -> Result<T>;
    /// Map any error into a system error with the given context.
    fn system_context(self, context: impl fmt::Display) -> Result<T>;
    /// Map any error into a transient error with the given context.
    fn transient_context(self, context: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> ResultExt<T> for std::result::Result<T, E> {
    fn config_context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| ConnectorError::config(format!("{context}: {e}")))
    }
    fn system_context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| ConnectorError::system(format!("{context}: {e}")))
    }
    fn transient_context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| ConnectorError::transient(format!("{context}: {e}")))
    }
}
