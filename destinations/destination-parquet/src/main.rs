//! `destination-parquet spec | check | write`: the Airbyte protocol scaffold around [`ParquetDestination`].

use airbyte_protocol::run_destination;
use destination_parquet::ParquetDestination;

fn main() {
    std::process::exit(run_destination(ParquetDestination));
}
