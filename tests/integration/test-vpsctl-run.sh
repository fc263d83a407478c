#!/bin/bash
# vpsctl running VPSes: start, stop, restart, kill and status with the exit statuses a script
# relies on; exec and enter behaving like a local command: stdio streamed both ways, the
# command's exit status (128+N for a signal), a pty that follows the outer terminal's size,
# and the terminal left as it was.
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null || { echo "SKIP: needs script (util-linux)"; exit 77; }
start_vpsd

V="$VPSCTL --socket $SOCK"

expect_quiet() {
    [ "$RC" = 0 ] || fail "$1: exit $RC: $(cat "$ERR")"
    [ ! -s "$OUT" ] && [ ! -s "$ERR" ] || fail "$1 is not quiet: $(cat "$OUT" "$ERR")"
}

field() { sed -n "s/^$1: *//p" "$OUT"; }

# in_vps_until CMD...: runs CMD in t1 until it succeeds; bounded, no sleeping.
in_vps_until() {
    timeout 10 bash -c 'until "$@" >/dev/null 2>&1; do :; done' _ $V exec -T t1 -- "$@" </dev/null
}

api_json POST /v1/vps '{"name":"t1","hostname":"t1.example"}'
expect_status 201 "create t1"
api_json POST /v1/vps '{"name":"t2"}'
expect_status 201 "create t2"

# ---- start, status, list ----

run vpsctl start t1
expect_quiet "start"
run vpsctl start t1
expect_fail 5 "running" "start while running"
run vpsctl start nope
expect_fail 4 "does not exist" "start of an unknown vps"

run vpsctl status t1
[ "$RC" = 0 ] || fail "status: exit $RC: $(cat "$ERR")"
[ "$(field state)" = running ] || fail "status state: $(cat "$OUT")"
api GET /v1/vps/t1
[ "$(field pid)" = "$(jqb .status.pid)" ] || fail "status pid: $(cat "$OUT")"
for f in uptime "cpu time" memory "memory peak" pids "oom kills"; do
    [ -n "$(field "$f")" ] || fail "status lacks '$f': $(cat "$OUT")"
done
[ "$(field pids)" -ge 1 ] && [ "$(field "oom kills")" = 0 ] || fail "status values: $(cat "$OUT")"
field memory | grep -qE '^[0-9.]+[KMG]$' || fail "memory is not a human size: $(field memory)"
run vpsctl --json status t1
jq -e '.config.name == "t1" and .status.state == "running" and .stats.pids_current >= 1
    and (.stats.memory_current_bytes | type) == "number"' "$OUT" >/dev/null ||
    fail "status --json: $(cat "$OUT")"
run vpsctl status t2
[ "$RC" = 0 ] && [ "$(field state)" = stopped ] && [ -z "$(field pid)" ] || fail "status of a stopped vps: $(cat "$OUT" "$ERR")"
run vpsctl --json status t2
jq -e '.status.state == "stopped" and (has("stats") | not)' "$OUT" >/dev/null || fail "status --json of a stopped vps: $(cat "$OUT")"
run vpsctl status nope
expect_fail 4 "does not exist" "status of an unknown vps"

run vpsctl list
[ "$(awk '$1 == "t1" {print $2}' "$OUT")" = running ] && [ "$(awk '$1 == "t2" {print $2}' "$OUT")" = stopped ] ||
    fail "list states: $(cat "$OUT")"
ok "start, status, list"

# ---- exec without a tty ----

run vpsctl exec t1 -- hostname
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = t1.example ] && [ ! -s "$ERR" ] || fail "exec hostname: $RC: $(cat "$OUT" "$ERR")"
[ "$(echo hello | $V exec t1 -- cat)" = hello ] || fail "stdin not streamed"
run vpsctl exec t1 -- sh -c 'echo out; echo err >&2; exit 3'
[ "$RC" = 3 ] && [ "$(cat "$OUT")" = out ] && [ "$(cat "$ERR")" = err ] || fail "exit 3 and stderr: $RC: $(cat "$OUT" "$ERR")"
run vpsctl exec t1 -- sh -c 'kill -9 $$'
[ "$RC" = 137 ] && [ ! -s "$ERR" ] || fail "killed by SIGKILL: expected 137, got $RC: $(cat "$ERR")"
ok "exec: stdout, stdin, stderr, exit status, signal"

n=$($V exec t1 -- head -c 5000000 /dev/zero | wc -c)
[ "$n" = 5000000 ] || fail "big output outside: $n bytes"
n=$($V exec t1 -- sh -c 'head -c 5000000 /dev/zero | wc -c' | tr -d ' ')
[ "$n" = 5000000 ] || fail "big output inside: $n bytes"
n=$(head -c 3000000 /dev/zero | $V exec t1 -- wc -c | tr -d ' ')
[ "$n" = 3000000 ] || fail "big input: $n bytes"
ok "exec streams 5 MB out and 3 MB in"

run vpsctl exec t1 -- ps -o pid,comm
[ "$RC" = 0 ] || fail "ps: $RC: $(cat "$ERR")"
awk 'NR > 1 && $1 == 1' "$OUT" | grep -q . || fail "ps: no pid 1: $(cat "$OUT")"
[ "$(tail -n +2 "$OUT" | wc -l)" -le 3 ] || fail "ps sees more than the vps: $(cat "$OUT")"
! grep -q vpsd "$OUT" || fail "ps sees vpsd: $(cat "$OUT")"
ok "exec sees only the vps's processes"

[ "$($V exec t1 --user 1000:1001 -- id -u)" = 1000 ] && [ "$($V exec t1 --user 1000:1001 -- id -g)" = 1001 ] || fail "--user UID:GID"
[ "$($V exec t1 --user 1002 -- id -g)" = 1002 ] || fail "--user UID: gid"
[ "$($V exec t1 --cwd /tmp -- sh -c pwd)" = /tmp ] || fail "--cwd"
[ "$($V exec t1 --env FOO=bar --env FOO=baz -- sh -c 'echo $FOO:$HOME')" = baz:/root ] || fail "--env"
[ "$($V exec t1 --env PATH=/bin -- sh -c 'echo $PATH')" = /bin ] || fail "--env replacing PATH"
ok "exec --user, --cwd, --env"

run vpsctl exec t1 -- /no/such/command
expect_fail 4 "/no/such/command" "exec of a missing command"
run vpsctl exec nope -- true
expect_fail 4 "does not exist" "exec in an unknown vps"
run vpsctl exec t2 -- true
expect_fail 5 "not running" "exec in a stopped vps"
run vpsctl exec t1
expect_fail 2 "missing operand" "exec without a command"
run vpsctl exec t1 ls -l
expect_fail 2 "unknown option '-l'" "exec without --"
run vpsctl exec t1 --user bob -- true
expect_fail 2 "--user" "exec --user with a name"
ok "exec errors"

# SIGTERM ends vpsctl; vpsd sees the socket close and kills the command.
$V exec t1 -- sleep 1000 </dev/null &
P=$!
PIDS_TO_STOP+=("$P")
in_vps_until pidof sleep || fail "sleep did not start"
kill -TERM "$P"
wait "$P"
[ $? = 143 ] || fail "vpsctl exec did not end on SIGTERM"
timeout 10 bash -c 'while '"$V"' exec -T t1 -- pidof sleep </dev/null >/dev/null; do :; done' ||
    fail "the command outlived vpsctl"
ok "exec: SIGTERM ends the session and the command"

# ---- exec with a tty ----

run vpsctl exec -t t1 -- sh -c 'tty; exit 4'
[ "$RC" = 4 ] || fail "exec -t: exit $RC: $(cat "$ERR")"
grep -q '^/dev/pts/[0-9]*.$' "$OUT" || fail "exec -t: no pty: $(cat -A "$OUT")"
run vpsctl exec t1 -- sh -c tty
[ "$RC" = 1 ] && grep -q 'not a tty' "$OUT" || fail "exec without a terminal got one: $RC: $(cat "$OUT")"
ok "exec -t runs on a pty, without a terminal none is made"

# script(1) gives vpsctl a terminal on stdin and stdout, as an operator has. At the EOF of its
# own stdin script types ^D, which the outer terminal, if still in canonical mode when vpsctl
# switches it to raw, hands over as a NUL (the inner pty echoes "^@"): so no anchors at the
# start of a line below.
script -qfec "$V exec t1 -- sh -c 'tty; exit 5'" /dev/null </dev/null >"$OUT" 2>"$ERR"
RC=$?
[ "$RC" = 5 ] && grep -q '/dev/pts/[0-9]' "$OUT" || fail "tty by default on a terminal: $RC: $(cat -A "$OUT" "$ERR")"

script -qfec "stty rows 40 cols 100; $V exec t1 -- sh -c 'stty size'" /dev/null </dev/null >"$OUT" 2>"$ERR"
grep -q '40 100' "$OUT" || fail "window size not passed: $(cat -A "$OUT")"
ok "tty by default on a terminal, with its size"

printf 'hostname; exit 7\n' | script -qfec "$V enter t1" /dev/null >"$OUT" 2>"$ERR"
RC=$?
[ "$RC" = 7 ] || fail "enter: exit $RC: $(cat -A "$OUT" "$ERR")"
tr -d '\r' <"$OUT" | grep -qx 't1.example' || fail "enter: no hostname: $(cat -A "$OUT")"
ok "enter: a login shell on a pty"

# A resize of the outer terminal reaches the pty inside (SIGWINCH), and the terminal's mode
# is restored when a signal ends vpsctl. The steps are driven through fifos, opened
# read-write here so that no open blocks, not by sleeps: go -> the outer resize, resized <-
# done, stop -> the SIGTERM; script's own stdin is the fifo in, for the inner 'read'.
mkfifo "$T/go" "$T/resized" "$T/stop" "$T/in"
exec 5<>"$T/in" 6<>"$T/go" 7<>"$T/resized" 8<>"$T/stop"
cat >"$T/winch.sh" <<EOF
stty rows 40 cols 100
stty -g >$T/mode-before
( read x <$T/go; stty rows 50 cols 120 </dev/tty; echo >$T/resized ) &
$V exec t1 -- sh -c 'stty size; read x; stty size; sleep 1000' </dev/tty &
p=\$!
read x <$T/stop
kill -TERM \$p
wait \$p
echo "rc=\$?"
stty -g >$T/mode-after
EOF
script -qfec "bash $T/winch.sh" /dev/null <&5 >"$T/winch.out" 2>&1 &
S=$!
PIDS_TO_STOP+=("$S")
# until_in FILE PATTERN: waits (bounded) until a line of FILE starts with PATTERN.
until_in() { timeout 10 bash -c 'until grep -q "^$2" "$1"; do :; done' _ "$@"; }
until_in "$T/winch.out" "40 100" || fail "winch: first size: $(cat -A "$T/winch.out")"
echo >&6
read -r -t 10 _ <&7 || fail "winch: outer resize"
echo >&5 # the newline for the inner 'read x'
until_in "$T/winch.out" "50 120" || fail "winch: size not followed: $(cat -A "$T/winch.out")"
echo >&8
wait "$S"
exec 5>&- 6>&- 7>&- 8>&-
grep -q '^rc=143' "$T/winch.out" || fail "winch: vpsctl's exit on SIGTERM: $(cat -A "$T/winch.out")"
cmp -s "$T/mode-before" "$T/mode-after" || fail "terminal mode not restored: $(cat "$T/mode-before" "$T/mode-after")"
timeout 10 bash -c 'while '"$V"' exec -T t1 -- pidof sleep </dev/null >/dev/null; do :; done' ||
    fail "the tty command outlived vpsctl"
ok "window size followed; terminal restored after SIGTERM"

# ---- stop, restart, kill ----

api GET /v1/vps/t1
pid1=$(jqb .status.pid)
run vpsctl restart t1 --timeout 5s
expect_quiet "restart"
api GET /v1/vps/t1
[ "$(jqb .status.state)" = running ] && [ "$(jqb .status.pid)" != "$pid1" ] || fail "restart: $(cat "$BODY")"
run vpsctl stop t1 --timeout 10s
expect_quiet "stop"
api GET /v1/vps/t1
[ "$(jqb .status.state)" = stopped ] || fail "stop: $(cat "$BODY")"
run vpsctl stop t1
expect_fail 5 "not running" "stop of a stopped vps"
run vpsctl kill t1
expect_fail 5 "not running" "kill of a stopped vps"
run vpsctl exec t1 -- true
expect_fail 5 "not running" "exec after stop"
run vpsctl stop nope
expect_fail 4 "does not exist" "stop of an unknown vps"
run vpsctl stop t1 --timeout soon
expect_fail 2 "--timeout" "stop --timeout without a unit"

run vpsctl --json start t1
[ "$RC" = 0 ] && jq -e '.status.state == "running" and .config.name == "t1"' "$OUT" >/dev/null ||
    fail "start --json: $(cat "$OUT" "$ERR")"
run vpsctl kill t1
expect_quiet "kill"
api GET /v1/vps/t1
[ "$(jqb .status.state)" = stopped ] || fail "kill: $(cat "$BODY")"
run vpsctl restart t1
expect_quiet "restart of a stopped vps"
run vpsctl --json stop t1 --timeout 0
[ "$RC" = 0 ] && jq -e '.status.state == "stopped"' "$OUT" >/dev/null || fail "stop --json --timeout 0: $(cat "$OUT" "$ERR")"
ok "stop, restart, kill and their exit statuses"

stop_vpsd || fail "vpsd exit status on SIGTERM"
