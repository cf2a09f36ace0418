# Shell helpers shared by scripts/bootstrap.sh and scripts/ensure-broker.sh (sourced, not run).
# The caller defines log() (one line to stderr, prefixed with its own name).

# Run a command as root: directly when we are root, through sudo when it exists.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run: $* (not root and no sudo)"
        return 1
    fi
}

# Install Debian packages (a fresh machine or container may have no package lists yet).
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not available; please install: $*"
        return 1
    fi
    log "installing Debian package(s): $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
