#!/bin/bash
# Real Debian servers behind shared front addresses, each started on demand in a VPS made
# from the built-in "host-usr" template (the host's /usr bound read-only):
#   http:   two VPSes run nginx in proxy mode behind one front port; curl with Host a.example
#           reaches A and b.example reaches B, each VPS stopped before and started by its
#           request; the services stop after idle_timeout_ms, and with autostop the VPS
#           stops too and the next request starts it again.
#   tls:    openssl s_server in each VPS behind one front port routed by SNI; s_client
#           verifies the VPS's own certificate (CN and name, that certificate as the only CA):
#           the ClientHello reached the right VPS untouched and vpsd did not terminate TLS.
#   mixed:  one front port with a "protocol" rule for ssh (OpenSSH's sshd -i in A) and one
#           for http (nginx in B); ssh and curl each reach their own service.
# The cold starts seen (the service_activated events' cold_start_ms, and the client's time)
# are printed on the ok lines.
# Fronts on 127.0.0.1 and on the bridge's 198.18.102.1; VPS addresses only in
# 198.18.102.0/24 on a bridge of this test's own: no uplink, no NAT, no forwarding.
. "$(dirname "$0")/lib.sh"
for c in nginx sshd ssh ssh-keygen openssl curl; do
    command -v "$c" >/dev/null || { echo "SKIP: needs $c (contrib/install-deps.sh)"; exit 77; }
done
[ -x /usr/sbin/nginx ] && [ -x /usr/sbin/sshd ] && [ -x /usr/bin/openssl ] ||
    { echo "SKIP: needs /usr/sbin/nginx, /usr/sbin/sshd, /usr/bin/openssl"; exit 77; }

BR=vt-g$(($$ % 100000))
A=ga$(($$ % 100000))
B=gb$(($$ % 100000))
BRIP=198.18.102.1
BASE=$((10000 + ($$ % 2500) * 4))
HTTP=127.0.0.1:$BASE        # Host rules
TLSP=$((BASE + 1))
TLS=127.0.0.1:$TLSP         # SNI rules
MIXP=$((BASE + 2))
MIX=$BRIP:$MIXP             # protocol rules: ssh to A, http to B
IDLE=1500
trap 'rc=$?; ip link del "$BR" 2>/dev/null; ip link del "vh-$A" 2>/dev/null;
      ip link del "vh-$B" 2>/dev/null; (exit $rc); cleanup' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
state() {
    api GET "/v1/vps/$1"
    expect_status 200 "status of $1"
    jqb .status.state
}
# svc VPS SERVICE: the service as the API shows it, in $BODY.
svc() {
    api GET "/v1/vps/$1/services/$2"
    expect_status 200 "status of service $2 of $1"
}
stop() {
    api POST "/v1/vps/$1/stop"
    expect_status 200 "stop $1"
    [ "$(state "$1")" = stopped ] || fail "$1 did not stop"
}
# The event stream, followed from vpsd's start to its end by one curl of this test's own;
# $T/events is always "the events so far" (a line is written as it arrives).
follow_events() {
    curl -sS -N --unix-socket "$SOCK" 'http://localhost/v1/events?since=0' \
        >"$T/events" 2>/dev/null &
    PIDS_TO_STOP+=($!)
}
# ev JQ-FILTER: the events so far through the filter, one a line (a line still being
# written is skipped).
ev() { jq -cR "fromjson? | $1" "$T/events"; }
count_events() { ev "select($1)" | wc -l; }
# wait_event JQ-FILTER N SECONDS: until at least N events match.
wait_event() {
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        [ "$(count_events "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
is() { printf '.vps == "%s" and .service == "%s"' "$1" "$2"; }
# mark: the seq of the last event so far (0: none), for "the events since".
mark() { jq -nR '[inputs | fromjson? | .seq] | max // 0' "$T/events"; }
# activation VPS SERVICE MARK: the first service_activated of the service after the mark
# (waited for up to 5 s); fails without one.
activation() {
    local f
    f="select(.seq > $3 and $(is "$1" "$2") and .type == \"service_activated\")"
    wait_event "$f" 1 5 || fail "no service_activated event for $2 of $1 after event $3"
    ev "$f" | head -n 1
}
# cold VPS SERVICE MARK: the cold_start_ms of the first activation after the mark; fails
# when it has none (the service was running).
cold() {
    local e
    e=$(activation "$@") || exit 1
    jq -e 'has("cold_start_ms")' <<<"$e" >/dev/null ||
        fail "service_activated of $2 of $1 has no cold_start_ms: $e"
    jq -r .cold_start_ms <<<"$e"
}
# front_listening FRONT: whether vpsd listens on it (GET /v1/host in $BODY).
front_listening() {
    api GET /v1/host
    expect_status 200 "GET /v1/host"
    [ "$(jq -c ".fronts[] | select(.front == \"$1\") | .listening" "$BODY")" = true ]
}
# get HOST [FRONT]: curl's answer from a front, or nothing when it fails.
get() { curl -sS --max-time 20 -H "Host: $1" "http://${2:-$HTTP}/" 2>>"$T/curl.err"; }
: >"$T/empty"

start_vpsd --bridge "$BR" --bridge-address "$BRIP/24"
follow_events

# ---- two VPSes, their services ----

# nginx as the VPS's root runs its workers as www-data (in the host-usr skeleton); every
# path it writes is under /tmp; its error log in /tmp too, as a service's stderr is
# /dev/null. The body names the VPS and the Host that nginx got.
nginx_conf() {
    cat <<EOF
user www-data;
worker_processes 1;
pid /tmp/nginx.pid;
error_log /tmp/nginx.err warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path /tmp/nginx-body;
    proxy_temp_path /tmp/nginx-proxy;
    fastcgi_temp_path /tmp/nginx-fastcgi;
    uwsgi_temp_path /tmp/nginx-uwsgi;
    scgi_temp_path /tmp/nginx-scgi;
    server {
        listen 127.0.0.1:8080;
        default_type text/plain;
        location / { return 200 "$1 \$host\n"; }
    }
}
EOF
}
# services VPS-LABEL HOST EXTRA-WEB-RULES EXTRA-SERVICES: the services of A or B.
services() {
    jq -nc --arg host "$2" --arg http "$HTTP" --arg tls "$TLS" --argjson idle "$IDLE" \
        --argjson extra "$3" --argjson more "$4" '[
      {name: "web", mode: "proxy", user: "0", proxy_to: "127.0.0.1:8080", idle_timeout_ms: $idle,
       command: ["/usr/sbin/nginx", "-g", "daemon off;", "-c", "/etc/nginx-vps.conf"],
       match: ([{front: $http, http_host: $host}] + $extra)},
      {name: "tls", mode: "proxy", user: "0", proxy_to: "127.0.0.1:8443", idle_timeout_ms: $idle,
       command: ["/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:8443", "-www", "-quiet",
                 "-cert", "/etc/tls/cert.pem", "-key", "/etc/tls/key.pem"],
       match: [{front: $tls, tls_sni: $host}]}] + $more'
}
SSH_A=$(jq -nc --arg mix "$MIX" '[{name: "ssh", mode: "accept", user: "0",
    command: ["/usr/sbin/sshd", "-i", "-e"], match: [{front: $mix, protocol: "ssh"}]}]')
api_json POST /v1/vps "{\"name\":\"$A\",\"template\":\"host-usr\",
  \"network\":{\"addresses\":[\"198.18.102.2/24\"]},
  \"services\":$(services vps-a a.example '[]' "$SSH_A")}"
expect_status 201 "create $A"
api_json POST /v1/vps "{\"name\":\"$B\",\"template\":\"host-usr\",
  \"network\":{\"addresses\":[\"198.18.102.3/24\"]},
  \"services\":$(services vps-b b.example "[{\"front\":\"$MIX\",\"protocol\":\"http\"}]" '[]')}"
expect_status 201 "create $B"

# A self-signed certificate per VPS, made on the host; each is later the only CA s_client
# trusts for that name.
for x in a b; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$x.example" -addext "subjectAltName=DNS:$x.example" \
        -keyout "$T/$x.key" -out "$T/$x.pem" 2>"$T/openssl.err" ||
        fail "openssl req: $(cat "$T/openssl.err")"
done
ssh-keygen -q -t ed25519 -N '' -C "vps-test-$$" -f "$T/id" || fail "ssh-keygen on the host"
printf '%s\n' 'PermitRootLogin prohibit-password' 'PasswordAuthentication no' 'UsePAM no' \
    'HostKey /etc/ssh/ssh_host_ed25519_key' >"$T/sshd_config"

# The first start pins each VPS's namespaces; its files are written from inside, then it
# is stopped: every service below is started by a request to a stopped VPS.
for v in "$A" "$B"; do
    x=a
    [ "$v" = "$B" ] && x=b
    api POST "/v1/vps/$v/start"
    expect_status 200 "first start of $v"
    nginx_conf "vps-$x" >"$T/nginx.conf"
    vin "$v" "$T/nginx.conf" sh -c 'cat >/etc/nginx-vps.conf'
    vin "$v" "$T/empty" /usr/sbin/nginx -t -q -c /etc/nginx-vps.conf
    vin "$v" "$T/$x.pem" sh -c 'mkdir -p /etc/tls && cat >/etc/tls/cert.pem'
    vin "$v" "$T/$x.key" sh -c 'umask 077; cat >/etc/tls/key.pem'
done
vin "$A" "$T/sshd_config" sh -c 'cat >/etc/ssh/sshd_config'
vin "$A" "$T/empty" sh -c "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key &&
    /usr/sbin/sshd -t"
vin "$A" "$T/id.pub" sh -c 'umask 077; mkdir -p /root/.ssh; cat >/root/.ssh/authorized_keys'
for v in "$A" "$B"; do stop "$v"; done
# The bridge's address does not exist when vpsd starts (the bridge comes with the first VPS
# start); the front listens on it from the start all the same (free-bind).
for f in "$HTTP" "$TLS" "$MIX"; do
    front_listening "$f" || fail "front $f not listening: $(jqb -c .fronts)"
done
ok "two host-usr vpses: nginx, openssl s_server (and sshd in $A); fronts $HTTP, $TLS, $MIX up"

# ---- HTTP Host: nginx in proxy mode, each VPS started by its request ----

m=$(mark)
t0=$(now_ms)
out=$(get a.example)
t1=$(now_ms)
[ "$out" = "vps-a a.example" ] || fail "Host a.example: '$out' $(tail -n2 "$T/curl.err")"
[ "$(state "$A")" = running ] || fail "the request did not start $A"
[ "$(state "$B")" = stopped ] || fail "$B started by a request for $A"
svc "$A" tls
[ "$(jqb .status.state)" = idle ] || fail "$A's tls started by an HTTP request: $(cat "$BODY")"
ca=$(cold "$A" web "$m") || exit 1
ok "Host a.example: nginx in $A answers from a stopped vps (cold_start_ms $ca, curl $((t1 - t0)) ms)"

svc "$A" web
pid=$(jqb '.status.pids[0]')
m=$(mark)
t0=$(now_ms)
out=$(get a.example)
t1=$(now_ms)
[ "$out" = "vps-a a.example" ] || fail "warm Host a.example: '$out'"
[ "$(count_events ".seq > $m and .type == \"service_activated\"")" = 0 ] ||
    fail "a warm request activated: $(ev "select(.seq > $m)")"
svc "$A" web
[ "$(jqb -c '[.status.pids, .status.stats.connections_total]')" = "[[$pid],2]" ] &&
    [ "$(jqb .status.stats.bytes_out)" -gt 0 ] ||
    fail "web of $A after a warm request: $(cat "$BODY")"
ok "a second request reaches the running nginx, pid $pid ($((t1 - t0)) ms, no cold start)"

m=$(mark)
t0=$(now_ms)
out=$(get b.example)
t1=$(now_ms)
[ "$out" = "vps-b b.example" ] || fail "Host b.example: '$out' $(tail -n2 "$T/curl.err")"
[ "$(state "$B")" = running ] || fail "the request did not start $B"
cb=$(cold "$B" web "$m") || exit 1
ok "Host b.example: nginx in $B answers from a stopped vps (cold_start_ms $cb, curl $((t1 - t0)) ms)"

# Idle: both nginx stop after idle_timeout_ms (the VPSes keep running: no autostop).
for v in "$A" "$B"; do
    wait_event "$(is "$v" web) and .type == \"service_stopped\" and .reason == \"idle\"" 1 8 ||
        fail "nginx in $v not stopped after idle: $(grep "\"$v\"" "$T/events" | tail -n 3)"
    svc "$v" web
    [ "$(jqb .status.state)" = idle ] && [ "$(jqb '.status.pids | length')" = 0 ] ||
        fail "web of $v after the idle stop: $(cat "$BODY")"
    vin "$v" "$T/empty" ps -e -o comm=
    grep -qx nginx "$T/out" && fail "nginx still runs in $v: $(cat "$T/out")"
    [ "$(state "$v")" = running ] || fail "$v stopped without autostop"
done
ok "both nginx stopped after ${IDLE} ms idle (service_stopped reason idle); no nginx left"

# ---- autostop: A scales to zero and the next request starts it again ----

stop "$A"
api_json PATCH "/v1/vps/$A" '{"autostop": true}'
expect_status 200 "autostop on for $A"
n=$(count_events ".vps == \"$A\" and .type == \"vps_autostop\"")
m=$(mark)
t0=$(now_ms)
out=$(get a.example)
t1=$(now_ms)
[ "$out" = "vps-a a.example" ] || fail "Host a.example with autostop: '$out'"
ca2=$(cold "$A" web "$m") || exit 1
wait_event ".seq > $m and $(is "$A" web) and .type == \"service_stopped\" and .reason == \"idle\"" \
    1 8 || fail "nginx in $A not stopped after idle: $(grep "\"$A\"" "$T/events" | tail -n 3)"
ti=$(now_ms)
wait_event ".vps == \"$A\" and .type == \"vps_autostop\"" $((n + 1)) 10 ||
    fail "no vps_autostop for $A: $(grep "\"$A\"" "$T/events" | tail -n 4)"
t2=$(now_ms)
for _ in $(seq 200); do [ "$(state "$A")" = stopped ] && break; sleep 0.05; done
[ "$(state "$A")" = stopped ] || fail "$A not stopped by autostop: $(state "$A")"
ts=$(now_ms)
# The order: the service stopped for idle before the VPS was.
ev "select(.vps == \"$A\" and (.type == \"vps_autostop\" or
        (.type == \"service_stopped\" and .service == \"web\"))) | .type" | tail -n 2 |
    tr '\n' ' ' | grep -qx '"service_stopped" "vps_autostop" ' ||
    fail "autostop events out of order: $(grep "\"$A\"" "$T/events" | tail -n 3)"
m=$(mark)
t3=$(now_ms)
out=$(get a.example)
t4=$(now_ms)
[ "$out" = "vps-a a.example" ] || fail "Host a.example after autostop: '$out'"
[ "$(state "$A")" = running ] || fail "the request after autostop did not start $A"
ca3=$(cold "$A" web "$m") || exit 1
ok "autostop: after the answer, nginx stopped for idle at +$((ti - t1)) ms," \
    "vps_autostop at +$((t2 - t1)) ms, $A stopped at +$((ts - t1)) ms"
ok "autostop: the next request starts $A again" \
    "(cold_start_ms $ca2 before, $ca3 after; curl $((t4 - t3)) ms)"
api_json PATCH "/v1/vps/$A" '{"autostop": false}'
expect_status 200 "autostop off for $A"

# ---- TLS SNI: openssl s_server in each VPS, TLS end to end ----

for v in "$A" "$B"; do stop "$v"; done
for x in a b; do
    v=$A
    [ $x = b ] && v=$B
    m=$(mark)
    t0=$(now_ms)
    timeout 20 openssl s_client -connect "$TLS" -servername "$x.example" -CAfile "$T/$x.pem" \
        -verify_return_error -verify_hostname "$x.example" </dev/null >"$T/tls.$x" 2>&1
    t1=$(now_ms)
    grep -qx "subject=CN = $x.example" "$T/tls.$x" &&
        grep -q "Verify return code: 0 (ok)" "$T/tls.$x" &&
        grep -qE "^(New|Reused), TLS" "$T/tls.$x" ||
        fail "s_client -servername $x.example:" \
            "$(grep -E 'subject|Verify|error|New' "$T/tls.$x" | head -n 5)"
    [ "$(state "$v")" = running ] || fail "SNI $x.example did not start $v"
    [ $x = b ] || [ "$(state "$B")" = stopped ] || fail "$B started by SNI a.example"
    c=$(cold "$v" tls "$m") || exit 1
    page=$(curl -sS --max-time 20 --cacert "$T/$x.pem" --resolve "$x.example:$TLSP:127.0.0.1" \
        "https://$x.example:$TLSP/" 2>>"$T/curl.err")
    grep -q "^s_server -accept 127.0.0.1:8443" <<<"$page" ||
        fail "https://$x.example: '$(head -c 300 <<<"$page")' $(tail -n2 "$T/curl.err")"
    ok "SNI $x.example: $v's own certificate (CN=$x.example, verified), handshake by" \
        "s_server in $v (cold_start_ms $c, s_client $((t1 - t0)) ms); curl https gets its page"
done
svc "$A" web
[ "$(jqb .status.state)" = idle ] || fail "$A's nginx started by TLS: $(cat "$BODY")"
timeout 20 openssl s_client -connect "$TLS" -servername c.example </dev/null >"$T/tls.c" 2>&1 &&
    fail "an unknown SNI got a handshake: $(grep subject "$T/tls.c")"
grep -q "subject=" "$T/tls.c" && fail "an unknown SNI saw a certificate: $(grep subject "$T/tls.c")"
ok "an SNI no rule names gets no handshake"

# ---- SSH and HTTP on one front port ----

for v in "$A" "$B"; do stop "$v"; done
m=$(mark)
t0=$(now_ms)
ssh -F /dev/null -i "$T/id" -p "$MIXP" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR "root@$BRIP" \
    'echo via-front; hostname; cat /proc/1/comm' >"$T/ssh" 2>"$T/ssh.err" ||
    fail "ssh through $MIX: $(cat "$T/ssh.err")"
t1=$(now_ms)
[ "$(cat "$T/ssh")" = "via-front
$A
vps-init" ] || fail "ssh session through $MIX: '$(cat "$T/ssh")' $(cat "$T/ssh.err")"
[ "$(state "$A")" = running ] || fail "ssh did not start $A"
[ "$(state "$B")" = stopped ] || fail "$B started by an ssh client"
cs=$(cold "$A" ssh "$m") || exit 1
ok "ssh -p $MIXP root@$BRIP: sshd in $A answers from a stopped vps" \
    "(cold_start_ms $cs, session $((t1 - t0)) ms)"
m=$(mark)
t0=$(now_ms)
out=$(curl -sS --max-time 20 "http://$MIX/" 2>>"$T/curl.err")
t1=$(now_ms)
[ "$out" = "vps-b $BRIP" ] || fail "curl http://$MIX/: '$out' $(tail -n2 "$T/curl.err")"
[ "$(state "$B")" = running ] || fail "the HTTP client did not start $B"
cw=$(cold "$B" web "$m") || exit 1
ok "curl http://$MIX/: nginx in $B answers from a stopped vps" \
    "(cold_start_ms $cw, curl $((t1 - t0)) ms)"
grep -q "front '$MIX': .* sent protocol 'ssh': rule protocol 'ssh', to service 'ssh' of vps '$A'" \
    "$T/vpsd.log" &&
    grep -q "front '$MIX': .* rule protocol 'http', to service 'web' of vps '$B'" "$T/vpsd.log" ||
    fail "no debug lines for the mixed front: $(grep "$MIX" "$T/vpsd.log" | tail -n 4)"
ok "ssh (by its banner, not the silence timeout) and http on $MIX each reached their own service"

# ---- the end ----
for v in "$A" "$B"; do
    stop "$v"
    api DELETE "/v1/vps/$v"
    expect_status 200 "destroy $v"
done
api GET /v1/host
[ "$(jqb '.fronts | length')" = 0 ] || fail "fronts left: $(jqb -c .fronts)"
stop_vpsd || fail "vpsd did not stop cleanly"
ok "destroyed; no front left"
