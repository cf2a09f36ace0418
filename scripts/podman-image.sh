#!/usr/bin/env bash
# Build the connector's image with Debian's podman, on a machine without a Docker engine and
# without access to a container registry (Debian 12 host, root or sudo, an apt mirror).
#
#   scripts/podman-image.sh            # set up (once) and build the image (default: build)
#   scripts/podman-image.sh setup      # only podman, containers.conf and the base images
#   scripts/podman-image.sh env        # print `export CONTAINERS_CONF=...` for eval
#   scripts/podman-image.sh podman ARGS...   # run podman with this containers.conf
#
# Steps, each skipped when already done (the script is idempotent):
#   1. apt-get install podman debootstrap runc fuse-overlayfs slirp4netns uidmap
#   2. write $PODMAN_DIR/containers.conf (runtime runc: crun refuses hybrid cgroup v1 hosts;
#      default_ulimits within the host's hard limits, which root may not raise everywhere) and
#      export CONTAINERS_CONF, so /etc/containers stays untouched
#   3. debootstrap --variant=minbase bookworm (mirror: the host's apt sources), cached as
#      $PODMAN_DIR/bookworm-minbase.tar, and `podman import` it as $MINBASE_IMAGE
#   4. build $BASE_IMAGE (default python:3.11-slim-bookworm) from it: Debian's python3 (3.11),
#      python3-venv, python3-pip, `python` on PATH -- a stand-in for Docker Hub's image
#   5. podman build --format docker --pull=never --network=host -t $IMAGE . with the host's CA
#      bundle mounted at the same place (for pip behind a TLS re-signing proxy); the Dockerfile's
#      test stage runs the unit and component tests, so a failing test fails the build
#
# Environment (defaults in brackets):
#   IMAGE [bemcom-ocpp-connector]   BASE_IMAGE [python:3.11-slim-bookworm]
#   MINBASE_IMAGE [localhost/debian-bookworm-minbase]   PODMAN_DIR [<repo>/var/podman]
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR [the host's apt sources' .../debian, .../debian-security]
#   SUITE [bookworm]
#   CA_BUNDLE [/etc/ssl/certs/ca-certificates.crt if it exists; "" mounts none]
#   PODMAN_INSTALL [1; 0 skips apt-get]   NOFILE [host's hard limit, at most 20000]
#   REBUILD_BASE [0; 1 rebuilds the stand-in base image]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { echo "podman-image: $*" >&2; }

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

cmd="${1:-build}"
[ $# -eq 0 ] || shift

IMAGE="${IMAGE:-bemcom-ocpp-connector}"
BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim-bookworm}"
MINBASE_IMAGE="${MINBASE_IMAGE:-localhost/debian-bookworm-minbase}"
PODMAN_DIR="${PODMAN_DIR:-$root/var/podman}"
SUITE="${SUITE:-bookworm}"
PODMAN_INSTALL="${PODMAN_INSTALL:-1}"
REBUILD_BASE="${REBUILD_BASE:-0}"
if [ -z "${CA_BUNDLE+set}" ]; then
    CA_BUNDLE=""
    [ -f /etc/ssl/certs/ca-certificates.crt ] && CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
fi
conf="$PODMAN_DIR/containers.conf"

# --- 1. the Debian packages -----------------------------------------------------------------
install_packages() {
    local missing=() tool
    for tool in podman debootstrap runc fuse-overlayfs slirp4netns newuidmap; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$PODMAN_INSTALL" != 1 ]; then
        log "missing: ${missing[*]} (PODMAN_INSTALL=0: not installing)"
        return 1
    fi
    apt_install podman debootstrap runc fuse-overlayfs slirp4netns uidmap
}

# --- 2. containers.conf ---------------------------------------------------------------------
write_conf() {
    local hard_nofile hard_nproc nofile nproc want
    hard_nofile="$(ulimit -Hn)"
    hard_nproc="$(ulimit -Hu)"
    nofile="${NOFILE:-20000}"
    nproc="${NPROC:-4096}"
    # A container may not get more than the hard limits podman itself runs with.
    [ "$hard_nofile" = unlimited ] || [ "$nofile" -le "$hard_nofile" ] || nofile="$hard_nofile"
    [ "$hard_nproc" = unlimited ] || [ "$nproc" -le "$hard_nproc" ] || nproc="$hard_nproc"
    mkdir -p "$PODMAN_DIR"
    want="$(
        cat <<EOF
# Written by scripts/podman-image.sh; used through CONTAINERS_CONF (scripts/podman-image.sh env).
[containers]
# podman's default raises nofile/nproc to 1048576, which fails where root cannot raise them.
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
# crun refuses hybrid cgroup v1 hosts; runc works on v1, hybrid and v2.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
    )"
    if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
        log "writing $conf"
        printf '%s\n' "$want" >"$conf"
    fi
}

podman_() { CONTAINERS_CONF="$conf" podman "$@"; }

image_exists() { podman_ image exists "$1"; }

# --- 3. the debootstrap base ----------------------------------------------------------------
# The URIs of the host's apt sources: deb822 ("URIs: ...") and one-line ("deb [opts] URI suite").
apt_uris() {
    cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}
             /^deb / {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; break}}'
}

# The Debian archive: DEBIAN_MIRROR, else the host's first source that looks like one.
debian_mirror() {
    local uri="${DEBIAN_MIRROR:-}"
    [ -n "$uri" ] || uri="$(apt_uris | grep -E '/debian/?$' | head -n 1 || true)"
    echo "${uri:-http://deb.debian.org/debian}"
}

# The security archive: DEBIAN_SECURITY_MIRROR, else the host's; empty when it has none.
debian_security_mirror() {
    local uri="${DEBIAN_SECURITY_MIRROR:-}"
    [ -n "$uri" ] || uri="$(apt_uris | grep -E '/debian-security/?$' | head -n 1 || true)"
    echo "$uri"
}

# Slim like Docker Hub's Debian images: no documentation, manual pages or translations (now or
# in later packages), no package cache left behind by apt.
slim_rootfs() {
    local target="$1"
    as_root tee "$target/etc/dpkg/dpkg.cfg.d/slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
    as_root tee "$target/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    as_root find "$target/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    as_root find "$target/usr/share/doc" -mindepth 1 -type d -empty -delete
    as_root rm -rf "$target"/usr/share/man/* "$target"/usr/share/info/* "$target"/usr/share/lintian/*
    as_root find "$target/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    as_root rm -rf "$target"/var/cache/apt/archives/*.deb "$target"/var/cache/apt/*.bin "$target"/var/lib/apt/lists/*
}

make_minbase() {
    image_exists "$MINBASE_IMAGE" && return 0
    local tarball="$PODMAN_DIR/$SUITE-minbase.tar"
    if [ ! -s "$tarball" ]; then
        local mirror target
        mirror="$(debian_mirror)"
        target="$(mktemp -d "$PODMAN_DIR/debootstrap.XXXXXX")"
        log "debootstrap --variant=minbase $SUITE from $mirror (once; cached as $tarball)"
        as_root debootstrap --variant=minbase "$SUITE" "$target" "$mirror" >"$PODMAN_DIR/debootstrap.log" 2>&1 || {
            log "debootstrap failed, see $PODMAN_DIR/debootstrap.log"
            tail -n 20 "$PODMAN_DIR/debootstrap.log" >&2
            as_root rm -rf "$target"
            return 1
        }
        # The image's apt uses the same archives as the host (with updates and security fixes).
        local security
        security="$(debian_security_mirror)"
        {
            echo "deb $mirror $SUITE main"
            echo "deb $mirror $SUITE-updates main"
            [ -z "$security" ] || echo "deb $security $SUITE-security main"
        } | as_root tee "$target/etc/apt/sources.list" >/dev/null
        slim_rootfs "$target"
        as_root tar -C "$target" --numeric-owner -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        as_root rm -rf "$target"
    fi
    log "podman import $tarball as $MINBASE_IMAGE"
    podman_ import --change 'CMD ["bash"]' "$tarball" "$MINBASE_IMAGE" >/dev/null
}

# --- 4. the stand-in for python:3.11-slim-bookworm ------------------------------------------
make_base() {
    if image_exists "$BASE_IMAGE" && [ "$REBUILD_BASE" != 1 ]; then
        log "$BASE_IMAGE exists, not rebuilding it (REBUILD_BASE=1 does)"
        return 0
    fi
    make_minbase
    local context
    context="$(mktemp -d)"
    # Like Docker Hub's image: python (3.11) and pip on PATH, venv works, CA certificates.
    # /etc/pip.conf makes pip (also a venv's) use the system CA bundle, which the build mounts
    # from the host, instead of certifi's.
    cat >"$context/Containerfile" <<EOF
FROM $MINBASE_IMAGE
ENV LANG=C.UTF-8
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        python3 python3-venv python3-pip ca-certificates netbase tzdata \\
    && rm -rf /var/lib/apt/lists/* \\
    && ln -s /usr/bin/python3 /usr/local/bin/python \\
    && printf '[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n' >/etc/pip.conf
CMD ["python3"]
EOF
    log "building the stand-in $BASE_IMAGE from $MINBASE_IMAGE"
    podman_ build --format docker --pull=never --network=host -t "$BASE_IMAGE" "$context"
    rm -rf "$context"
}

# --- 5. the project's image -----------------------------------------------------------------
build_image() {
    local mount=()
    [ -z "$CA_BUNDLE" ] || mount=(--volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")
    log "podman build -t $IMAGE (runs the unit and component tests)"
    local start=$SECONDS
    podman_ build --format docker --pull=never --network=host "${mount[@]}" -t "$IMAGE" "$@" "$root"
    log "built $IMAGE in $((SECONDS - start)) s: $(podman_ image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
}

case "$cmd" in
    build)
        install_packages
        write_conf
        make_base
        build_image "$@"
        ;;
    setup)
        install_packages
        write_conf
        make_base
        ;;
    env)
        write_conf
        echo "export CONTAINERS_CONF=$conf"
        ;;
    podman)
        write_conf
        exec env CONTAINERS_CONF="$conf" podman "$@"
        ;;
    -h | --help)
        sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
        ;;
    *)
        echo "usage: $0 [build [PODMAN-BUILD-ARGS...] | setup | env | podman ARGS... | --help]" >&2
        exit 2
        ;;
esac
