#!/bin/bash
# vps-init as PID 1 of a new pid namespace (no vpsd involved): it reaps the orphans the kernel
# hands to it, forwards SIGUSR1 and SIGTERM to every process, stays up after its command has
# exited, exits 0 on SIGTERM once every process is gone, and refuses to run as anything but
# PID 1. Expects VPS_INIT (the statically linked binary) in the environment.

set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "${VPS_INIT:-}" ] || { echo "FAIL: VPS_INIT is not set to an executable" >&2; exit 1; }
command -v unshare >/dev/null || { echo "SKIP: needs unshare"; exit 77; }

T=$(mktemp -d /tmp/vps-init-test.XXXXXX)
UNSHARE_PID=

# unshare --kill-child SIGKILLs the namespace's init when unshare dies, and the kernel then
# kills every other process of the namespace: killing the one pid we started cleans up all.
cleanup() {
    local rc=$?
    if [ -n "$UNSHARE_PID" ]; then
        kill -KILL "$UNSHARE_PID" 2>/dev/null
        wait "$UNSHARE_PID" 2>/dev/null
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    [ -f "$T/init.log" ] && { echo "--- vps-init log ---" >&2; cat "$T/init.log" >&2; }
    exit 1
}
ok() { echo "ok: $*"; }

# A reap has no fd to wait on, so this polls with a deadline instead of sleeping a fixed time.
wait_for() {
    local deadline=$((SECONDS + 20))
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.01
    done
}

# start_init ARGS...: vps-init ARGS as PID 1 of a new pid and mount namespace (its own /proc);
# returns once the command has written a line to $T/ready. Sets INIT_PID (its host pid).
start_init() {
    rm -f "$T/ready"
    mkfifo "$T/ready"
    unshare --pid --mount-proc --kill-child "$VPS_INIT" "$@" 2>>"$T/init.log" &
    UNSHARE_PID=$!
    local line=
    read -r -t 20 line <"$T/ready" || fail "command inside vps-init did not start"
    INIT_PID=$(init_children "$UNSHARE_PID")
    [ -n "$INIT_PID" ] || fail "no vps-init under unshare"
}

# stop_init: SIGTERM to vps-init from the host; returns its exit status.
stop_init() {
    kill -TERM "$INIT_PID"
    wait "$UNSHARE_PID"
    local rc=$?
    UNSHARE_PID=
    return $rc
}

init_children() {
    local c=
    read -r c <"/proc/$1/task/$1/children" 2>/dev/null
    echo "${c% }" # the kernel ends the list with a space
}

# only_child PID: vps-init's one child is PID, and it is not a zombie.
only_child() {
    [ "$(init_children "$INIT_PID")" = "$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status"
}

# ---- orphans are reaped; SIGTERM reaches every process; exit 0 ----

mkfifo "$T/o1" "$T/o2" "$T/in"
# Two orphans that wait on fifos we control, two that exit at once; then the command proper,
# a reader of $T/in that only a signal ends.
start_init -- /bin/sh -c '
    (exec cat "$1/o1" >/dev/null &)
    (exec cat "$1/o2" >/dev/null &)
    (true &)
    (true &)
    echo ready >"$1/ready"
    exec cat "$1/in"' sh "$T"

# children_running PATTERN: vps-init's children whose command line matches PATTERN.
children_running() {
    local p
    for p in $(init_children "$INIT_PID"); do
        grep -qz -- "$1" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
    done
}
# The processes may not have reached their exec() yet when "ready" arrives.
count_is() { [ "$(children_running "$2" | wc -l)" = "$1" ]; }
wait_for count_is 1 "^$T/in\$" || fail "the command is not a child of vps-init"
cmd_pid=$(children_running "^$T/in\$")
wait_for count_is 2 "^$T/o[12]\$" ||
    fail "expected 2 orphans reparented to vps-init, got $(children_running "^$T/o[12]\$" | wc -l)"
ok "orphans are reparented to vps-init"

# Let the orphans exit: opening a fifo for writing waits for its reader, closing gives EOF.
timeout 20 sh -c 'exec 3>"$1"' sh "$T/o1" || fail "orphan 1 never opened its fifo"
timeout 20 sh -c 'exec 3>"$1"' sh "$T/o2" || fail "orphan 2 never opened its fifo"
wait_for only_child "$cmd_pid" ||
    fail "zombies left: children $(init_children "$INIT_PID"), expected only $cmd_pid"
ok "orphans that exited were reaped"

stop_init
rc=$?
[ "$rc" = 0 ] || fail "vps-init exited $rc after SIGTERM, expected 0"
grep -q "'/bin/sh' was killed by signal 15" "$T/init.log" ||
    fail "the command did not get SIGTERM"
ok "SIGTERM is forwarded and vps-init exits 0 when all are gone"

# ---- SIGUSR1 is forwarded; vps-init outlives its command ----

rm -f "$T/ack"
mkfifo "$T/ack"
start_init -- /bin/sh -c '
    trap "echo usr1 >\"$1/ack\"; exit 7" USR1
    echo ready >"$1/ready"
    while :; do sleep 1000 & wait; done' sh "$T"
kill -USR1 "$INIT_PID"
read -r -t 20 line <"$T/ack" || fail "SIGUSR1 did not reach the command"
[ "$line" = usr1 ] || fail "unexpected ack '$line'"
wait_for grep -q "'/bin/sh' exited with status 7" "$T/init.log" ||
    fail "vps-init did not reap its command"
if ! kill -0 "$INIT_PID" 2>/dev/null || grep -q '^State:.*Z' "/proc/$INIT_PID/status"; then
    fail "vps-init did not outlive its command"
fi
ok "SIGUSR1 is forwarded and vps-init stays up after its command exits"

stop_init
rc=$?
[ "$rc" = 0 ] || fail "vps-init without children exited $rc after SIGTERM, expected 0"
ok "SIGTERM with no process left exits 0"

# ---- misuse ----

# Inside a pid namespace, so that even a broken PID 1 check signals only that namespace.
rc=$(timeout -s KILL 20 unshare --pid --fork --kill-child \
    /bin/sh -c '"$1"; echo $?' sh "$VPS_INIT" 2>/dev/null)
[ "$rc" = 2 ] || fail "vps-init as PID 2 exited '$rc', expected 2"
ok "vps-init refuses to run as anything but PID 1"

rc=$(timeout -s KILL 20 unshare --pid --fork --kill-child "$VPS_INIT" sh 2>/dev/null; echo $?)
[ "$rc" = 2 ] || fail "vps-init with a command but no '--' exited '$rc', expected 2"
ok "vps-init rejects arguments without '--'"
