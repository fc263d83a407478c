# Shared helpers for integration tests: a private vpsd on a temporary state dir, run dir
# and socket, API calls with curl --unix-socket, assertions, and cleanup that runs on every
# exit (also on failure) and stops only the processes this test started, by PID.
# Sourced by each test-*.sh; expects VPSD and VPSCTL in the environment (set by meson).

set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }

T=$(mktemp -d /tmp/vps-test.XXXXXX)
# A cgroup prefix of this test's own: everything under it is this test's to kill and remove.
CGPREFIX=vps-test-$$
STATE=$T/state
RUN=$T/run
SOCK=$T/run/vpsd.sock
VPSD_PID=
BODY=$T/body
STATUS=
PIDS_TO_STOP=()

# Kills what is left in this test's cgroups (VPSes outlive vpsd by design, so a failed test
# can leave some running) and removes the cgroups. Only processes inside them are touched.
cleanup_cgroups() {
    local d p
    for d in /sys/fs/cgroup/*/"$CGPREFIX" /sys/fs/cgroup/"$CGPREFIX"; do
        [ -d "$d" ] || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            p=$(cat "$d"/*/cgroup.procs 2>/dev/null)
            [ -z "$p" ] && break
            kill -KILL $p 2>/dev/null
            # The kernel needs a moment to empty a cgroup after SIGKILL; bounded.
            timeout 1 bash -c "while [ -n \"\$(cat $d/*/cgroup.procs 2>/dev/null)\" ]; do :; done"
        done
        rmdir "$d"/*/ 2>/dev/null
        rmdir "$d" 2>/dev/null
    done
}

# nftables tables of vpsd's VPS filters whose interface is gone: what a test that failed
# before destroying its VPS leaves (the tables outlive their device).
cleanup_nft() {
    command -v nft >/dev/null || return 0
    local t
    for t in $(nft list tables netdev 2>/dev/null | awk '$3 ~ /^vps-(bw-)?vh-/ {print $3}'); do
        [ -e "/sys/class/net/${t#vps-bw-}" ] || [ -e "/sys/class/net/${t#vps-}" ] ||
            nft delete table netdev "$t" 2>/dev/null
    done
}

cleanup() {
    local rc=$?
    for p in "${PIDS_TO_STOP[@]}" $VPSD_PID; do
        kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    cleanup_cgroups
    # Pinned namespaces of VPSes the test left behind (mounts under the run dir).
    findmnt -rn -o TARGET | grep "^$RUN/" | sort -r | while read -r m; do umount -l "$m"; done
    cleanup_nft
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
# A test killed by meson's timeout (SIGTERM) or ^C cleans up too: exit runs the EXIT trap.
trap 'exit 143' TERM
trap 'exit 130' INT

fail() {
    echo "FAIL: $*" >&2
    [ -f "$T/vpsd.log" ] && { echo "--- vpsd log (tail) ---" >&2; tail -n 30 "$T/vpsd.log" >&2; }
    exit 1
}
ok() { echo "ok: $*"; }

# start_vpsd [extra vpsd options...]: starts and waits (on a fifo, not a sleep) for READY.
start_vpsd() {
    mkdir -p "$RUN"
    rm -f "$T/ready"
    mkfifo "$T/ready"
    "$VPSD" --state-dir "$STATE" --run-dir "$RUN" --socket "$SOCK" --log-level debug \
        --init "$VPS_INIT" --cgroup-prefix "$CGPREFIX" --notify-fd 3 "$@" 3>"$T/ready" \
        2>>"$T/vpsd.log" &
    VPSD_PID=$!
    local line=
    read -r -t 20 line <"$T/ready" || true
    [ "$line" = "READY=1" ] || fail "vpsd did not become ready"
}

stop_vpsd() {
    [ -n "$VPSD_PID" ] || return 0
    kill -TERM "$VPSD_PID"
    wait "$VPSD_PID"
    local rc=$?
    VPSD_PID=
    return $rc
}

# api METHOD PATH [curl args...]: body in $BODY, HTTP status in $STATUS.
api() {
    local method=$1 path=$2
    shift 2
    STATUS=$(curl -sS --max-time 30 --unix-socket "$SOCK" -X "$method" -o "$BODY" \
        -w '%{http_code}' "$@" "http://localhost$path") || STATUS=000
}

# api_json METHOD PATH JSON
api_json() {
    api "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"
}

expect_status() {
    [ "$STATUS" = "$1" ] || fail "${2:-request}: expected HTTP $1, got $STATUS: $(head -c 400 "$BODY")"
}

# expect_error STATUS CODE FRAGMENT WHAT
expect_error() {
    expect_status "$1" "$4"
    local code msg
    code=$(jq -r .error.code "$BODY" 2>/dev/null)
    msg=$(jq -r .error.message "$BODY" 2>/dev/null)
    [ "$code" = "$2" ] || fail "$4: expected error code '$2', got '$code' ($(head -c 300 "$BODY"))"
    case "$msg" in *"$3"*) ;; *) fail "$4: message '$msg' lacks '$3'" ;; esac
}

jqb() { jq -r "$@" "$BODY"; }

# vexec NAME ARGS...: runs a command in a running VPS through the API; its stdout in
# $T/out, exit code in $EXEC_RC.
vexec() {
    local name=$1
    shift
    # Through stdin: jq would take arguments that look like options for its own.
    api_json POST "/v1/vps/$name/exec" "$(printf '%s\n' "$@" | jq -Rsc 'split("\n")[:-1] | {command: .}')"
    expect_status 200 "exec $*"
    jqb .stdout >"$T/out"
    EXEC_RC=$(jqb '.exit_code // ("signal " + (.signal|tostring))')
}

vpsctl() { "$VPSCTL" --socket "$SOCK" "$@"; }

# A listing of everything under the state dir but the lock, for "nothing was written".
state_snapshot() {
    (cd "$STATE" && find . -path ./templates -prune -o -print | sort; \
     find . -name config.json -exec sha256sum {} + | sort)
}

# run CMD...: stdout in $OUT, stderr in $ERR, exit status in $RC.
OUT=$T/out
ERR=$T/err
run() {
    "$@" >"$OUT" 2>"$ERR"
    RC=$?
}

# expect_fail RC FRAGMENT WHAT: the last run() exited RC and said one "vpsctl: " line on
# stderr that contains FRAGMENT.
expect_fail() {
    [ "$RC" = "$1" ] || fail "$3: expected exit $1, got $RC: $(head -c 400 "$ERR")"
    head -n 1 "$ERR" | grep -q '^vpsctl: ' || fail "$3: stderr lacks the 'vpsctl: ' prefix: $(cat "$ERR")"
    grep -qF -- "$2" "$ERR" || fail "$3: stderr lacks '$2': $(cat "$ERR")"
}

# expect_rc RC FRAGMENT WHAT: expect_fail, and nothing on stdout.
expect_rc() {
    expect_fail "$@"
    [ ! -s "$OUT" ] || fail "$3: stdout not empty on failure: $(head -c 200 "$OUT")"
}

# vin NAME FILE CMD...: runs CMD in a running VPS with FILE as its stdin; stdout in $T/out;
# fails the test unless it exits 0.
vin() {
    local name=$1 in=$2
    shift 2
    api_json POST "/v1/vps/$name/exec" \
        "$(jq -n --rawfile in "$in" '{command: $ARGS.positional, stdin: $in}' --args -- "$@")"
    expect_status 200 "exec $*"
    jqb .stdout >"$T/out"
    [ "$(jqb .exit_code)" = 0 ] || fail "exec $* in $name: $(jqb -c '[.exit_code, .stderr]')"
}
