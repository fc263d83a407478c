#!/bin/bash
# Templates built with debootstrap (POST /v1/templates/{name}/build, vpsctl template create):
# every field of a bad request refused with its JSON path and nothing written; a taken name
# and a name being built refused; builds that fail (an unreachable mirror, a mirror that never
# answers past the build's timeout) end as failed operations with debootstrap's own words and
# leave no template and no temporary tree; a vpsd killed in the middle of a build takes
# debootstrap along and clears the tree at its next start. The network is never used unless
# VPS_TEST_DEBOOTSTRAP=1, which also builds debian-12 for real from the host's Debian mirror,
# starts a VPS made from it and removes both.
. "$(dirname "$0")/lib.sh"
start_vpsd

TPL=$STATE/templates
# Port 9 (discard) on loopback: nothing listens, so debootstrap fails at once.
DEAD_MIRROR=http://127.0.0.1:9/debian

# The entries of $STATE/templates, hidden ones too, one line.
template_dirs() { (cd "$TPL" && ls -A | sort | tr '\n' ' '); }

# wait_op ID [SECONDS]: long-polls the operation until it ends; $BODY is the operation.
wait_op() {
    local left=${2:-60}
    while :; do
        api GET "/v1/operations/$1?wait_ms=30000"
        expect_status 200 "operation $1"
        case "$(jqb .state)" in succeeded | failed) return ;; esac
        left=$((left - 30))
        [ $left -gt 0 ] || fail "operation $1 still $(jqb .state): $(cat "$BODY")"
    done
}

# bad NAME JSON FRAGMENT: the build is refused with 400 and a message holding FRAGMENT.
bad() {
    api_json POST "/v1/templates/$1/build" "$2"
    expect_error 400 invalid "$3" "build $1 with $2"
}

# ---- bad input: each field, 400 with its path, nothing made ----

before=$(template_dirs)
snap=$(state_snapshot)
bad debian-12 '{"distribution": "ubuntu"}' 'distribution: expected "debian"'
bad debian-12 '{"suite": "jessie"}' 'suite: expected "bullseye", "bookworm" or "trixie"'
bad debian-12 '{"suite": 12}' 'suite: expected a string, got an integer'
bad debian-12 '{"suite": "bookworm;reboot"}' 'suite: expected'
bad mine '{}' 'suite: required'
bad mine '{"mirror": "http://deb.debian.org/debian"}' "template name 'mine' names no Debian release"
bad debian-12 '{"mirror": "ftp://deb.debian.org/debian"}' 'mirror: expected http://HOST'
bad debian-12 '{"mirror": "deb.debian.org/debian"}' 'mirror: expected'
bad debian-12 '{"mirror": "http://deb.debian.org/debian main"}' 'mirror: expected'
bad debian-12 '{"mirror": "http://deb.debian.org/\"$(reboot)\""}' 'mirror: expected'
bad debian-12 "{\"mirror\": \"http://deb.debian.org/debian'\"}" 'mirror: expected'
bad debian-12 '{"mirror": "http://user:pw@deb.debian.org/debian"}' 'mirror: expected'
bad debian-12 '{"mirror": "http://deb.debian.org:99999/debian"}' 'mirror: expected'
bad debian-12 '{"mirror": "http:///debian"}' 'mirror: expected'
bad debian-12 '{"mirror": "http://-x/debian"}' 'mirror: expected'
bad debian-12 '{"mirror": "http://deb.debian.org/debian?x=1"}' 'mirror: expected'
bad debian-12 "{\"mirror\": \"http://x/$(printf 'a%.0s' $(seq 300))\"}" 'mirror: longer than 256'
bad debian-12 '{"variant": "fakechroot"}' 'variant: expected "minbase", "buildd" or "-"'
bad debian-12 '{"variant": ""}' 'variant: expected'
bad debian-12 '{"include": "openssh-server"}' 'include: expected an array, got a string'
bad debian-12 '{"include": ["OpenSSH-server"]}' "include[0]: 'OpenSSH-server' is not a Debian package name"
bad debian-12 '{"include": ["curl", "-rf"]}' 'include[1]:'
bad debian-12 '{"include": ["a,b"]}' 'include[0]:'
bad debian-12 '{"include": ["x"]}' 'include[0]:'
bad debian-12 '{"include": ["curl", ""]}' 'include[1]: must not be shorter than 1'
bad debian-12 '{"include": ["curl", "curl"]}' "include[1]: 'curl' is listed twice"
bad debian-12 '{"include": [7]}' 'include[0]: expected a string, got an integer'
bad debian-12 "{\"include\": $(seq 65 | sed 's/^/p/' | jq -Rsc 'split("\n")[:-1]')}" \
    'include: expected 0..64 entries, got 65'
bad debian-12 '{"timeout_ms": 999}' 'timeout_ms: 999 is out of range'
bad debian-12 '{"timeout_ms": "30m"}' 'timeout_ms: expected an integer'
bad debian-12 '{"colour": "blue"}' 'colour: unknown field'
bad debian-12 '["bookworm"]' 'body: expected a JSON object'
bad debian-12 '{"suite": "bookworm"' 'line 1'
bad Debian_12 '{}' 'Debian_12'
[ "$(template_dirs)" = "$before" ] || fail "refused builds left entries: $(template_dirs) (was $before)"
[ "$(state_snapshot)" = "$snap" ] || fail "refused builds changed the state dir"
api GET /v1/operations
expect_status 200 "list operations"
[ "$(jqb '[.operations[] | select(.kind == "template_build")] | length')" = 0 ] ||
    fail "a refused build started an operation: $(cat "$BODY")"

vpsctl template create debian-12 --suite jessie >"$OUT" 2>"$ERR"
[ $? = 2 ] || fail "vpsctl create --suite jessie: exit status (want 2): $(cat "$ERR")"
grep -q '^vpsctl: suite: expected' "$ERR" || fail "vpsctl create --suite jessie: $(cat "$ERR")"
vpsctl template create debian-12 --include curl,,wget >"$OUT" 2>"$ERR"
[ $? = 2 ] || fail "vpsctl create --include curl,,wget: exit status: $(cat "$ERR")"
grep -q 'include\[1\]' "$ERR" || fail "vpsctl create --include curl,,wget: $(cat "$ERR")"
vpsctl template create debian-12 --build-timeout soon >"$OUT" 2>"$ERR"
[ $? = 2 ] || fail "vpsctl create --build-timeout soon: exit status: $(cat "$ERR")"
vpsctl template create >"$OUT" 2>"$ERR"
[ $? = 2 ] || fail "vpsctl create without a name: exit status: $(cat "$ERR")"
[ "$(template_dirs)" = "$before" ] || fail "refused vpsctl builds left entries: $(template_dirs)"
ok "bad input: 400 naming the field, nothing made"

# ---- a taken name ----

api_json POST /v1/templates/minimal/build '{"suite": "bookworm"}'
expect_error 409 exists "template 'minimal' already exists" "build over a template"
vpsctl template create host-usr --suite bookworm >"$OUT" 2>"$ERR"
[ $? = 5 ] || fail "vpsctl create of a taken name: exit status (want 5): $(cat "$ERR")"
grep -q "^vpsctl: template 'host-usr' already exists" "$ERR" || fail "taken name: $(cat "$ERR")"
ok "taken name: 409"

if [ ! -x /usr/sbin/debootstrap ] || [ ! -r /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    api_json POST /v1/templates/debian-12/build '{}'
    expect_error 503 unavailable "is not installed" "build without debootstrap"
    echo "SKIP: the rest needs debootstrap and debian-archive-keyring"
    exit 77
fi

# ---- a mirror that is not there: the operation fails with debootstrap's words ----

rm -f "$T/headers"
STATUS=$(curl -sS --max-time 30 --unix-socket "$SOCK" -X POST -D "$T/headers" -o "$BODY" \
    -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "{\"mirror\": \"$DEAD_MIRROR\", \"include\": [\"openssh-server\"]}" \
    http://localhost/v1/templates/debian-12/build) || STATUS=000
expect_status 202 "build from a dead mirror (accepted, fails later)"
id=$(jqb .id)
[ "$(jqb .kind)" = template_build ] && [ "$(jqb .target)" = debian-12 ] || fail "202 body: $(cat "$BODY")"
grep -qi "^location: /v1/operations/$id"$'\r'"\?$" "$T/headers" || fail "202 without Location: $(cat "$T/headers")"
wait_op "$id"
[ "$(jqb .state)" = failed ] || fail "build from a dead mirror did not fail: $(cat "$BODY")"
[ "$(jqb .error.code)" = internal ] || fail "dead mirror: error code: $(cat "$BODY")"
msg=$(jqb .error.message)
case "$msg" in
"template 'debian-12': debootstrap exited with status 1: "*"E: Failed getting release file $DEAD_MIRROR/dists/bookworm/Release"*"Connection refused"*) ;;
*) fail "dead mirror: message: $msg" ;;
esac
api GET /v1/templates/debian-12
expect_error 404 not_found "does not exist" "template after a failed build"
[ "$(template_dirs)" = "$before" ] || fail "failed build left entries: $(template_dirs) (was $before)"
grep -q "operation $id (template_build 'debian-12') failed: .*Failed getting release file" "$T/vpsd.log" ||
    fail "the failure is not in vpsd's log"

vpsctl template create debian-12 --mirror "$DEAD_MIRROR" --variant buildd >"$OUT" 2>"$ERR"
rc=$?
[ $rc = 1 ] || fail "vpsctl create from a dead mirror: exit status $rc (want 1): $(cat "$ERR")"
grep -q "^vpsctl: template 'debian-12': debootstrap exited with status 1: .*Failed getting release file" "$ERR" ||
    fail "vpsctl create from a dead mirror: message: $(cat "$ERR")"
[ ! -s "$OUT" ] || fail "vpsctl create printed on failure: $(cat "$OUT")"
[ "$(template_dirs)" = "$before" ] || fail "failed vpsctl build left entries: $(template_dirs)"
vpsctl --no-wait template create debian-13 --mirror "$DEAD_MIRROR" >"$OUT" 2>"$ERR" ||
    fail "create --no-wait: $(cat "$ERR")"
[ "$(wc -l <"$OUT")" = 1 ] || fail "--no-wait: expected one line: $(cat "$OUT")"
wait_op "$(cat "$OUT")"
[ "$(jqb .state)" = failed ] && [[ "$(jqb .error.message)" == *"dists/trixie/Release"* ]] ||
    fail "debian-13 from a dead mirror: $(cat "$BODY")"
[ "$(template_dirs)" = "$before" ] || fail "failed --no-wait build left entries: $(template_dirs)"
ok "unreachable mirror: failed operation with debootstrap's message, nothing left"

# ---- a mirror that never answers: the timeout, and vpsd killed mid-build ----

# hang_mirror: a listener that takes one connection and never answers; its port in $PORT.
# On fd 7 it says "accepted" when debootstrap's download connects and "closed" when the
# connection goes, i.e. when the last process of the build is gone.
hang_mirror() {
    rm -f "$T/hang"
    mkfifo "$T/hang"
    python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
print("accepted", flush=True)
while c.recv(4096):
    pass
print("closed", flush=True)
' >"$T/hang" &
    PIDS_TO_STOP+=($!)
    exec 7<"$T/hang"
    read -r -t 10 -u 7 PORT || fail "the hanging mirror did not start"
}

expect_line() {
    local line=
    read -r -t "$2" -u 7 line || true
    [ "$line" = "$1" ] || fail "hanging mirror: expected '$1', got '$line' ($3)"
}

if command -v python3 >/dev/null; then
    hang_mirror
    api_json POST /v1/templates/debian-12/build "{\"mirror\": \"http://127.0.0.1:$PORT/debian\", \"timeout_ms\": 2000}"
    expect_status 202 "build with a 2 s timeout"
    id=$(jqb .id)
    expect_line accepted 10 "debootstrap did not connect"
    wait_op "$id"
    [ "$(jqb .state)" = failed ] && [ "$(jqb .error.code)" = timeout ] || fail "timeout: $(cat "$BODY")"
    case "$(jqb .error.message)" in
    "template 'debian-12': debootstrap did not finish within 2s: "*"I: Retrieving InRelease"*) ;;
    *) fail "timeout: message: $(jqb .error.message)" ;;
    esac
    expect_line closed 10 "the build's processes outlived its timeout"
    exec 7<&-
    [ "$(template_dirs)" = "$before" ] || fail "timed-out build left entries: $(template_dirs)"
    ok "timeout: debootstrap killed, timeout error, nothing left"

    hang_mirror
    api_json POST /v1/templates/debian-12/build "{\"mirror\": \"http://127.0.0.1:$PORT/debian\"}"
    expect_status 202 "build that hangs"
    id=$(jqb .id)
    expect_line accepted 10 "debootstrap did not connect"
    api GET "/v1/operations/$id"
    [ "$(jqb .state)" = running ] && [ "$(jqb .progress_percent)" -ge 2 ] &&
        [ "$(jqb .message)" = "retrieving the Release file" ] || fail "running build: $(cat "$BODY")"
    api_json POST /v1/templates/debian-12/build '{}'
    expect_error 409 conflict "template 'debian-12' is being built" "a second build of the name"
    api POST /v1/templates?name=debian-12 -H 'Content-Type: application/x-tar' --data-binary 'x'
    expect_error 409 conflict "is being built" "an import of a name being built"
    api DELETE /v1/templates/debian-12
    expect_error 409 conflict "is being built" "remove of a name being built"
    api GET /v1/templates/debian-12
    expect_status 404 "a template being built is not there yet"
    ls -A "$TPL" | grep -q '^\.debian-12\.tmp-' || fail "no temporary tree while building: $(template_dirs)"
    ok "a running build: 409 for the name, its tree not listed"

    kill -KILL "$VPSD_PID"
    wait "$VPSD_PID" 2>/dev/null
    VPSD_PID=
    expect_line closed 10 "debootstrap outlived vpsd"
    exec 7<&-
    ! grep -qs "/debian-12.tmp-" /proc/self/mountinfo || fail "debootstrap's mounts reached the host"
    start_vpsd
    [ "$(template_dirs)" = "$before" ] || fail "the killed build's tree survived a restart: $(template_dirs)"
    api GET /v1/templates/debian-12
    expect_status 404 "template after a killed build"
    ok "vpsd killed mid-build: debootstrap dies with it, the tree goes at the next start"
else
    echo "skip: no python3 for a mirror that never answers"
fi

# ---- a real build (network), only when asked ----

# The host's own Debian mirror from apt's sources (this machine reaches only the archive).
host_mirror() {
    {
        grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
        grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
    } | grep -E '^https?://[^ ]*/debian/?$' | head -n 1 | sed 's,/$,,'
}

if [ "${VPS_TEST_DEBOOTSTRAP:-0}" != 1 ]; then
    echo "skip: a real build (set VPS_TEST_DEBOOTSTRAP=1)"
    stop_vpsd || fail "vpsd exit status on SIGTERM"
    exit 0
fi

mirror=$(host_mirror)
mirror=${mirror:-http://deb.debian.org/debian}
start=$SECONDS
vpsctl template create debian-12 --variant minbase --mirror "$mirror" >"$OUT" 2>"$ERR" ||
    fail "real build from $mirror: $(cat "$ERR")"
took=$((SECONDS - start))
api GET /v1/templates/debian-12
expect_status 200 "the built template"
jq -e --arg m "$mirror" '.source == "debootstrap" and .suite == "bookworm" and .variant == "minbase"
    and .mirror == $m and .size_bytes > 0' "$BODY" >/dev/null || fail "template: $(cat "$BODY")"
size=$(jqb .size_bytes)
R=$TPL/debian-12/rootfs
grep -qx '12\.[0-9]*' "$R/etc/debian_version" || fail "debian_version: $(cat "$R/etc/debian_version")"
[ "$(cat "$R/etc/hostname")" = localhost ] || fail "etc/hostname: $(cat "$R/etc/hostname")"
[ ! -s "$R/etc/resolv.conf" ] || fail "etc/resolv.conf is not empty"
[ -z "$(ls -A "$R/dev")" ] || fail "dev is not empty: $(ls -A "$R/dev")"
[ -z "$(find "$R/var/cache/apt/archives" -name '*.deb')" ] || fail "cached .debs left"
[ ! -e "$R/debootstrap" ] || fail "debootstrap's work dir left"
vpsctl template show debian-12 >"$OUT" || fail "template show"
grep -q 'suite.*bookworm' "$OUT" || fail "template show: $(cat "$OUT")"
ok "real build from $mirror: ${took}s, $((size / 1024 / 1024)) MiB"

vpsctl create deb1 --template debian-12 || fail "create from debian-12"
vpsctl start deb1 || fail "start deb1"
vpsctl exec deb1 -- cat /etc/debian_version >"$OUT" 2>"$ERR" || fail "exec in deb1: $(cat "$ERR")"
grep -qx '12\.[0-9]*' "$OUT" || fail "debian_version in the VPS: $(cat "$OUT")"
vpsctl exec deb1 -- dpkg-query -W -f '${Package}\n' apt >"$OUT" 2>"$ERR" || fail "dpkg in deb1: $(cat "$ERR")"
[ "$(cat "$OUT")" = apt ] || fail "dpkg-query in the VPS: $(cat "$OUT")"
ok "a VPS from it runs Debian $(vpsctl exec deb1 -- cat /etc/debian_version)"

vpsctl stop deb1 || fail "stop deb1"
vpsctl destroy deb1 || fail "destroy deb1"
vpsctl template remove debian-12 || fail "remove debian-12"
[ "$(template_dirs)" = "$before" ] || fail "left after removal: $(template_dirs)"
stop_vpsd || fail "vpsd exit status on SIGTERM"
