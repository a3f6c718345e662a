//! `destination-snowflake`: the Airbyte protocol scaffold around [`destination_snowflake::SnowflakeDestination`].

fn main() {
    std::process::exit(airbyte_protocol::run_destination(destination_snowflake::SnowflakeDestination));
}
