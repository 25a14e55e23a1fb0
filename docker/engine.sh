#!/usr/bin/env bash
# Provide a Docker engine where one can be had, and stop only what this script started.
#
#   docker/engine.sh start    an engine that answers already is used as it is; otherwise (as root)
#                             install Debian's docker.io if dockerd is missing, start dockerd and
#                             wait until it answers. Exit 0 when an engine answers, 3 with a one-line
#                             reason when none can be had here, 1 on other errors.
#   docker/engine.sh stop     stop the dockerd that `start` started (nothing else); packages stay.
#   docker/engine.sh status   say whether an engine answers and whether this script started it.
#
# What `start` started is recorded in $TENANT_HARNESS_DOCKER_STATE_DIR (default
# /run/tenant-harness-docker): dockerd's pid and its log. dockerd keeps its default data root
# (/var/lib/docker), so images built by docker/images.sh are found again by the next run.
set -euo pipefail

STATE_DIR="${TENANT_HARNESS_DOCKER_STATE_DIR:-/run/tenant-harness-docker}"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG="$STATE_DIR/dockerd.log"
READY_TIMEOUT_S=60

say() { printf 'engine: %s\n' "$*" >&2; }
unavailable() { printf 'engine: no Docker engine: %s\n' "$*" >&2; exit 3; }
answers() { timeout 10 docker info >/dev/null 2>&1; }

# The pid this script recorded, if that process is still a dockerd.
our_dockerd() {
    local pid
    [ -s "$PID_FILE" ] || return 1
    pid="$(cat "$PID_FILE")"
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q '^dockerd ' || return 1
    echo "$pid"
}

install_docker() {
    [ "$(id -u)" = 0 ] || unavailable "dockerd is not installed and installing it needs root"
    command -v apt-get >/dev/null || unavailable "dockerd is not installed and there is no apt-get to install it"
    say "installing Debian's docker.io (about 2 min)"
    # Debian's docker.io ships its own client; an existing /usr/local/bin/docker stays first in PATH.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
        --no-install-recommends docker.io >&2 || unavailable "apt-get install docker.io failed (see above)"
}

start() {
    if answers; then
        if pid="$(our_dockerd)"; then
            say "dockerd (pid $pid) started by this script answers; stop it with: $0 stop"
        else
            say "a Docker engine answers already; nothing started"
        fi
        return 0
    fi
    command -v dockerd >/dev/null || install_docker
    command -v docker >/dev/null || unavailable "the docker client is missing"
    [ "$(id -u)" = 0 ] || unavailable "no engine answers and starting dockerd needs root"
    if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null; then
        unavailable "a dockerd runs but does not answer on /var/run/docker.sock (not started by this script; left alone)"
    fi
    mkdir -p "$STATE_DIR"
    say "starting dockerd (log: $LOG)"
    setsid dockerd >"$LOG" 2>&1 < /dev/null &
    echo $! > "$PID_FILE"
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until answers; do
        if ! our_dockerd >/dev/null; then
            rm -f "$PID_FILE"
            unavailable "dockerd exited at start: $(tail -n 1 "$LOG")"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            stop >/dev/null 2>&1 || true
            unavailable "dockerd did not answer within ${READY_TIMEOUT_S} s: $(tail -n 1 "$LOG")"
        fi
        sleep 0.5
    done
    say "dockerd started (pid $(cat "$PID_FILE"), $(docker info --format '{{.ServerVersion}}, storage {{.Driver}}'))"
    say "stop it with: $0 stop"
}

stop() {
    local pid
    if ! pid="$(our_dockerd)"; then
        rm -f "$PID_FILE"
        say "nothing to stop: no dockerd started by this script runs"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    # dockerd stops its containers (10 s each at most) and its containerd, then exits.
    for _ in $(seq 120); do
        [ -d "/proc/$pid" ] || break
        sleep 0.5
    done
    if [ -d "/proc/$pid" ]; then
        say "dockerd (pid $pid) still runs after 60 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    say "dockerd stopped"
}

status() {
    if answers; then
        if pid="$(our_dockerd)"; then echo "engine: answers; dockerd pid $pid was started by $0"; else echo "engine: answers; not started by $0"; fi
    else
        echo "engine: no engine answers"
        return 3
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
