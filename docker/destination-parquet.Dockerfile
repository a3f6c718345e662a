# Airbyte image for destination-parquet: a release build in a Rust stage, run on a slim Debian image with /bin/sh
# (the platform runs `sh -c 'eval "$AIRBYTE_ENTRYPOINT ..."'`), a non-root `airbyte` user (uid 1000) and
# labels equal to destinations/destination-parquet/metadata.yaml. Build from the repository root:
#   docker build -f docker/destination-parquet.Dockerfile -t airbyte-rs/destination-parquet:0.1.0 .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p destination-parquet --bin destination-parquet

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 airbyte \
 && useradd --uid 1000 --gid 1000 --create-home --shell /bin/sh airbyte \
 && mkdir -p /airbyte /config /secrets /local \
 && chown -R airbyte:airbyte /airbyte /config /secrets /local
COPY --from=build /src/target/release/destination-parquet /usr/local/bin/destination-parquet
ENV AIRBYTE_ENTRYPOINT="/usr/local/bin/destination-parquet"
ENTRYPOINT ["/usr/local/bin/destination-parquet"]
LABEL io.airbyte.name="airbyte-rs/destination-parquet" \
      io.airbyte.version="0.1.0"
USER airbyte
WORKDIR /airbyte
