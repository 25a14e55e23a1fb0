#!/usr/bin/env bash
# The images docker-compose.yml and `--backend docker` use: the official ones when they can be had,
# else compatible ones built here from Debian's packages, with no registry and no network at build
# time. Progress goes to stderr; stdout is only `export` lines, so that
#
#   eval "$(docker/images.sh)"
#
# sets TENANT_HARNESS_POSTGRES_IMAGE and TENANT_HARNESS_DBT_IMAGE (which docker-compose.yml and the
# Docker backend read). Needs a Docker engine (docker/engine.sh start).
#
#   postgres  postgres:15 if present or pullable; else tenant-harness/postgres:15-<hash>: Debian's
#             postgresql-15 with our own entrypoint (docker/postgres/docker-entrypoint.sh), which
#             honours POSTGRES_DB, POSTGRES_USER, POSTGRES_PASSWORD and /docker-entrypoint-initdb.d.
#   dbt       python:3.11-slim if present or pullable (the compose service pip-installs dbt at
#             start); else tenant-harness/dbt:1.11-<hash>: Debian's python3 with the pinned dbt from
#             wheels downloaded on this host (docker/dbt/Dockerfile).
#
# Both built images come FROM one Debian root filesystem (mmdebstrap, then `docker import`). Every
# tag carries a hash of its inputs (package list, Dockerfile, entrypoint, dbt pins), so a second run
# finds the images and builds nothing. A built image is also tagged :15 / :1.11 without the hash.
#
# Environment: TENANT_HARNESS_DOCKER_PULL=0 skips the pull attempts; TENANT_HARNESS_DOCKER_BUILD=1
# builds even where the official images could be pulled; TENANT_HARNESS_DEBIAN_MIRROR replaces
# http://deb.debian.org.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
SUITE=bookworm
MIRROR="${TENANT_HARNESS_DEBIAN_MIRROR:-http://deb.debian.org}"
# git: `dbt debug` checks for it.
BASE_PACKAGES="postgresql-15,python3,python3-venv,git"
BASE_OPTIONS=(
    --variant=minbase --include="$BASE_PACKAGES"
    # No documentation, manual pages or translations in the image.
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
    # The package's own cluster is dropped: the entrypoint makes one in $PGDATA at first start.
    --customize-hook='rm -rf "$1/var/lib/postgresql/15/main" "$1/etc/postgresql/15/main"'
)
PULL_TIMEOUT_S=20

say() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: error: %s\n' "$*" >&2; exit 1; }
hash_of() { sha256sum | cut -c1-12; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# An official image present, or pulled within PULL_TIMEOUT_S; else nothing is printed.
official() {
    local image="$1"
    if have_image "$image"; then echo "$image"; return; fi
    [ "${TENANT_HARNESS_DOCKER_PULL:-1}" = 0 ] && return
    say "pulling $image (at most ${PULL_TIMEOUT_S} s)"
    if timeout "$PULL_TIMEOUT_S" docker pull --quiet "$image" >/dev/null 2>&1 && have_image "$image"; then
        echo "$image"
    else
        say "$image cannot be pulled here: using a compatible one built here"
    fi
}

base_image() {
    local sources tag
    sources="deb $MIRROR/debian $SUITE main
deb $MIRROR/debian $SUITE-updates main
deb $MIRROR/debian-security $SUITE-security main"
    tag="tenant-harness/debian-base:$SUITE-$(printf '%s\n' "$sources" "${BASE_OPTIONS[@]}" | hash_of)"
    if ! have_image "$tag"; then
        command -v mmdebstrap >/dev/null || install_mmdebstrap
        say "building $tag: Debian $SUITE with $BASE_PACKAGES (mmdebstrap, about 1.5 min)"
        mmdebstrap --quiet "${BASE_OPTIONS[@]}" "$SUITE" - "$sources" | docker import - "$tag" >/dev/null
    fi
    echo "$tag"
}

install_mmdebstrap() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "mmdebstrap is missing. Hint: apt-get install mmdebstrap (as root)"
    say "installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends mmdebstrap >&2
}

# tag_and_build TAG ALIAS CONTEXT [docker build args...]
build() {
    local tag="$1" alias="$2" context="$3"; shift 3
    if ! have_image "$tag"; then
        say "building $tag"
        docker build --quiet --network none --tag "$tag" "$@" "$context" >/dev/null
    fi
    docker tag "$tag" "$alias"
    echo "$tag"
}

postgres_image() {
    local base="$1" tag
    tag="tenant-harness/postgres:15-$( (echo "$base"; cat "$HERE/postgres/Dockerfile" "$HERE/postgres/docker-entrypoint.sh") | hash_of)"
    build "$tag" tenant-harness/postgres:15 "$HERE/postgres" --build-arg "BASE=$base"
}

# The dbt pins, as pyproject.toml states them (one requirement a line).
dbt_pins() {
    grep -oE '"dbt-(core|postgres)[^"]*"' "$REPO/pyproject.toml" | head -2 | tr -d '"'
}

dbt_image() {
    local base="$1" pins tag context
    pins="$(dbt_pins)"
    [ "$(echo "$pins" | wc -l)" = 2 ] || die "cannot read the dbt-core and dbt-postgres pins from $REPO/pyproject.toml"
    tag="tenant-harness/dbt:1.11-$( (echo "$base"; echo "$pins"; cat "$HERE/dbt/Dockerfile") | hash_of)"
    if have_image "$tag"; then
        docker tag "$tag" tenant-harness/dbt:1.11
        echo "$tag"
        return
    fi
    # Wheels for the container's own Python and C library, fetched on this host.
    local py glibc
    read -r py glibc < <(docker run --rm --network none "$base" python3 -c \
        'import os, sys; print(f"{sys.version_info[0]}{sys.version_info[1]}", os.confstr("CS_GNU_LIBC_VERSION").split()[1].replace(".", "_"))')
    context="$(mktemp -d)"
    cp "$HERE/dbt/Dockerfile" "$context/"
    echo "$pins" > "$context/requirements.txt"
    # Every manylinux tag up to the container's glibc: older pips do not infer the lower ones.
    local arch platforms=(--platform any) minor
    arch="$(uname -m)"
    for minor in $(seq 5 "${glibc#2_}"); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
    platforms+=(--platform "manylinux1_$arch" --platform "manylinux2010_$arch" --platform "manylinux2014_$arch")
    say "downloading the dbt wheels for cp$py, glibc ${glibc/_/.}"
    if ! python3 -m pip download --quiet --disable-pip-version-check --dest "$context/wheels" \
        --only-binary=:all: --implementation cp --python-version "$py" --abi "cp$py" --abi abi3 --abi none \
        "${platforms[@]}" -r "$context/requirements.txt" > "$context/pip.log" 2>&1; then
        grep -v '^WARNING: Location' "$context/pip.log" >&2
        rm -rf "$context"
        die "pip could not download the dbt wheels (see above). Hint: PyPI must be reachable"
    fi
    build "$tag" tenant-harness/dbt:1.11 "$context" --build-arg "BASE=$base"
    rm -rf "$context"
    # The install stage (with the wheels) is left untagged by the build: remove it.
    docker image prune --force --filter label=org.tenant-harness.stage=install >/dev/null
}

# Remove our images built from older inputs (tags with another hash): each base is about 440 MB.
# One still used by a container stays (docker refuses; that is fine).
prune_stale() {
    local keep=" $* " image
    for image in $(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E '^tenant-harness/(debian-base|postgres|dbt):.*-[0-9a-f]{12}$' || true); do
        case "$keep" in *" $image "*) continue ;; esac
        say "removing $image (built from older inputs)"
        docker rmi "$image" >/dev/null 2>&1 || say "$image is in use: kept"
    done
}

main() {
    docker info >/dev/null 2>&1 || die "no Docker engine answers. Hint: docker/engine.sh start"
    local postgres dbt base=""
    postgres="$( [ "${TENANT_HARNESS_DOCKER_BUILD:-0}" = 1 ] || official postgres:15)"
    dbt="$( [ "${TENANT_HARNESS_DOCKER_BUILD:-0}" = 1 ] || official python:3.11-slim)"
    if [ -z "$postgres" ] || [ -z "$dbt" ]; then
        base="$(base_image)"
    fi
    [ -n "$postgres" ] || postgres="$(postgres_image "$base")"
    [ -n "$dbt" ] || dbt="$(dbt_image "$base")"
    prune_stale "$base" "$postgres" "$dbt"
    say "postgres: $postgres"
    say "dbt:      $dbt"
    printf 'export TENANT_HARNESS_POSTGRES_IMAGE=%q\nexport TENANT_HARNESS_DBT_IMAGE=%q\n' "$postgres" "$dbt"
}

main "$@"
