# BEMCom OCPP 1.6J connector: gateway, bridge and rawlogger under supervisord.
#
#   docker build -t bemcom-ocpp-connector .
#
# (or `scripts/podman-image.sh` with Debian's podman and no registry: docs/operating.md).
#
# Stages: builder (runtime venv at /opt/venv) -> test (every test that fits a build: all but
# the end-to-end and image tests, with a real mosquitto and openssl; the build fails when one
# fails) -> runtime (venv + source, non-root). The runtime stage copies a marker file from the
# test stage so that BuildKit cannot skip the tests, as BEMCom connectors run theirs at build.

# ---------------------------------------------------------------------------- builder
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# ---------------------------------------------------------------------------- test
FROM builder AS test

# The tests start their own mosquitto on free ports and make TLS certificates with openssl.
# Debian's current versions, as the base image's own packages (pinning them breaks every
# point release); the broker service the package installs is not started in a build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends mosquitto openssl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
RUN pip install --no-cache-dir -r requirements-dev.txt

COPY . .
# Unit and component tests (pure code; real sockets and a real mosquitto). Selected by marker,
# not directory: end-to-end tests (supervisord, several processes) and the image tests (podman)
# do not run inside a build.
RUN python -m pytest -p no:cacheprovider -m "not e2e and not image" tests \
    && touch /tmp/tests-passed

# ---------------------------------------------------------------------------- runtime
FROM python:3.11-slim-bookworm AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --gid 10001 connector \
    && useradd --no-log-init --uid 10001 --gid connector --no-create-home \
        --home-dir /app --shell /usr/sbin/nologin connector

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
# Only builds once the test stage has passed.
COPY --from=test /tmp/tests-passed /tmp/tests-passed

COPY common/ ./common/
COPY processes/ ./processes/
# Operator tools: busctl, the health check, the simulator (docs/operating.md).
COPY tools/ ./tools/
COPY supervisord.conf .env ./
RUN mkdir -p /app/var && chown connector:connector /app/var

# Numeric, so that the host (and Kubernetes runAsNonRoot) can resolve it: user "connector".
USER 10001:10001

# OCPP 1.6J websocket endpoint of the gateway (charge points connect here).
EXPOSE 9000

# Healthy when supervisord runs gateway, bridge and rawlogger and the bridge was connected to
# the MQTT broker within 3 x BEMCOM_HEARTBEAT_INTERVAL (default 30 s). Prints why not.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "tools.healthcheck"]

# supervisord is PID 1 and stays in the foreground (-n): on SIGTERM (docker stop) it stops the
# programs with their stopsignal TERM and waits up to stopwaitsecs=15 each; allow that with
# `docker stop -t 30` (Docker's default of 10 s would SIGKILL a gateway closing connections).
STOPSIGNAL SIGTERM
ENTRYPOINT ["supervisord", "-n", "-c", "/app/supervisord.conf"]
