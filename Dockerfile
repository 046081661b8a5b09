# The tokensync image that deploy/kubernetes/cronjob.yaml runs:
#   docker build -t ghcr.io/example/tokensync:latest .
#   docker run --rm --env-file tokensync.env ghcr.io/example/tokensync:latest refresh-tokens
# The entrypoint is tokensync itself: the container's arguments are the command line.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Installed (and byte-compiled) here, so that the image needs no compiler and no write to its
# own files at run time (the Kubernetes example mounts the root filesystem read-only).
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# A user with a fixed number: Kubernetes' runAsNonRoot can only check a numeric USER, and the
# example's runAsUser and fsGroup (10001) name this one.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/tokensync --create-home \
        --shell /usr/sbin/nologin tokensync
# The spool (tokens received while the database was away) and, with the embedded SQLite
# default, the database and its key file: a volume, never the image.
ENV TOKENSYNC_DATA_DIR=/var/lib/tokensync \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/var/lib/tokensync"]
USER 10001:10001
ENTRYPOINT ["tokensync"]
CMD ["--help"]
