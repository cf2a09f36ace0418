#!/usr/bin/env bash
# Make sure an MQTT broker answers where the connector will look for one (used by `make run`).
#
# MQTT_BROKER_HOST / MQTT_BROKER_PORT come from the environment, else from .env, else
# localhost / 1883. If the host is local (localhost, 127.0.0.1, ::1) and nothing answers on
# that TCP port, mosquitto is installed from Debian's packages if missing and started in the
# background on that port, on 127.0.0.1 only (never on the network), with TCP_NODELAY, from the
# configuration file var/mosquitto-PORT.conf that this script writes.
# Its output goes to var/mosquitto-PORT.log and its pid to var/mosquitto-PORT.pid.
# A remote host is only checked, never started. Prints one line saying what it did.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Value of KEY in .env (last assignment wins; optional "export ", quotes and comments stripped).
dotenv_get() {
    local key="$1" file="$root/.env" line value=""
    [ -f "$file" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line#"${line%%[![:space:]]*}"}"  # ltrim
        line="${line#export }"
        case "$line" in
            "$key="*) value="${line#"$key="}" ;;
        esac
    done <"$file"
    case "$value" in
        \"*\"*) value="${value#\"}"; value="${value%%\"*}" ;;
        \'*\'*) value="${value#\'}"; value="${value%%\'*}" ;;
        *) value="${value%%[[:space:]]#*}"; value="${value%"${value##*[![:space:]]}"}" ;;
    esac
    printf '%s' "$value"
}

host="${MQTT_BROKER_HOST:-$(dotenv_get MQTT_BROKER_HOST)}"
port="${MQTT_BROKER_PORT:-$(dotenv_get MQTT_BROKER_PORT)}"
host="${host:-localhost}"
port="${port:-1883}"

case "$port" in
    '' | *[!0-9]*)
        echo "ensure-broker: MQTT_BROKER_PORT='$port' is not a port number" >&2
        exit 2
        ;;
esac

# True when something accepts TCP connections on host:port.
answers() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# A local host answers if any loopback address does (clients resolve "localhost" to either).
local_answers() {
    answers 127.0.0.1 "$port" || answers ::1 "$port"
}

case "$host" in
    localhost | 127.0.0.1 | ::1 | '[::1]') is_local=1 ;;
    *) is_local=0 ;;
esac

if [ "$is_local" -eq 0 ]; then
    if answers "$host" "$port"; then
        echo "ensure-broker: remote broker $host:$port answers; nothing to do"
    else
        echo "ensure-broker: WARNING remote broker $host:$port does not answer (not started: not local)" >&2
    fi
    exit 0
fi

if local_answers; then
    echo "ensure-broker: a broker already answers on $host:$port; nothing to do"
    exit 0
fi

log() { echo "ensure-broker: $*" >&2; }
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

installed=""
mosquitto_bin="$(command -v mosquitto || true)"
if [ -z "$mosquitto_bin" ] && [ -x /usr/sbin/mosquitto ]; then
    mosquitto_bin=/usr/sbin/mosquitto
fi
if [ -z "$mosquitto_bin" ]; then
    apt_install mosquitto || { log "no mosquitto; install an MQTT broker on $host:$port"; exit 1; }
    mosquitto_bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
    installed="installed mosquitto from Debian packages, "
    # The package may have started its own service on 1883 (on a machine with systemd).
    if local_answers; then
        echo "ensure-broker: ${installed}its service answers on $host:$port"
        exit 0
    fi
fi

mkdir -p "$root/var"
logfile="$root/var/mosquitto-$port.log"
pidfile="$root/var/mosquitto-$port.pid"

# setsid + nohup: the broker outlives this script (`make run` stops it when it ends, the demo
# when it ends).
# Loopback only, and TCP_NODELAY (else Nagle's algorithm delays a message by tens of ms now and then).
conffile="$root/var/mosquitto-$port.conf"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n' "$port" >"$conffile"
setsid nohup "$mosquitto_bin" -c "$conffile" </dev/null >"$logfile" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"
# scripts/run.sh (`make run`) stops the broker it started when it ends.
[ -z "${BROKER_STARTED_FILE:-}" ] || echo "$pid" >"$BROKER_STARTED_FILE"

for _ in $(seq 1 100); do
    if local_answers; then
        echo "ensure-broker: ${installed}started mosquitto (pid $pid) on loopback port $port; log $logfile"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

echo "ensure-broker: mosquitto did not come up on $host:$port within 10 s; see $logfile:" >&2
tail -n 20 "$logfile" >&2 || true
kill "$pid" 2>/dev/null || true
rm -f "$pidfile"
exit 1
