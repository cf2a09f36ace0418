#!/usr/bin/env bash
# Prepare the project's virtual environment (.venv) for running or testing.
#
#   scripts/bootstrap.sh run    # .venv with requirements.txt (default)
#   scripts/bootstrap.sh test   # .venv with requirements-dev.txt, plus the mosquitto binary
#
# Idempotent and fast when nothing changed: the requirements are only (re)installed when the
# sha256 of the requirements file(s) differs from the one recorded in .venv/.stamp-<mode>
# after the last successful install.
#
# Environment: PYTHON (interpreter to create the venv with, default python3),
#              VENV (venv directory, default <repo>/.venv).
set -euo pipefail

mode="${1:-run}"
case "$mode" in
    run) req_file="requirements.txt" ;;
    test) req_file="requirements-dev.txt" ;;
    -h | --help)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "usage: $0 [run|test]" >&2
        exit 2
        ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="${PYTHON:-python3}"
venv="${VENV:-$root/.venv}"
stamp="$venv/.stamp-$mode"

log() { echo "bootstrap($mode): $*" >&2; }

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

# --- 1. the virtual environment -------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv with $python"
    if ! "$python" -m venv "$venv"; then
        # Debian's python3 lacks ensurepip unless python3-venv (python3.X-venv) is installed.
        rm -rf "$venv"
        pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install "python${pyver}-venv" || apt_install python3-venv
        "$python" -m venv "$venv"
    fi
    rm -f "$venv"/.stamp-*
fi

# --- 2. requirements, only when they changed ------------------------------------------------
# The hash covers every requirements file involved (requirements-dev.txt includes
# requirements.txt via -r), so editing either triggers a reinstall.
files=(requirements.txt)
[ "$req_file" = requirements.txt ] || files+=("$req_file")
want="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"

if [ "$want" = "$have" ]; then
    : # nothing to install: say nothing (the first lines of `make run` are where charge points connect)
else
    log "installing ${req_file} into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req_file"
    printf '%s\n' "$want" >"$stamp"
fi

# --- 3. test extras: a mosquitto binary for the end-to-end tests ----------------------------
if [ "$mode" = test ]; then
    if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
        :
    else
        # Debian's package starts no service in a container (no systemd); the tests start
        # their own broker on a free port anyway.
        apt_install mosquitto
    fi
fi

[ "$want" = "$have" ] || log "ready"
