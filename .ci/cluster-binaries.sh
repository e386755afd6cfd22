#!/usr/bin/env bash
# Build (once) and cache the Kubernetes v1.20.2 control-plane binaries used by the
# real-cluster tests: kube-apiserver, kube-scheduler and kube-controller-manager,
# compiled offline from Debian bookworm's `kubernetes` source package, plus etcd
# from Debian's etcd-server package.
#
# Idempotent: exits immediately when the binaries are already cached and etcd is
# on PATH.  Safe to start twice at once (the build is serialised with flock).
#
#   KUBE_BIN  where the three binaries go
#             (default: ${POLYMAGIC_CACHE:-$HOME/.cache/polymagic}/kube-v1.20.2/bin)
set -euo pipefail

CACHE_ROOT="${POLYMAGIC_CACHE:-${HOME:-/root}/.cache/polymagic}"
KUBE_BIN="${KUBE_BIN:-$CACHE_ROOT/kube-v1.20.2/bin}"
BINARIES=(kube-apiserver kube-scheduler kube-controller-manager)
DEB_SRC_FILE=/etc/apt/sources.list.d/polymagic-deb-src.sources
APT_PACKAGES=(golang-go etcd-server etcd-client make rsync openssl)
export DEBIAN_FRONTEND=noninteractive
export HOME="${HOME:-/root}"   # go needs one; unset in some bare CI shells

log() { printf '[cluster-binaries] %s\n' "$*"; }

have_kube_binaries() {
    local name
    for name in "${BINARIES[@]}"; do
        [[ -x "$KUBE_BIN/$name" ]] || return 1
    done
}

have_everything() {
    have_kube_binaries && command -v etcd >/dev/null 2>&1
}

report_and_exit() {
    local name
    for name in "${BINARIES[@]}"; do
        log "$name: $KUBE_BIN/$name"
    done
    log "etcd: $(command -v etcd)"
    exit 0
}

add_deb_src_entries() {
    if [[ -f "$DEB_SRC_FILE" ]]; then
        log "deb-src entries already present in $DEB_SRC_FILE"
        return
    fi
    local src=/etc/apt/sources.list.d/debian.sources
    if [[ -f "$src" ]]; then
        sed -e 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' "$src" >"$DEB_SRC_FILE.tmp"
    elif [[ -f /etc/apt/sources.list ]]; then
        # One-line format: turn every `deb ...` line into a deb822 stanza-free list file.
        DEB_SRC_FILE=/etc/apt/sources.list.d/polymagic-deb-src.list
        sed -n -e 's/^deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$DEB_SRC_FILE.tmp"
    else
        log "no Debian apt sources found to derive deb-src entries from" >&2
        exit 1
    fi
    mv "$DEB_SRC_FILE.tmp" "$DEB_SRC_FILE"
    log "added deb-src entries: $DEB_SRC_FILE"
}

install_build_dependencies() {
    log "apt-get update"
    apt-get update -q
    log "apt-get install ${APT_PACKAGES[*]}"
    apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
}

# Prints the directory of the unpacked upstream tree.
fetch_source() {
    local work="$1"
    log "downloading the kubernetes source package into $work" >&2
    (cd "$work" && apt-get -o APT::Sandbox::User=root source --download-only kubernetes >&2)
    local tarball
    tarball="$(find "$work" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n 1)"
    [[ -n "$tarball" ]] || { log "no kubernetes_*.orig.tar.* downloaded" >&2; exit 1; }
    log "unpacking $(basename "$tarball")" >&2
    mkdir -p "$work/src"
    tar -xf "$tarball" -C "$work/src"
    local makefile
    makefile="$(find "$work/src" -maxdepth 2 -name Makefile -path '*/Makefile' | head -n 1)"
    [[ -n "$makefile" ]] || { log "no Makefile in the unpacked tree" >&2; exit 1; }
    dirname "$makefile"
}

build_and_install() {
    local tree="$1" name built
    log "building ${BINARIES[*]} (go $(go env GOVERSION 2>/dev/null || echo '?')); this takes a few minutes"
    (cd "$tree" && env -u GOFLAGS CGO_ENABLED=0 GOCACHE="$tree/.gocache" \
        make WHAT="cmd/kube-apiserver cmd/kube-scheduler cmd/kube-controller-manager")
    mkdir -p "$KUBE_BIN"
    for name in "${BINARIES[@]}"; do
        built="$(find "$tree/_output" -type f -name "$name" -perm -u+x | head -n 1)"
        [[ -n "$built" ]] || { log "build produced no $name" >&2; exit 1; }
        install -m 0755 "$built" "$KUBE_BIN/$name.tmp"
        mv "$KUBE_BIN/$name.tmp" "$KUBE_BIN/$name"
        log "installed $KUBE_BIN/$name ($("$KUBE_BIN/$name" --version 2>/dev/null || echo 'version unknown'))"
    done
}

main() {
    if have_everything; then
        report_and_exit
    fi
    mkdir -p "$CACHE_ROOT"
    local lock="$CACHE_ROOT/cluster-binaries.lock"
    exec 9>"$lock"
    log "waiting for the build lock $lock"
    flock 9
    if have_everything; then   # another run finished while we waited
        report_and_exit
    fi
    if have_kube_binaries; then   # e.g. a CI cache restored KUBE_BIN on a fresh machine
        log "apt-get install etcd-server etcd-client (the Kubernetes binaries are cached)"
        apt-get update -q
        apt-get install -y -q --no-install-recommends etcd-server etcd-client
        report_and_exit
    fi
    add_deb_src_entries
    install_build_dependencies
    WORK_DIR="$(mktemp -d "$CACHE_ROOT/kube-build.XXXXXX")"
    # The build tree is ~2 GB: always remove it, also on failure.
    trap 'log "removing build tree $WORK_DIR"; rm -rf "$WORK_DIR"' EXIT
    local started=$SECONDS tree
    tree="$(fetch_source "$WORK_DIR")"
    build_and_install "$tree"
    log "built in $((SECONDS - started)) s"
    have_everything || { log "etcd is still not on PATH" >&2; exit 1; }
    report_and_exit
}

main "$@"
