//! `source-xlsx`: the Airbyte protocol commands (spec, check, discover, read) for Excel workbooks.

fn main() {
    std::process::exit(airbyte_protocol::run_source(source_xlsx::XlsxSource));
}
