# Airbyte image for source-airtable: a release build in a Rust stage, run on a slim Debian image with /bin/sh
# (the platform runs `sh -c 'eval "$AIRBYTE_ENTRYPOINT ..."'`), a non-root `airbyte` user (uid 1000) and
# labels equal to connectors/source-airtable/metadata.yaml. Build from the repository root:
#   docker build -f docker/source-airtable.Dockerfile -t airbyte-rs/source-airtable:0.1.0 .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p source-airtable --bin source-airtable

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 airbyte \
 && useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh airbyte \
 && mkdir -p /airbyte /config /secrets /local \
 && chown -R airbyte:airbyte /airbyte /config /secrets /local
COPY --from=build /src/target/release/source-airtable /usr/local/bin/source-airtable
ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/source-airtable"
ENTRYPOINT ["/usr/local/bin/source-airtable"]
LABEL io.airbyte.name="airbyte-rs/source-airtable" \
      io.airbyte.version="0.1.0"
USER airbyte
WORKDIR /airbyte
