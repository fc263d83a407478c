#!/bin/bash
# Shared front addresses: one host IP:port for many VPSes, routed by content that vpsd only
# peeks at. Two VPSes behind one front port routed by HTTP Host, each started on demand; an
# unmatched Host is closed until a default rule takes it; TLS SNI (exact before wildcard)
# with the ClientHello reaching the service untouched; SSH and HTTP clients on one port each
# reaching their own service, a silent client the SSH one; conflicting rules refused with
# nothing saved; a front that cannot be bound is retried; the fronts in GET /v1/host; a
# restarted vpsd listens again; destroy drops a VPS's rules and closes a port no rule names.
# Fronts on 127.0.0.1; VPS addresses only in 198.18.99.0/24 on a bridge of this test's own.
. "$(dirname "$0")/lib.sh"
command -v nc >/dev/null || { echo "SKIP: needs nc"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: needs openssl"; exit 77; }

BR=vt-f$(($$ % 100000))
A=fa$(($$ % 100000))
B=fb$(($$ % 100000))
C=fc$(($$ % 100000))
BASE=$((20000 + ($$ % 5000) * 4))
HTTP=$BASE      # Host rules
TLS=$((BASE + 1)) # SNI rules
MIX=$((BASE + 2)) # protocol rules: ssh to A, http to B
BUSY=$((BASE + 3)) # taken by another program at first
trap 'rc=$?; ip link del "$BR" 2>/dev/null; ip link del "vh-$A" 2>/dev/null;
      ip link del "vh-$B" 2>/dev/null; (exit $rc); cleanup' EXIT

# Services of the busybox template. "web" reads the request head up to its empty line (so
# the close after the answer is a clean one) and answers with the VPS's name and the Host
# line it read; "hello" keeps the first 16 bytes of what it got; "ssh" greets first, as an
# SSH server does, then echoes the client's first line.
web_cmd() {
    printf '%s' 'cr=$(printf "\r"); h=; while read -r l; do case "$l" in "$cr"|"") break;;
      [Hh]ost:*) h=${l%"$cr"};; esac; done; printf "HTTP/1.0 200 OK\r\n\r\n'"$1"' %s\n" "$h"'
}
hello_cmd() { printf '%s' 'head -c 16 | od -An -tx1 > /tmp/hello; printf '"$1"; }
ssh_cmd() {
    printf '%s' 'printf "SSH-2.0-'"$1"'\r\n"; read -r -t 3 l; printf "got %s\n" "$l"'
}
# service NAME COMMAND MATCH-JSON
service() {
    jq -nc --arg n "$1" --arg c "$2" --argjson m "$3" \
        '{name: $n, mode: "accept", user: "0", command: ["/bin/sh", "-c", $c], match: $m}'
}
state() {
    api GET "/v1/vps/$1"
    expect_status 200 "status of $1"
    jqb .status.state
}
# get HOST [PORT]: curl's answer from the front, or nothing when it fails.
get() { curl -sS --max-time 10 -H "Host: $1" "http://127.0.0.1:${2:-$HTTP}/" 2>>"$T/curl.err"; }
front() {
    api GET /v1/host
    expect_status 200 "GET /v1/host"
    jq -c ".fronts[] | select(.front == \"127.0.0.1:$1\")" "$BODY"
}
ports_listening() { ss -Hltn "sport = :$1" | grep -q .; }

start_vpsd --bridge "$BR" --bridge-address 198.18.99.1/24

WEB_A=$(service web "$(web_cmd vps-a)" "[{\"front\":\"127.0.0.1:$HTTP\",\"http_host\":\"a.example\"}]")
HELLO_A=$(service hello "$(hello_cmd vps-a)" "[{\"front\":\"127.0.0.1:$TLS\",\"tls_sni\":\"a.example\"}]")
SSH_A=$(service ssh "$(ssh_cmd vps-a)" "[{\"front\":\"127.0.0.1:$MIX\",\"protocol\":\"ssh\"}]")
api_json POST /v1/vps "{\"name\":\"$A\",\"network\":{\"addresses\":[\"198.18.99.2/24\"]},
  \"services\":[$WEB_A,$HELLO_A,$SSH_A]}"
expect_status 201 "create $A"
# B: the wildcard "*.example" beside A's exact "a.example" on the TLS front is no conflict.
WEB_B=$(service web "$(web_cmd vps-b)" "[{\"front\":\"127.0.0.1:$HTTP\",\"http_host\":\"b.example\"},
                                         {\"front\":\"127.0.0.1:$MIX\",\"protocol\":\"http\"}]")
HELLO_B=$(service hello "$(hello_cmd vps-b)" "[{\"front\":\"127.0.0.1:$TLS\",\"tls_sni\":\"*.example\"}]")
api_json POST /v1/vps "{\"name\":\"$B\",\"network\":{\"addresses\":[\"198.18.99.3/24\"]},
  \"services\":[$WEB_B,$HELLO_B]}"
expect_status 201 "create $B"
for v in "$A" "$B"; do
    api POST "/v1/vps/$v/start"
    expect_status 200 "first start of $v"
    api POST "/v1/vps/$v/stop"
    expect_status 200 "stop $v"
    [ "$(state "$v")" = stopped ] || fail "$v did not stop"
done
for p in "$HTTP" "$TLS" "$MIX"; do
    [ "$(front "$p" | jq .listening)" = true ] || fail "front $p not listening: $(front "$p")"
done
[ "$(front "$HTTP" | jq -c '[.rules[] | .value] | sort')" = '["a.example","b.example"]' ] ||
    fail "rules of front $HTTP: $(front "$HTTP")"
[ "$(front "$TLS" | jq -c ".rules[] | select(.vps == \"$B\") | [.service, .kind, .value]")" = \
    '["hello","tls_sni","*.example"]' ] || fail "rules of front $TLS: $(front "$TLS")"
ok "three fronts listening, their rules in GET /v1/host"

# ---- HTTP Host ----
out=$(get a.example)
grep -q "^vps-a Host: a.example$" <<<"$out" || fail "Host a.example: '$out' $(tail -n2 "$T/curl.err")"
[ "$(state "$A")" = running ] || fail "the request did not start $A"
[ "$(state "$B")" = stopped ] || fail "$B started by a request for $A"
out=$(get b.example)
grep -q "^vps-b Host: b.example$" <<<"$out" || fail "Host b.example: '$out' $(tail -n2 "$T/curl.err")"
[ "$(state "$B")" = running ] || fail "the request did not start $B"
[ "$(get A.Example:$HTTP)" = "vps-a Host: A.Example:$HTTP" ] || fail "Host with case and port"
grep -q "front '127.0.0.1:$HTTP': .* sent host 'b.example': rule http_host 'b.example', to service 'web' of vps '$B'" \
    "$T/vpsd.log" || fail "no debug line naming the rule that matched"
ok "Host a.example reaches $A and b.example $B, each started by its request"

out=$(get c.example) && fail "an unmatched Host was answered: '$out'"
grep -q "sent host 'c.example': no rule, closing" "$T/vpsd.log" || fail "no 'closing' debug line"
api_json PATCH "/v1/vps/$A/services/web" \
    "{\"match\":[{\"front\":\"127.0.0.1:$HTTP\",\"http_host\":\"a.example\"},
                 {\"front\":\"127.0.0.1:$HTTP\",\"default\":true}]}"
expect_status 200 "PATCH a default rule onto $A's web"
[ "$(get c.example)" = "vps-a Host: c.example" ] || fail "the default rule did not take c.example"
# Not HTTP at all: the default too, with the bytes untouched.
out=$(printf 'hello there\n\n' | nc -N -w5 127.0.0.1 "$HTTP")
grep -q "^vps-a $" <<<"$out" || fail "unknown protocol did not reach the default: '$out'"
ok "an unmatched Host is closed; after PATCHing a default rule onto $A it reaches $A"

# ---- TLS SNI ----
# The services are no TLS servers: s_client fails, but the ClientHello must have arrived from
# its first byte: a handshake record (16), TLS record version 3.x, then a ClientHello (01).
for sni in a.example x.example; do
    openssl s_client -connect "127.0.0.1:$TLS" -servername "$sni" </dev/null >"$T/tls" 2>&1
done
for v in "$A" "$B"; do
    vexec "$v" cat /tmp/hello
    read -r rec maj _ _ _ hs _ <"$T/out"
    [ "$rec $maj $hs" = "16 03 01" ] || fail "$v's service got no ClientHello from byte 0: $(cat "$T/out")"
done
grep -q "sent sni 'a.example': rule tls_sni 'a.example', .* of vps '$A'" "$T/vpsd.log" &&
    grep -q "sent sni 'x.example': rule tls_sni '\*.example', .* of vps '$B'" "$T/vpsd.log" ||
    fail "SNI routing: $(grep "$TLS" "$T/vpsd.log" | tail -n4)"
ok "SNI a.example reaches $A (exact before wildcard), x.example $B (*.example), hello untouched"

# ---- protocol signatures on one port ----
api POST "/v1/vps/$A/stop"
expect_status 200 "stop $A"
api POST "/v1/vps/$B/stop"
expect_status 200 "stop $B"
out=$(printf 'SSH-2.0-test\r\n' | nc -w5 127.0.0.1 "$MIX" | tr -d '\r')
[ "$out" = "SSH-2.0-vps-a
got SSH-2.0-test" ] || fail "SSH client: '$out'"
[ "$(state "$A")" = running ] || fail "the SSH client did not start $A"
out=$(curl -sS --max-time 10 "http://127.0.0.1:$MIX/")
[ "$out" = "vps-b Host: 127.0.0.1:$MIX" ] || fail "HTTP client on the SSH port: '$out'"
[ "$(state "$B")" = running ] || fail "the HTTP client did not start $B"
# A client that waits for the server's greeting (nc sends nothing; without -N its stdin's
# end does not end the connection): the "ssh" rule after the silence timeout.
out=$(nc -w5 127.0.0.1 "$MIX" </dev/null | tr -d '\r')
[ "$(head -n1 <<<"$out")" = SSH-2.0-vps-a ] || fail "silent client: '$out'"
grep -q "front '127.0.0.1:$MIX': .* sent nothing: rule protocol 'ssh', to service 'ssh'" "$T/vpsd.log" ||
    fail "no debug line for the silent client"
# One that connects and closes without a byte (a health check) starts nothing.
nc -z 127.0.0.1 "$MIX" || fail "nc -z"
api GET /v1/host
for _ in $(seq 50); do grep -q "front '127.0.0.1:$MIX': .* closed without sending" "$T/vpsd.log" && break
    api GET /v1/host; done
grep -q "front '127.0.0.1:$MIX': .* closed without sending" "$T/vpsd.log" ||
    fail "a connect-and-close was not dropped"
ok "SSH and HTTP clients on one port reach their own service; a silent one the SSH service"

# ---- conflicts ----
snap=$(state_snapshot)
api_json POST /v1/vps "{\"name\":\"$C\",\"services\":[$(service web true \
    "[{\"front\":\"127.0.0.1:$HTTP\",\"http_host\":\"a.example\"}]")]}"
expect_error 409 conflict "http_host 'a.example' on front '127.0.0.1:$HTTP' is taken by service 'web' of vps '$A'" \
    "create with a rule of $A"
api_json PATCH "/v1/vps/$B/services/hello" \
    "{\"match\":[{\"front\":\"127.0.0.1:$TLS\",\"tls_sni\":\"a.example\"}]}"
expect_error 409 conflict "is taken by service 'hello' of vps '$A'" "PATCH $B with $A's SNI rule"
api_json PATCH "/v1/vps/$B/services/web" \
    "{\"match\":[{\"front\":\"127.0.0.1:$HTTP\",\"default\":true}]}"
expect_error 409 conflict "the default of front '127.0.0.1:$HTTP' is taken by service 'web' of vps '$A'" \
    "a second default on a front"
api_json PATCH "/v1/vps/$B" "{\"services\":[$WEB_B,$(service hello x \
    "[{\"front\":\"127.0.0.1:$MIX\",\"protocol\":\"ssh\"}]")]}"
expect_error 409 conflict "protocol 'ssh' on front '127.0.0.1:$MIX' is taken" "PATCH $B's services"
[ "$(state_snapshot)" = "$snap" ] || fail "a refused change wrote to the state dir"
api GET "/v1/vps/$C"
expect_status 404 "$C after a refused create"
[ "$(get b.example)" = "vps-b Host: b.example" ] || fail "$B's rules changed by a refused PATCH"
ok "rules held by another vps: 409 naming it, nothing saved"

# ---- a front that cannot be bound ----
# nc -v says when it listens; the fifo stays open on fd 7 so that its later lines cannot
# make it die of SIGPIPE.
mkfifo "$T/nc.out"
exec 7<>"$T/nc.out"
nc -lkv 127.0.0.1 "$BUSY" </dev/null >/dev/null 2>&7 &
NC=$!
PIDS_TO_STOP+=("$NC")
read -r -t 10 line <&7 && ports_listening "$BUSY" || fail "nc -l did not listen: '${line:-}'"
api_json PATCH "/v1/vps/$B/services/web" \
    "{\"match\":[{\"front\":\"127.0.0.1:$HTTP\",\"http_host\":\"b.example\"},
                 {\"front\":\"127.0.0.1:$MIX\",\"protocol\":\"http\"},
                 {\"front\":\"127.0.0.1:$BUSY\",\"http_host\":\"b.example\"}]}"
expect_status 200 "PATCH a rule on a busy front"
f=$(front "$BUSY")
[ "$(jq .listening <<<"$f")" = false ] && jq -r .error <<<"$f" | grep -q "Address already in use" ||
    fail "busy front: $f"
grep -q "front '127.0.0.1:$BUSY': not listening, tried again at the next change" "$T/vpsd.log" ||
    fail "no warning for the busy front"
kill "$NC"
wait "$NC" 2>/dev/null
api_json PATCH "/v1/vps/$A" '{"autostart":false}'
expect_status 200 "an unrelated change"
[ "$(front "$BUSY" | jq .listening)" = true ] || fail "busy front not retried: $(front "$BUSY")"
[ "$(get b.example "$BUSY")" = "vps-b Host: b.example" ] || fail "the retried front does not route"
ok "a front that cannot be bound is reported and retried at the next change"

# ---- restart of vpsd ----
for v in "$A" "$B"; do
    api POST "/v1/vps/$v/stop"
    expect_status 200 "stop $v"
done
stop_vpsd || fail "vpsd did not stop cleanly"
ports_listening "$HTTP" && fail "front $HTTP still open without vpsd"
start_vpsd --bridge "$BR" --bridge-address 198.18.99.1/24
[ "$(get a.example)" = "vps-a Host: a.example" ] || fail "not routing after a restart of vpsd"
[ "$(state "$A")" = running ] || fail "the request did not start $A after a restart of vpsd"
ok "a restarted vpsd listens on its fronts again"

# ---- destroy ----
[ "$(state "$B")" = stopped ] || fail "$B started by nothing"
api DELETE "/v1/vps/$B"
expect_status 200 "destroy $B"
ports_listening "$BUSY" && fail "front $BUSY open with no rule left"
[ -z "$(front "$BUSY")" ] || fail "front $BUSY still in GET /v1/host"
[ "$(front "$HTTP" | jq "[.rules[] | select(.vps == \"$B\")] | length")" = 0 ] ||
    fail "$B's rules left: $(front "$HTTP")"
# b.example now falls to A's default.
[ "$(get b.example)" = "vps-a Host: b.example" ] || fail "b.example after destroying $B"
api POST "/v1/vps/$A/stop"
expect_status 200 "stop $A before destroy"
api DELETE "/v1/vps/$A"
expect_status 200 "destroy $A"
for p in "$HTTP" "$TLS" "$MIX"; do
    ports_listening "$p" && fail "front $p open after every rule is gone"
done
api GET /v1/host
[ "$(jqb '.fronts | length')" = 0 ] || fail "fronts left: $(jqb -c .fronts)"
ok "destroy drops a vps's rules; a front no rule names is closed"
