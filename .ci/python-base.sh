#!/usr/bin/env bash
# Make (once) and cache what the private-index and rebuild tests need beyond the busybox base:
#   - a Python base image's root filesystem from Debian's own packages (bookworm: python3.11 with
#     venv and ensurepip's pip wheel, ca-certificates), made by Debian's mmdebstrap;
#   - a few small pure-Python wheels (py3-none-any), fetched with `pip download`, which
#     tests/real_executor/package_index.py serves as a token-protected PEP 503 index;
#   - a frozen data-science environment's wheels for that Python (numpy, pandas, scipy and what
#     pandas needs: 70 MB, CPython 3.11 manylinux), for benchmarks/bench_rebuild.py.
#
# Result, under ${POLYMAGIC_CACHE:-$HOME/.cache/polymagic}/python-base/:
#   rootfs.tar     the root filesystem (uncompressed tar; tests/real_executor/python_base.py
#                  adds it as one layer of an OCI image with umoci)
#   wheels/        the wheels (WHEELS below)
#   data-wheels/   the data-science wheels (DATA_WHEELS below)
#   mmdebstrap.log what mmdebstrap said
#   BUILD-INFO     the suite, the packages, the size, how long it took
#   UNAVAILABLE    written instead when it cannot be made (no root, no network): the reason,
#                  which the tests show when they skip
#
# Smaller than `--variant=apt --include=python3,python3-pip,...` (242 MB): the `essential`
# variant (no apt), usr-is-merged instead of usrmerge (which pulls in all of perl), no docs, man
# pages, locales or info files. `python3 -m venv` gives the venv pip from Debian's wheel, which is
# how the tests install (Debian's system pip refuses system-wide installs anyway).
# Idempotent; concurrent runs wait on a lock; fails setup only under CI (CI set).
set -euo pipefail

SUITE=bookworm
MIRROR="${POLYMAGIC_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=usr-is-merged,python3-venv,ca-certificates
WHEELS=(
    six==1.16.0 idna==3.7 certifi==2024.8.30 urllib3==2.2.3 packaging==24.1 attrs==24.2.0
    toolz==0.12.1 typing-extensions==4.12.2 pyparsing==3.1.4 soupsieve==2.6
    more-itertools==10.5.0 zipp==3.20.2
)
DATA_WHEELS=(
    numpy==1.26.4 pandas==2.2.3 scipy==1.13.1 python-dateutil==4.0.0 pytz==2026.6 tzdata==2026.6
)
CACHE_ROOT="${POLYMAGIC_CACHE:-${HOME:-/root}/.cache/polymagic}"
OUT="$CACHE_ROOT/python-base"
PYTHON="${PYTHON:-python3}"

log() { printf '[python-base] %s\n' "$*"; }

have_all() {
    [[ -f "$OUT/rootfs.tar" && -f "$OUT/wheels/COMPLETE" && -f "$OUT/data-wheels/COMPLETE" ]]
}

report_and_exit() {
    log "rootfs: $OUT/rootfs.tar ($(du -h "$OUT/rootfs.tar" | cut -f1)), $(ls "$OUT"/wheels/*.whl | wc -l) wheels"
    exit 0
}

in_ci() {
    case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
        "" | 0 | false | no) return 1 ;;
        *) return 0 ;;
    esac
}

# It cannot be made: say why (also in UNAVAILABLE, for the tests), and exit 0 outside CI (the
# tests skip with the reason) but 1 under CI, which must run them.
unavailable() {
    mkdir -p "$OUT"
    printf '%s\n' "$*" >"$OUT/UNAVAILABLE"
    log "not making the Python base: $*"
    if in_ci; then
        log "CI is set: the private-index tests are required, so this is an error" >&2
        exit 1
    fi
    log "the tests that need it will be skipped with this reason"
    exit 0
}

make_rootfs() {
    [[ -f "$OUT/rootfs.tar" ]] && return
    [[ "$(id -u)" == "0" ]] || unavailable "mmdebstrap --mode=root needs root (run .ci/setup as root)"
    if ! command -v mmdebstrap >/dev/null; then
        log "installing Debian's mmdebstrap"
        apt-get update || unavailable "apt-get update failed"
        env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mmdebstrap ||
            unavailable "apt-get install mmdebstrap failed"
    fi
    local started=$SECONDS partial="$OUT/rootfs.partial.tar"
    log "making a $SUITE root filesystem with $PACKAGES (about a minute)"
    if ! mmdebstrap --quiet --variant=essential --mode=root --format=tar --include="$PACKAGES" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        "$SUITE" "$partial" "$MIRROR" >"$OUT/mmdebstrap.log" 2>&1; then
        rm -f "$partial"
        tail -n 20 "$OUT/mmdebstrap.log" >&2
        unavailable "mmdebstrap $SUITE from $MIRROR failed (network?)"
    fi
    mv "$partial" "$OUT/rootfs.tar"
    {
        echo "suite: $SUITE from $MIRROR (mmdebstrap $(mmdebstrap --version | awk '{print $2}'))"
        echo "packages: --variant=essential --include=$PACKAGES"
        echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - started)) s"
        echo "rootfs.tar: $(stat -c %s "$OUT/rootfs.tar") bytes"
    } >"$OUT/BUILD-INFO"
}

fetch_wheels() {
    [[ -f "$OUT/wheels/COMPLETE" ]] && return
    log "fetching ${#WHEELS[@]} pure-Python wheels with pip download"
    mkdir -p "$OUT/wheels"
    if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        --implementation py --abi none --platform any --python-version 3.11 \
        -d "$OUT/wheels" "${WHEELS[@]}"; then
        unavailable "pip download of the test wheels failed (network?)"
    fi
    local wheel
    for wheel in "$OUT"/wheels/*.whl; do
        [[ "$wheel" == *-none-any.whl ]] || unavailable "$wheel is not a pure wheel"
    done
    printf '%s\n' "${WHEELS[@]}" >"$OUT/wheels/COMPLETE"
}

fetch_data_wheels() {
    [[ -f "$OUT/data-wheels/COMPLETE" ]] && return
    log "fetching ${#DATA_WHEELS[@]} data-science wheels (70 MB) with pip download"
    mkdir -p "$OUT/data-wheels"
    if ! "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
        --implementation cp --python-version 3.11 --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 -d "$OUT/data-wheels" "${DATA_WHEELS[@]}"; then
        unavailable "pip download of the data-science wheels failed (network?)"
    fi
    printf '%s\n' "${DATA_WHEELS[@]}" >"$OUT/data-wheels/COMPLETE"
}

main() {
    if have_all; then
        report_and_exit
    fi
    mkdir -p "$CACHE_ROOT" "$OUT"
    exec 9>"$CACHE_ROOT/python-base.lock"
    log "waiting for the lock $CACHE_ROOT/python-base.lock"
    flock 9
    rm -f "$OUT/UNAVAILABLE"
    make_rootfs
    fetch_wheels
    fetch_data_wheels
    have_all || { log "nothing in $OUT after making it" >&2; exit 1; }
    report_and_exit
}

main "$@"
