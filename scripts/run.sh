#!/usr/bin/env bash
# `make run`: the connector in the foreground, as an operator runs it from a checkout.
#
#   1. .venv with requirements.txt (scripts/bootstrap.sh run; quiet when nothing changed)
#   2. where charge points connect: ws://<each address of this host>:<OCPP_PORT>/<charge point id>
#   3. a broker: when MQTT_BROKER_HOST is local and nothing answers, mosquitto on loopback
#      (scripts/ensure-broker.sh)
#   4. supervisord -n -c supervisord.conf until Ctrl-C (SIGINT) or SIGTERM
#
# When it ends, the mosquitto that step 3 started (if any) is stopped with it; a broker that
# was already running is left alone. KEEP_BROKER=1 leaves the started one running too.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/bootstrap.sh run
.venv/bin/python -m tools.where || true # bad settings: the gateway names them in a moment

mkdir -p var
started="var/run-broker.pid"
rm -f "$started"
BROKER_STARTED_FILE="$started" bash scripts/ensure-broker.sh

stop_broker() {
    [ -s "$started" ] || return 0
    local pid
    pid="$(cat "$started")"
    rm -f "$started"
    if [ "${KEEP_BROKER:-0}" = 1 ]; then
        echo "run: leaving the mosquitto it started running (pid $pid, KEEP_BROKER=1)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    local file
    for file in var/mosquitto-*.pid; do
        [ "$(cat "$file" 2>/dev/null)" != "$pid" ] || rm -f "$file"
    done
    echo "run: stopped the mosquitto it had started (pid $pid)"
}
trap stop_broker EXIT

PATH="$root/.venv/bin:$PATH" .venv/bin/supervisord -n -c supervisord.conf &
supervisord=$!
# Ctrl-C reaches supervisord from the terminal too; SIGTERM (e.g. from a service manager) is
# passed on. Its programs run in process groups of their own and are stopped by it.
trap 'kill -TERM "$supervisord" 2>/dev/null || true' INT TERM
status=0
while kill -0 "$supervisord" 2>/dev/null; do
    wait "$supervisord" || status=$?
done
exit "$status"
