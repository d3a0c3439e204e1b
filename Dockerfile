# syntax=docker/dockerfile:1
#
# The hop-archiver image: `archiver` (the entrypoint) and `mockhop`, built
# with the workspace's toolchain by the same script as `make release`, run
# on Debian slim as an unprivileged user.
#
#   docker build --build-arg SOURCE_REVISION=$(git rev-parse --short HEAD) -t hop-archiver .
#   docker run --rm hop-archiver --version
#
# Configuration comes only from ARCHIVER_* variables, a mounted TOML file
# (ARCHIVER_CONFIG) and mounted secrets (hop's auth.toml: ARCHIVER_AUTH_FILE;
# the API's credentials file: ARCHIVER_CREDENTIALS_FILE). README, "Deploying
# with containers", has the details; compose.yaml runs a whole stack.

# The workspace's release; a test keeps it equal to Cargo.toml's.
ARG VERSION=0.1.0
# The commit built (the build context has no .git); `archiver --version` prints it.
ARG SOURCE_REVISION=unknown

# The toolchain Cargo.toml's rust-version names.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The build's system packages first, in a layer of their own that source
# changes do not invalidate: the same list `make` installs.
COPY scripts/deps.sh scripts/deps.sh
RUN scripts/deps.sh build
COPY . .
ARG SOURCE_REVISION
# build.rs reads SOURCE_REVISION from the environment (an ARG is in it).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    scripts/build-release.sh /out

FROM debian:bookworm-slim
ARG VERSION
ARG SOURCE_REVISION
LABEL org.opencontainers.image.title="hop-archiver" \
      org.opencontainers.image.description="The archive of record for Hopskotch: archiver (entrypoint) and mockhop" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${SOURCE_REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# What the binaries link beyond the base image (OpenSSL for librdkafka's
# TLS, zlib), and the CA certificates every TLS client here checks against.
# Not pinned to versions: bookworm's security updates are wanted, and an
# exact version leaves the archive when the next one comes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged uid: mounted secrets (auth.toml must be owner-only)
# are chowned to it, and numeric, so an orchestrator can tell it is not root.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/archiver archiver
COPY --from=build /out/archiver /out/mockhop /usr/local/bin/
USER 10001:10001
# The embedded default archive (sqlite + files) lands under ./archive: mount
# a volume here to keep it.
WORKDIR /var/lib/archiver
# In a container, listen on every address; publish the ports to choose.
ENV ARCHIVER_LISTEN_ADDR=0.0.0.0:8000 \
    ARCHIVER_METRICS_ADDR=0.0.0.0:9464
EXPOSE 8000 9464
# One check for both roles: `run` is healthy while its liveness file
# (ARCHIVER_LIVENESS_FILE, which `run` containers must set) is fresh,
# `serve` while /health_check answers. Exit 0 healthy, 1 not.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["archiver", "health"]
ENTRYPOINT ["archiver"]
CMD ["--help"]
