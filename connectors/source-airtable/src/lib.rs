//! source-airtable
