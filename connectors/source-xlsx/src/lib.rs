//! source-xlsx
