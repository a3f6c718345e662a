//! Shared support for the integration tests: the replay server and running the connector binary.

pub mod replay;
pub mod run;
