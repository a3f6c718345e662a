//! destination-parquet
