#!/bin/bash
# On-demand activation beyond accept mode over TCP: "listen" mode (the listening socket
# handed over, one process serving every connection, stopped after idle_timeout and started
# again by the next connection), "proxy" mode (vpsd relays with splice(); a cold service that
# is slow to listen loses no connection; half-close; megabytes both ways; byte counters),
# UDP handed over inetd-"wait" style, user names looked up inside the VPS, the back-off of a
# crashing service, autostop (scale to zero) and the services' status and stats.
# Only 198.18.101.0/24 on a bridge of this test's own: no uplink, no NAT, no forwarding.
. "$(dirname "$0")/lib.sh"
command -v nc >/dev/null || { echo "SKIP: needs nc"; exit 77; }

BR=vt-m$(($$ % 100000))
A=am$(($$ % 100000))
IP=198.18.101.2
trap 'rc=$?; ip link del "$BR" 2>/dev/null; ip link del "vh-$A" 2>/dev/null; (exit $rc); cleanup' EXIT

# talk PORT LINE: one line to a service, its answer printed.
talk() { printf '%s\n' "$2" | nc -N -w5 "$IP" "$1"; }
events() {
    curl -sS -N --max-time 0.3 --unix-socket "$SOCK" 'http://localhost/v1/events?since=0' \
        2>/dev/null >"$T/events"
}
# count_events JQ-FILTER
count_events() { events; jq -c "select(.vps == \"$A\") | select($1)" "$T/events" | wc -l; }
# wait_event JQ-FILTER N SECONDS: until at least N events match.
wait_event() {
    local i
    for ((i = 0; i < $3 * 4; i++)); do
        [ "$(count_events "$1")" -ge "$2" ] && return 0
        sleep 0.25
    done
    return 1
}
svc() {
    api GET "/v1/vps/$A/services/$1"
    expect_status 200 "status of service $1"
}
vps_state() {
    api GET "/v1/vps/$A"
    jqb .status.state
}

start_vpsd --bridge "$BR" --bridge-address 198.18.101.1/24
api_json POST /v1/vps "{\"name\":\"$A\",\"network\":{\"addresses\":[\"$IP/24\"]},
  \"services\":[
    {\"name\":\"ls\",\"mode\":\"listen\",\"listen\":[\"tcp:$IP:7100\"],\"idle_timeout_ms\":1000,
     \"command\":[\"/testsrv\",\"fd3\",\"L\"]},
    {\"name\":\"px\",\"mode\":\"proxy\",\"listen\":[\"$IP:7200\"],\"proxy_to\":\"127.0.0.1:8200\",
     \"idle_timeout_ms\":1500,\"command\":[\"/testsrv\",\"listen\",\"127.0.0.1:8200\",\"P\",\"400\"]},
    {\"name\":\"dg\",\"mode\":\"accept\",\"listen\":[\"udp:$IP:7300\"],
     \"command\":[\"/testsrv\",\"udp\",\"U\"]},
    {\"name\":\"who\",\"mode\":\"accept\",\"user\":\"nobody\",\"listen\":[\"$IP:7400\"],
     \"command\":[\"/bin/sh\",\"-c\",\"id -u; id -g\"]},
    {\"name\":\"sock\",\"mode\":\"accept\",\"listen\":[\"unix:/run//act.sock\",\"unix:/run/evil/x.sock\"],
     \"command\":[\"/bin/sh\",\"-c\",\"read -r l; echo S:\$l\"]},
    {\"name\":\"six\",\"mode\":\"accept\",\"listen\":[\"[::1]:7600\",\"127.0.0.1:7600\"],
     \"command\":[\"/bin/sh\",\"-c\",\"read -r l; echo V:\$l\"]},
    {\"name\":\"noisy\",\"mode\":\"accept\",\"listen\":[\"$IP:7700\"],
     \"command\":[\"/bin/sh\",\"-c\",\"read -r l; echo err:\$l >&2; case \$l in big) head -c 1200000 /dev/zero >&2;; esac; echo out:\$l\"]},
    {\"name\":\"bad\",\"mode\":\"listen\",\"listen\":[\"$IP:7500\"],\"restart\":\"on-failure\",
     \"command\":[\"/testsrv\",\"crash\"]}]}"
expect_status 201 "create $A"
install -m 0755 "$VPS_TESTSRV" "$STATE/$A/rootfs/testsrv"
# A symlink planted by the VPS's root must not lead the unix socket out of its tree.
mkdir "$T/hostdir"
ln -s "$T/hostdir" "$STATE/$A/rootfs/run/evil"
# Stored in canonical form.
api GET "/v1/vps/$A"
[ "$(jqb '.config.services[0].listen[0]')" = "$IP:7100" ] || fail "listen not canonical: $(cat "$BODY")"
api POST "/v1/vps/$A/start"
expect_status 200 "first start"
api POST "/v1/vps/$A/stop"
expect_status 200 "stop"

# ---- listen mode ----
a1=$(talk 7100 one)
[ "$(vps_state)" = running ] || fail "a connection did not start the vps"
a2=$(talk 7100 two)
IFS=: read -r t1 p1 l1 <<<"$a1"
IFS=: read -r t2 p2 l2 <<<"$a2"
[ "$t1:$l1" = "L:one" ] && [ "$t2:$l2" = "L:two" ] || fail "listen mode answers: '$a1' '$a2'"
svc ls
[ "$(jqb .status.state)" = running ] || fail "ls not running: $(cat "$BODY")"
[ "$(jqb .status.stats.activations)" = 1 ] || fail "ls activations: $(cat "$BODY")"
[ "$(jqb '.status.pids | length')" = 1 ] || fail "ls: one process expected: $(cat "$BODY")"
ok "listen mode: the first connection starts the service, which then accepts the next itself"

# Idle: a held-open connection keeps it running; then it stops after idle_timeout_ms.
STOPPED='.type == "service_stopped" and .service == "ls" and .reason == "idle"'
(sleep 3; printf 'held\n') | nc -N -w5 "$IP" 7100 >/dev/null &
HOLD=$!
PIDS_TO_STOP+=("$HOLD")
sleep 0.3
n0=$(count_events "$STOPPED")
sleep 1.5
[ "$(count_events "$STOPPED")" = "$n0" ] || fail "ls stopped while a connection was open"
wait "$HOLD"
wait_event "$STOPPED" $((n0 + 1)) 5 ||
    fail "ls not stopped after idle: $(grep ls "$T/events" | tail -3)"
svc ls
[ "$(jqb .status.state)" = idle ] && [ "$(jqb '.status.pids | length')" = 0 ] ||
    fail "ls after idle stop: $(cat "$BODY")"
a3=$(talk 7100 three)
[ "${a3%%:*}" = L ] && [ "$(cut -d: -f2 <<<"$a3")" != "$p1" ] ||
    fail "listen mode after idle stop: '$a3' (first pid $p1)"
ok "listen mode: kept while a connection is open, stopped after idle, started again"

# ---- proxy mode ----
b1=$(talk 7200 hi)
[ "${b1%%:*}" = P ] && [ "${b1##*:}" = hi ] ||
    fail "proxy mode: '$b1' (the service listens only after 400 ms)"
# Ten connections at once against a service that is cold again.
api POST "/v1/vps/$A/services/px/stop"
CLIENTS=()
for i in $(seq 1 10); do
    talk 7200 "c$i" >"$T/px.$i" &
    CLIENTS+=("$!")
done
PIDS_TO_STOP+=("${CLIENTS[@]}")
wait "${CLIENTS[@]}" # not a bare wait: vpsd is a child of this shell too
for i in $(seq 1 10); do
    [ "$(cut -d: -f3 <"$T/px.$i")" = "c$i" ] || fail "proxy connection $i: '$(cat "$T/px.$i")'"
done
# Half-close: the service reads to the end and answers after the client's shutdown.
c=$( (printf 'count\n'; head -c 3000000 /dev/zero) | nc -N -w10 "$IP" 7200)
[ "$c" = "count:3000000" ] || fail "proxy half-close with 3 MB: '$c'"
svc px
[ "$(jqb .status.stats.bytes_in)" -ge 3000000 ] || fail "px bytes_in: $(cat "$BODY")"
[ "$(jqb .status.stats.cold_start_ms_max)" -ge 400 ] || fail "px cold start: $(cat "$BODY")"
wait_event '.type == "service_stopped" and .service == "px" and .reason == "idle"' 1 6 ||
    fail "px not stopped after idle"
ok "proxy mode: cold start without loss, 10 concurrent, half-close with 3 MB, idle stop"

# ---- UDP, inetd "wait" style ----
u=$(printf 'ping\n' | nc -u -w2 "$IP" 7300)
[ "${u%%:*}" = U ] && [ "${u##*:}" = ping ] || fail "udp: '$u'"
ok "udp: the socket is handed over and the datagram answered"

# ---- unix sockets inside the VPS, made from the host side ----
[ -S "$STATE/$A/rootfs/run/act.sock" ] || fail "no unix socket in the rootfs"
[ -z "$(ls -A "$T/hostdir")" ] || fail "a socket was made through a planted symlink"
grep -q "x.sock" "$T/vpsd.log" || fail "no warning for the symlinked socket dir"
vexec "$A" /testsrv uclient /run/act.sock hello
[ "$(cat "$T/out")" = "S:hello" ] || fail "unix socket activation: '$(cat "$T/out")'"
ok "unix socket: activated from inside the vps; a planted symlink is not followed"

# ---- IPv6 (and IPv4) on the VPS's own loopback ----
vexec "$A" /testsrv tclient ::1 7600 six
[ "$(cat "$T/out")" = "V:six" ] || fail "IPv6 listen address: '$(cat "$T/out")'"
vexec "$A" /testsrv tclient 127.0.0.1 7600 four
[ "$(cat "$T/out")" = "V:four" ] || fail "IPv4 loopback listen address: '$(cat "$T/out")'"
ok "IPv6 and IPv4 loopback addresses inside the vps"

# ---- service logs: stderr kept in the run dir, bounded, readable through the API ----
[ "$(talk 7700 hello)" = "out:hello" ] || fail "noisy's stdout is its connection"
api GET "/v1/vps/$A/services/noisy/log"
expect_status 200 "log of noisy"
grep -qx "err:hello" "$BODY" || fail "stderr not in the log: $(head -c 200 "$BODY")"
"$VPSCTL" --socket "$SOCK" service logs "$A" noisy --bytes 10 >"$T/tail"
[ "$(cat "$T/tail")" = "err:hello" ] || fail "vpsctl service logs --bytes 10: '$(cat "$T/tail")'"
api GET "/v1/vps/$A/services/noisy/log?bytes=0"
expect_error 400 invalid "bytes: expected 1..1048576" "log with bytes=0"
talk 7700 big >/dev/null
sleep 0.5
size=$(stat -c %s "$RUN/$A/services/noisy.log")
[ "$size" -le $((1024 * 1024)) ] || fail "log not bounded: $size bytes"
ok "service logs: stderr kept ($size bytes after 1.2 MB, bounded at 1 MiB), API and vpsctl"

# ---- user names from the VPS's /etc/passwd ----
[ "$(talk 7400 x | tr '\n' ' ')" = "65534 65534 " ] || fail "user nobody: '$(talk 7400 x)'"
ok "user names are looked up in the vps"

# ---- back-off of a crashing service ----
talk 7500 x >/dev/null 2>&1
wait_event '.type == "service_backoff" and .service == "bad"' 1 10 ||
    fail "no back-off for a crashing service: $(grep bad "$T/events" | tail -5)"
svc bad
[ "$(jqb .status.state)" = backoff ] || fail "bad not backing off: $(cat "$BODY")"
[ "$(jqb .status.stats.failures)" -ge 3 ] || fail "bad failures: $(cat "$BODY")"
api POST "/v1/vps/$A/services/bad/stop"
expect_status 200 "a stop ends the back-off"
ok "a crashing service backs off; a stop ends the back-off"
api_json PATCH "/v1/vps/$A/services/bad" '{"listen": null, "restart": "no"}'

# ---- a VPS stop is no failure of the services it takes down ----
for i in 1 2 3; do
    [ "$(talk 7100 "s$i" | cut -d: -f1)" = L ] || fail "listen mode before stop $i"
    api_json POST "/v1/vps/$A/stop" '{"timeout_ms": 5000}'
    expect_status 200 "stop $i with ls running"
done
svc ls
[ "$(jqb .status.state)" = idle ] && [ "$(jqb .status.stats.failures)" = 0 ] ||
    fail "stopping the vps counted as failures of ls: $(cat "$BODY")"
[ "$(talk 7100 after | cut -d: -f1)" = L ] || fail "listen mode after three vps stops"
ok "three vps stops with the service running: no failure, no back-off"

# ---- autostop: scale to zero ----
api_json PATCH "/v1/vps/$A" '{"autostop": true}'
expect_status 200 "autostop on"
[ "$(talk 7100 wake | cut -d: -f1)" = L ] || fail "listen mode with autostop"
wait_event '.type == "vps_autostop"' 1 8 || fail "no autostop: $(tail -5 "$T/events")"
for _ in $(seq 40); do [ "$(vps_state)" = stopped ] && break; sleep 0.25; done
[ "$(vps_state)" = stopped ] || fail "vps not stopped by autostop"
[ "$(talk 7100 again | cut -d: -f1)" = L ] || fail "no answer after autostop"
[ "$(vps_state)" = running ] || fail "the request did not start the vps again"
ok "autostop: the idle vps stops; the next request starts it again"

api_json PATCH "/v1/vps/$A" '{"autostop": false}'
# A running service that is deleted is stopped by the commit, reason "removed".
api POST "/v1/vps/$A/services/px/start"
expect_status 200 "start px through the API"
api DELETE "/v1/vps/$A/services/px"
expect_status 200 "delete the running px"
wait_event '.type == "service_stopped" and .service == "px" and .reason == "removed"' 1 5 ||
    fail "deleting a running service: $(grep '"px"' "$T/events" | tail -3)"
ok "a running service that is deleted stops (reason removed)"
api_json POST "/v1/vps/$A/stop" '{"timeout_ms": 5000}'
expect_status 200 "stop at the end"
api DELETE "/v1/vps/$A"
expect_status 200 "destroy"
ok "destroyed"
