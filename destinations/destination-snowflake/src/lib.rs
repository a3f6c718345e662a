//! destination-snowflake
