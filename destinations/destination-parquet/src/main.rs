//! `destination-parquet spec | check | write`: the Airbyte protocol scaffold around [`ParquetDestination`].

use airbyte_protocol::run_destination;
use destination_parquet::ParquetDestination;

fn main() {
    // One allocator arena per core instead of eight: each new file's encoding threads reuse what the last file freed.
    destination_core::memory::limit_allocator_arenas(destination_core::parquet_file::default_threads());
    // A staged file and its page spill per stream in flight: hundreds of streams outgrow a soft limit of 1024.
    destination_core::limits::raise_open_file_limit();
    std::process::exit(run_destination(ParquetDestination));
}
