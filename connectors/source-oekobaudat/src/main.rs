//! `source-oekobaudat`: the Airbyte protocol CLI (`spec`, `check`, `discover`, `read`) for soda4LCA nodes.

fn main() {
    std::process::exit(airbyte_protocol::run_source(source_oekobaudat::OekobaudatSource));
}
