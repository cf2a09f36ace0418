# BEMCom OCPP 1.6J connector: gateway, bridge and rawlogger under supervisord.
#
#   docker build -t bemcom-ocpp-connector .
#
# Stages: builder (runtime venv at /opt/venv) -> test (unit tests; the build fails when they
# fail) -> runtime (venv + source, non-root). The runtime stage copies a marker file from the
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

WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
RUN pip install --no-cache-dir -r requirements-dev.txt

COPY . .
# Unit tests only: they need neither a broker nor running processes.
RUN python -m pytest -p no:cacheprovider tests/unit \
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
