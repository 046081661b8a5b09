# The tokensync image that deploy/kubernetes/cronjob.yaml runs:
#   docker build -t ghcr.io/example/tokensync:0.1.0 .
#   docker run --rm --env-file tokensync.env ghcr.io/example/tokensync:0.1.0 refresh-tokens
# The entrypoint is tokensync itself: the container's arguments are the command line.
#
# The base is pinned by its exact tag and by the digest of that tag's multi-platform index, so a
# build never picks up another image silently; docs/operations.md ("The operations files") says
# how to move it to a newer Python release. The dependencies come from requirements.lock, each
# checked against its hashes.

FROM python:3.11.16-slim-trixie@sha256:be1575ed968de893bd54f4c56315ff7c4736ce522c1bca08fd521731aafc0d76 AS build
WORKDIR /src
# The locked dependencies first: a layer that is kept while only tokensync's source changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install \
        --require-hashes -r requirements.lock
# Then tokensync alone: no dependency resolved here, and built with the base image's own
# setuptools (no build isolation), so nothing unpinned is fetched. Installed (and byte-compiled)
# here, so that the image needs no compiler and no write to its own files at run time (the
# Kubernetes example mounts the root filesystem read-only).
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install \
        --no-deps --no-build-isolation .

FROM python:3.11.16-slim-trixie@sha256:be1575ed968de893bd54f4c56315ff7c4736ce522c1bca08fd521731aafc0d76
COPY --from=build /install /usr/local
# A user with a fixed number: Kubernetes' runAsNonRoot can only check a numeric USER, and the
# example's runAsUser and fsGroup (10001) name this one.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/tokensync --create-home \
        --shell /usr/sbin/nologin tokensync
# The spool (tokens received while the database was away) and, with the embedded SQLite
# default, the database and its key file: a volume, never the image. (TOKENSYNC_DATA_DIR names a
# directory, not a secret: hadolint's DL3064 only sees "TOKEN" in the name.)
# hadolint ignore=DL3064
ENV TOKENSYNC_DATA_DIR=/var/lib/tokensync \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/var/lib/tokensync"]
USER 10001:10001
ENTRYPOINT ["tokensync"]
CMD ["--help"]
