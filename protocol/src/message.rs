//! Typed model of every Airbyte protocol v0.18.0 message (`shared/airbyte/airbyte_protocol.yaml`).
//!
//! Every struct keeps unknown fields in `extra`, so a message read and written again is unchanged
//! (the protocol marks all objects `additionalProperties: true`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Unknown fields of a protocol object, kept for pass-through.
pub type Extra = Map<String, Value>;

/// The `type` of an [`AirbyteMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageType {
    Record,
    State,
    Log,
    Spec,
    ConnectionStatus,
    Catalog,
    Trace,
    Control,
    DestinationCatalog,
}

/// One line of the protocol: the envelope with exactly the payload matching `type` set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirbyteMessage {
    #[serde(rename = "type")]
    pub kind: MessageType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ConnectorSpecification>,
    #[serde(default, rename = "connectionStatus", skip_serializing_if = "Option::is_none")]
    pub connection_status: Option<ConnectionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<AirbyteCatalog>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_catalog: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AirbyteMessage {
    fn empty(kind: MessageType) -> Self {
        AirbyteMessage {
            kind,
            log: None,
            spec: None,
            connection_status: None,
            catalog: None,
            record: None,
            state: None,
            trace: None,
            control: None,
            destination_catalog: None,
            extra: Extra::new(),
        }
    }
    pub fn log(level: LogLevel, message: impl Into<String>) -> Self {
        let mut m = Self::empty(MessageType::Log);
        m.log = Some(LogMessage { level, message: message.into(), stack_trace: None, extra: Extra::new() });
        m
    }
    pub fn spec(spec: ConnectorSpecification) -> Self {
        let mut m = Self::empty(MessageType::Spec);
        m.spec = Some(spec);
        m
    }
    pub fn connection_status(status: Status, message: Option<String>) -> Self {
        let mut m = Self::empty(MessageType::ConnectionStatus);
        m.connection_status = Some(ConnectionStatus { status, message, extra: Extra::new() });
        m
    }
    pub fn catalog(catalog: AirbyteCatalog) -> Self {
        let mut m = Self::empty(MessageType::Catalog);
        m.catalog = Some(catalog);
        m
    }
    pub fn record(record: RecordMessage) -> Self {
        let mut m = Self::empty(MessageType::Record);
        m.record = Some(record);
        m
    }
    pub fn state(state: StateMessage) -> Self {
        let mut m = Self::empty(MessageType::State);
        m.state = Some(state);
        m
    }
    pub fn trace(trace: TraceMessage) -> Self {
        let mut m = Self::empty(MessageType::Trace);
        m.trace = Some(trace);
        m
    }
    pub fn control(control: ControlMessage) -> Self {
        let mut m = Self::empty(MessageType::Control);
        m.control = Some(control);
        m
    }
}

/// Stream name plus optional namespace; the identity of a stream everywhere in the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamDescriptor {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl StreamDescriptor {
    pub fn new(name: impl Into<String>, namespace: Option<String>) -> Self {
        StreamDescriptor { name: name.into(), namespace }
    }
}

impl std::fmt::Display for StreamDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

// ---------------------------------------------------------------- RECORD

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub stream: String,
    pub data: Map<String, Value>,
    /// Epoch milliseconds at which the source emitted the record.
    pub emitted_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<RecordMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_reference: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RecordMeta {
    #[serde(default)]
    pub changes: Vec<FieldChange>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `meta.changes`: a field the source (or destination) nulled or truncated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub change: ChangeKind,
    pub reason: ChangeReason,
    #[serde(flatten)]
    pub extra: Extra,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, change: ChangeKind, reason: ChangeReason) -> Self {
        FieldChange { field: field.into(), change, reason, extra: Extra::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    Nulled,
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeReason {
    SourceRecordSizeLimitation,
    DestinationRecordSizeLimitation,
    PlatformRecordSizeLimitation,
    SourceFieldSizeLimitation,
    DestinationFieldSizeLimitation,
    PlatformFieldSizeLimitation,
    SourceSerializationError,
    DestinationSerializationError,
    PlatformSerializationError,
    SourceRetrievalError,
    DestinationTypecastError,
}

impl ChangeReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeReason::SourceRecordSizeLimitation => "SOURCE_RECORD_SIZE_LIMITATION",
            ChangeReason::DestinationRecordSizeLimitation => "DESTINATION_RECORD_SIZE_LIMITATION",
            ChangeReason::PlatformRecordSizeLimitation => "PLATFORM_RECORD_SIZE_LIMITATION",
            ChangeReason::SourceFieldSizeLimitation => "SOURCE_FIELD_SIZE_LIMITATION",
            ChangeReason::DestinationFieldSizeLimitation => "DESTINATION_FIELD_SIZE_LIMITATION",
            ChangeReason::PlatformFieldSizeLimitation => "PLATFORM_FIELD_SIZE_LIMITATION",
            ChangeReason::SourceSerializationError => "SOURCE_SERIALIZATION_ERROR",
            ChangeReason::DestinationSerializationError => "DESTINATION_SERIALIZATION_ERROR",
            ChangeReason::PlatformSerializationError => "PLATFORM_SERIALIZATION_ERROR",
            ChangeReason::SourceRetrievalError => "SOURCE_RETRIEVAL_ERROR",
            ChangeReason::DestinationTypecastError => "DESTINATION_TYPECAST_ERROR",
        }
    }
}

// ---------------------------------------------------------------- STATE

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateType {
    Global,
    Stream,
    Legacy,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StateMessage {
    /// Missing means LEGACY (read-only support).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<StateType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalState>,
    /// Deprecated LEGACY blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, rename = "sourceStats", skip_serializing_if = "Option::is_none")]
    pub source_stats: Option<StateStats>,
    #[serde(default, rename = "destinationStats", skip_serializing_if = "Option::is_none")]
    pub destination_stats: Option<StateStats>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl StateMessage {
    /// The effective type: STREAM or GLOBAL when said, LEGACY otherwise.
    pub fn state_type(&self) -> StateType {
        self.kind.unwrap_or(StateType::Legacy)
    }
    pub fn stream(descriptor: StreamDescriptor, stream_state: Value) -> Self {
        StateMessage {
            kind: Some(StateType::Stream),
            stream: Some(StreamState {
                stream_descriptor: descriptor,
                stream_state: Some(stream_state),
                extra: Extra::new(),
            }),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    pub stream_descriptor: StreamDescriptor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_state: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<Value>,
    pub stream_states: Vec<StreamState>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `sourceStats` / `destinationStats`. Counts are doubles on the wire and always carry a decimal point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StateStats {
    #[serde(default, rename = "recordCount", skip_serializing_if = "Option::is_none")]
    pub record_count: Option<f64>,
    #[serde(default, rename = "rejectedRecordCount", skip_serializing_if = "Option::is_none")]
    pub rejected_record_count: Option<f64>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl StateStats {
    pub fn count(n: u64) -> Self {
        StateStats { record_count: Some(n as f64), ..Default::default() }
    }
}

// ---------------------------------------------------------------- LOG

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMessage {
    pub level: LogLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- SPEC

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorSpecification {
    #[serde(default, rename = "documentationUrl", skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    #[serde(default, rename = "changelogUrl", skip_serializing_if = "Option::is_none")]
    pub changelog_url: Option<String>,
    #[serde(rename = "connectionSpecification")]
    pub connection_specification: Value,
    #[serde(default, rename = "supportsIncremental", skip_serializing_if = "Option::is_none")]
    pub supports_incremental: Option<bool>,
    #[serde(default, rename = "supportsNormalization", skip_serializing_if = "Option::is_none")]
    pub supports_normalization: Option<bool>,
    #[serde(default, rename = "supportsDBT", skip_serializing_if = "Option::is_none")]
    pub supports_dbt: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_destination_sync_modes: Option<Vec<DestinationSyncMode>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_auth: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- CONNECTION_STATUS

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- CATALOG

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    FullRefresh,
    Incremental,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationSyncMode {
    Append,
    Overwrite,
    AppendDedup,
    Update,
    SoftDelete,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AirbyteCatalog {
    pub streams: Vec<AirbyteStream>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirbyteStream {
    pub name: String,
    pub json_schema: Value,
    pub supported_sync_modes: Vec<SyncMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_defined_cursor: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_cursor_field: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_defined_primary_key: Option<Vec<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_resumable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_file_based: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl AirbyteStream {
    /// A stream with the given schema that supports full refresh only.
    pub fn new(name: impl Into<String>, json_schema: Value) -> Self {
        AirbyteStream {
            name: name.into(),
            json_schema,
            supported_sync_modes: vec![SyncMode::FullRefresh],
            source_defined_cursor: None,
            default_cursor_field: None,
            source_defined_primary_key: None,
            namespace: None,
            is_resumable: None,
            is_file_based: None,
            extra: Extra::new(),
        }
    }
    pub fn descriptor(&self) -> StreamDescriptor {
        StreamDescriptor::new(self.name.clone(), self.namespace.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfiguredAirbyteCatalog {
    pub streams: Vec<ConfiguredAirbyteStream>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn default_sync_mode() -> SyncMode {
    SyncMode::FullRefresh
}
fn default_destination_sync_mode() -> DestinationSyncMode {
    DestinationSyncMode::Append
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfiguredAirbyteStream {
    pub stream: AirbyteStream,
    #[serde(default = "default_sync_mode")]
    pub sync_mode: SyncMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_field: Option<Vec<String>>,
    #[serde(default = "default_destination_sync_mode")]
    pub destination_sync_mode: DestinationSyncMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Vec<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_generation_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_object_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_files: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ConfiguredAirbyteStream {
    pub fn new(stream: AirbyteStream, sync_mode: SyncMode, destination_sync_mode: DestinationSyncMode) -> Self {
        ConfiguredAirbyteStream {
            cursor_field: stream.default_cursor_field.clone(),
            primary_key: stream.source_defined_primary_key.clone(),
            stream,
            sync_mode,
            destination_sync_mode,
            generation_id: None,
            minimum_generation_id: None,
            sync_id: None,
            destination_object_name: None,
            include_files: None,
            extra: Extra::new(),
        }
    }
    pub fn descriptor(&self) -> StreamDescriptor {
        self.stream.descriptor()
    }
    /// The cursor to use: source-defined, else configured, else the stream default.
    pub fn effective_cursor(&self) -> Option<&Vec<String>> {
        if self.stream.source_defined_cursor == Some(true) {
            return self.stream.default_cursor_field.as_ref();
        }
        self.cursor_field.as_ref().filter(|c| !c.is_empty()).or(self.stream.default_cursor_field.as_ref())
    }
}

// ---------------------------------------------------------------- TRACE

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TraceType {
    Error,
    Estimate,
    StreamStatus,
    Analytics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceMessage {
    #[serde(rename = "type")]
    pub kind: TraceType,
    /// Epoch milliseconds (a number on the wire).
    pub emitted_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorTrace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<EstimateTrace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_status: Option<StreamStatusTrace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsTrace>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl TraceMessage {
    fn empty(kind: TraceType) -> Self {
        TraceMessage {
            kind,
            emitted_at: crate::now_millis() as f64,
            error: None,
            estimate: None,
            stream_status: None,
            analytics: None,
            extra: Extra::new(),
        }
    }
    pub fn error(error: ErrorTrace) -> Self {
        let mut t = Self::empty(TraceType::Error);
        t.error = Some(error);
        t
    }
    pub fn estimate(estimate: EstimateTrace) -> Self {
        let mut t = Self::empty(TraceType::Estimate);
        t.estimate = Some(estimate);
        t
    }
    pub fn stream_status(descriptor: StreamDescriptor, status: StreamStatus) -> Self {
        let mut t = Self::empty(TraceType::StreamStatus);
        t.stream_status =
            Some(StreamStatusTrace { stream_descriptor: descriptor, status, reasons: None, extra: Extra::new() });
        t
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureType {
    SystemError,
    ConfigError,
    TransientError,
}

impl FailureType {
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureType::SystemError => "system_error",
            FailureType::ConfigError => "config_error",
            FailureType::TransientError => "transient_error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorTrace {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_type: Option<FailureType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_descriptor: Option<StreamDescriptor>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EstimateType {
    Stream,
    Sync,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimateTrace {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EstimateType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_estimate: Option<i64>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    Started,
    Running,
    Complete,
    Incomplete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStatusTrace {
    pub stream_descriptor: StreamDescriptor,
    pub status: StreamStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsTrace {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

// ---------------------------------------------------------------- CONTROL

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlMessage {
    /// Always `CONNECTOR_CONFIG` in v0.18.
    #[serde(rename = "type")]
    pub kind: String,
    pub emitted_at: f64,
    #[serde(default, rename = "connectorConfig", skip_serializing_if = "Option::is_none")]
    pub connector_config: Option<ControlConnectorConfig>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlConnectorConfig {
    pub config: Value,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ControlMessage {
    /// A CONNECTOR_CONFIG control message carrying the full, updated config (e.g. rotated tokens).
    pub fn connector_config(config: Value) -> Self {
        ControlMessage {
            kind: "CONNECTOR_CONFIG".into(),
            emitted_at: crate::now_millis() as f64,
            connector_config: Some(ControlConnectorConfig { config, extra: Extra::new() }),
            extra: Extra::new(),
        }
    }
}
