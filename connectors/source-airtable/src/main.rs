//! `source-airtable spec | check | discover | read`: the Airbyte protocol scaffold around [`AirtableSource`].

use airbyte_protocol::{run_source, Output};
use source_airtable::AirtableSource;

fn main() {
    // CONTROL messages during check/discover go to stdout like every other protocol message.
    std::process::exit(run_source(AirtableSource::new(Output::stdout())));
}
