//! `destination-snowflake`: the Airbyte protocol scaffold around [`destination_snowflake::SnowflakeDestination`].

fn main() {
    // One allocator arena per core: each staged file's encoding threads reuse what the last file freed.
    destination_core::memory::limit_allocator_arenas(destination_core::parquet_file::default_threads());
    // Staged files per stream in flight: hundreds of streams outgrow a soft limit of 1024.
    destination_core::limits::raise_open_file_limit();
    std::process::exit(airbyte_protocol::run_destination(destination_snowflake::SnowflakeDestination));
}
