#!/bin/bash
# A VPS as a machine: start, its own processes, hostname and mounts, an unprivileged root on
# the host, limits (pids, memory), stop and destroy leaving nothing, and VPSes surviving a
# SIGKILL of vpsd and being re-adopted.
. "$(dirname "$0")/lib.sh"
start_vpsd

api_json POST /v1/vps '{"name":"t1","hostname":"t1.example","limits":{"pids":64,"ram_bytes":67108864}}'
expect_status 201 "create"
api POST /v1/vps/t1/start
expect_status 200 "start"
[ "$(jqb .status.state)" = running ] || fail "state after start: $(cat "$BODY")"
INIT=$(jqb .status.pid)
ok "start (init pid $INIT)"

vexec t1 ps -o pid,user,comm
[ "$EXEC_RC" = 0 ] || fail "ps in the vps: $EXEC_RC"
procs=$(tail -n +2 "$T/out" | wc -l)
[ "$procs" -le 3 ] || fail "the vps sees more than its own processes: $(cat "$T/out")"
awk 'NR>1 && $1==1' "$T/out" | grep -q . || fail "no pid 1 in the vps: $(cat "$T/out")"
ok "sees only its own processes ($procs)"

vexec t1 hostname
[ "$(cat "$T/out")" = t1.example ] || fail "hostname: $(cat "$T/out")"
vexec t1 ip -o link show lo
grep -q "<LOOPBACK,UP" "$T/out" || fail "loopback not up: $(cat "$T/out")"
vexec t1 ip -o link
[ "$(grep -c . "$T/out")" = 1 ] || fail "host interfaces visible: $(cat "$T/out")"
vexec t1 cat /proc/self/mountinfo
# Field 5 is where a mount is seen. (Field 4, the bind's source within its filesystem, names
# the rootfs's host path, as in every bind-mount container: information, not a way out.)
awk 'NF {print $5}' "$T/out" >"$T/points"
grep -qx / "$T/points" || fail "no root mount"
grep -vqE '^/(proc|sys|dev)?(/|$)' "$T/points" && fail "unexpected mounts: $(grep -vE '^/(proc|sys|dev)?(/|$)' "$T/points")"
ok "own hostname and mounts"

# console.log (the init's output) is kept bounded: past 4 MiB it starts over. What an init
# would print, appended here from the host (the VPS cannot reach the file).
head -c 5000000 /dev/zero >>"$RUN/t1/console.log"
for _ in $(seq 20); do
    [ "$(stat -c %s "$RUN/t1/console.log")" -le $((4 * 1024 * 1024)) ] && break
    sleep 0.25
done
size=$(stat -c %s "$RUN/t1/console.log")
[ "$size" -le $((4 * 1024 * 1024)) ] || fail "console.log not bounded: $size bytes"
grep -q "reached its size limit" "$RUN/t1/console.log" || fail "no note in the truncated console.log"
ok "console.log bounded ($size bytes after 5 MB)"

# An empty argument is an argument (ssh-keygen -N ''); an empty program name is refused.
vexec t1 sh -c 'printf "<%s><%s>" "$1" "$2"' x '' end
[ "$(cat "$T/out")" = "<><end>" ] || fail "empty argument: '$(cat "$T/out")'"
api_json POST /v1/vps/t1/exec '{"command": [""]}'
expect_error 400 invalid "command[0]: must not be empty" "exec of an empty program name"
ok "exec: empty arguments pass, an empty program name is refused"

# exec's env goes over the default environment; a bare name is refused.
api_json POST /v1/vps/t1/exec '{"command":["sh","-c","echo $FOO:$HOME:$PATH"],"env":["FOO=1","PATH=/bin"]}'
[ "$(jqb .stdout)" = "1:/root:/bin" ] || fail "exec env: $(jqb .stdout)"
api_json POST /v1/vps/t1/exec '{"command":["true"],"env":["FOO"]}'
expect_error 400 invalid 'env[0]: expected "KEY=value"' "bare env name"
ok "exec environment"

host_uid=$(awk '/^Uid:/ {print $2}' /proc/"$INIT"/status)
[ "$host_uid" -ge 1000000 ] || fail "vps root is host uid $host_uid"
vexec t1 id -u
[ "$(cat "$T/out")" = 0 ] || fail "inside, root is not uid 0"
ok "vps root is host uid $host_uid"

api GET /v1/vps/t1/stats
expect_status 200 "stats"
[ "$(jqb .pids_current)" -ge 1 ] && [ "$(jqb .memory_current_bytes)" -gt 0 ] || fail "stats: $(cat "$BODY")"
ok "stats"

# Fork bomb: stops at pids.max (64), the VPS and the host live on.
vexec t1 sh -c 'i=0; while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); done 2>/dev/null; echo started'
api GET /v1/vps/t1/stats
[ "$(jqb .pids_current)" -le 64 ] || fail "pids.max not enforced: $(jqb .pids_current)"
# At the limit nothing more can start, not even a kill: raise it live, then clean up.
api_json PATCH /v1/vps/t1 '{"limits":{"pids":128}}'
expect_status 200 "raise pids live"
[ "$(cat /sys/fs/cgroup/pids/"$CGPREFIX"/t1/pids.max 2>/dev/null || cat /sys/fs/cgroup/"$CGPREFIX"/t1/pids.max)" = 128 ] || fail "live pids change not applied"
vexec t1 sh -c 'kill $(pidof sleep); echo ok'
[ "$(cat "$T/out")" = ok ] || fail "cleanup after the fork bomb"
ok "fork bomb stops at pids.max; limits change live"

# Memory hog: tail buffers /dev/zero (no newline) until the cgroup's OOM killer ends it.
vexec t1 tail /dev/zero
[ "$EXEC_RC" = "signal 9" ] || fail "memory hog not OOM-killed: $EXEC_RC"
api GET /v1/vps/t1
[ "$(jqb .status.state)" = running ] || fail "vps died with its memory hog"
ok "memory hog OOM-killed inside its cgroup"

# vpsd dies; the VPS runs on and is re-adopted.
kill -KILL "$VPSD_PID"; wait "$VPSD_PID" 2>/dev/null; VPSD_PID=
kill -0 "$INIT" || fail "vps init died with vpsd"
start_vpsd
api GET /v1/vps/t1
[ "$(jqb .status.state)" = running ] && [ "$(jqb .status.pid)" = "$INIT" ] || fail "not re-adopted: $(cat "$BODY")"
vexec t1 true
[ "$EXEC_RC" = 0 ] || fail "exec after re-adoption"
ok "survives SIGKILL of vpsd, re-adopted"

api DELETE /v1/vps/t1
expect_error 409 conflict "stop it first" "delete while running"
api POST /v1/vps/t1/stop
expect_status 200 "stop"
[ "$(jqb .status.state)" = stopped ] || fail "state after stop"
# A re-adopted init is the host's PID 1's child now, which reaps it in its own time: a zombie
# is gone as a VPS.
state=$(ps -o stat= -p "$INIT" 2>/dev/null)
[ -z "$state" ] || [ "${state:0:1}" = Z ] || fail "init still running after stop ($state)"
ls -d /sys/fs/cgroup/*/"$CGPREFIX"/t1 2>/dev/null && fail "cgroup left after stop"
[ ! -e "$RUN/t1/state.json" ] || fail "state.json left after stop"
[ -f "$RUN/t1/console.log" ] || fail "console.log of the last run not kept"
ok "stop leaves no process or cgroup"

api POST /v1/vps/t1/restart
expect_status 200 "restart from stopped"
api POST /v1/vps/t1/kill
expect_status 200 "kill"
api POST /v1/vps/t1/stop
expect_error 409 conflict "not running" "stop a stopped vps"
api DELETE /v1/vps/t1
expect_status 200 "destroy"
[ ! -e "$STATE/t1" ] || fail "destroy left files"
[ ! -e "$RUN/t1" ] || fail "destroy left the run dir"
ok "restart, kill, destroy"

# autostart: started when vpsd starts; VPSes keep running across a clean vpsd restart too.
api_json POST /v1/vps '{"name":"auto1","autostart":true}'
expect_status 201 "create auto1"
api_json POST /v1/vps '{"name":"manual1"}'
expect_status 201 "create manual1"
stop_vpsd || fail "vpsd exit status"
start_vpsd
api GET /v1/vps/auto1
[ "$(jqb .status.state)" = running ] || fail "autostart vps not started: $(cat "$BODY")"
api GET /v1/vps/manual1
[ "$(jqb .status.state)" = stopped ] || fail "a vps without autostart was started"
AUTO_INIT=$(curl -sS --unix-socket "$SOCK" http://localhost/v1/vps/auto1 | jq -r .status.pid)
stop_vpsd || fail "vpsd exit status"
kill -0 "$AUTO_INIT" || fail "vps stopped with a clean vpsd shutdown"
start_vpsd
api GET /v1/vps/auto1
[ "$(jqb .status.pid)" = "$AUTO_INIT" ] || fail "not re-adopted after a clean restart"
api GET /v1/vps/auto1/stats
# uptime counts from the init's start, not from the re-adoption.
boot=$(awk '{print int($1 * 1000)}' /proc/uptime)
start=$(awk '{print int($22 * 1000 / '"$(getconf CLK_TCK)"')}' /proc/"$AUTO_INIT"/stat)
[ $(( $(jqb .uptime_ms) - (boot - start) )) -lt 2000 ] || fail "uptime after re-adoption: $(jqb .uptime_ms) vs $((boot - start))"
api POST /v1/vps/auto1/stop
expect_status 200 "stop auto1"
ok "autostart; VPSes outlive a clean vpsd restart"
