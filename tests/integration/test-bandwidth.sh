#!/bin/bash
# Bandwidth limits of a VPS (limits.net_egress_bits_per_s, limits.net_ingress_bits_per_s):
# measured transfers in each direction hold the limits (within 15 %), a PATCH changes them
# live, a PATCH to 0 lifts them, and nothing (qdisc, nftables table) is left after destroy.
# Only 198.18.91.0/24 on a bridge of this test's own: no uplink, no NAT, no forwarding.
. "$(dirname "$0")/lib.sh"
command -v busybox >/dev/null || { echo "SKIP: needs busybox"; exit 77; }
command -v nc >/dev/null || { echo "SKIP: needs nc (netcat-openbsd)"; exit 77; }

BR=vt-w$(($$ % 100000))
A=bw$(($$ % 100000))
HOST=198.18.91.1
VPS=198.18.91.2
SIZE=8000000
# Downloads are timed whole: twice as much makes the shaper's first burst count half as much.
DSIZE=16000000
# The receiver times the bytes after the first SKIP: the policer on what the VPS sends is an
# nftables limit, whose bucket holds one second at the rate (its least time unit) plus the
# burst, so the first 1-2 MB pass at once; what is asserted is the sustained rate.
SKIP=3000000
trap 'rc=$?; ip link del "vh-$A" 2>/dev/null; ip link del "$BR" 2>/dev/null; (exit $rc); cleanup' EXIT

mkfifo "$T/never"
exec 9<>"$T/never" # read -t on it is a bounded wait that no one ends early
wait_a_bit() { read -r -t 0.05 -u 9 _ || true; }

# until_ok CMD...: runs CMD until it succeeds, at most 100 times 50 ms.
until_ok() {
    for _ in $(seq 100); do "$@" && return 0; wait_a_bit; done
    return 1
}

# rate_of FILE: "bytes start_ns end_ns" in FILE -> bits/s
rate_of() { read -r n s e <"$1"; echo $((n * 8 * 1000000000 / (e - s))); }

# in_band RATE LIMIT WHAT: RATE within 0.85..1.15 of LIMIT.
in_band() {
    [ "$1" -ge $(($2 * 85 / 100)) ] && [ "$1" -le $(($2 * 115 / 100)) ] ||
        fail "$3: $1 bits/s, limit $2"
    echo "  $3: $1 bits/s (limit $2)"
}

# From the VPS: nc on the host receives and times from the first byte to EOF.
upload() {
    local port=$1
    rm -f "$T/up"
    (timeout 30 nc -l "$HOST" "$port" | { head -c $SKIP >/dev/null; s=$(date +%s%N);
        n=$(wc -c); e=$(date +%s%N); echo "$n $s $e"; } >"$T/up") &
    local rx=$!
    PIDS_TO_STOP+=("$rx")
    until_ok sh -c "ss -Hltn 'sport = :$port' | grep -q ." || fail "host listener not up"
    vexec "$A" sh -c "head -c $SIZE /dev/zero | timeout 25 busybox nc $HOST $port"
    wait "$rx"
    [ -s "$T/up" ] || fail "upload received nothing"
    read -r n _ <"$T/up"
    [ "$n" = $((SIZE - SKIP)) ] || fail "upload received $n of $SIZE bytes"
    RATE=$(rate_of "$T/up")
}

# To the VPS: busybox nc in the VPS receives; nc on the host sends and times the whole
# transfer: with -N it closes its side at the end of its input and returns only when the
# receiver, having read everything, has closed too. (The VPS's busybox date has no %N; the
# shaper on this direction, an HTB class, has no second-long bucket to skip.)
download() {
    local port=$1 hexport s e
    hexport=$(printf '%04X' "$port")
    api_json POST "/v1/vps/$A/exec" "$(jq -nc --arg s "timeout 30 busybox nc -l -p $port >/dev/null" '{command: ["sh", "-c", $s]}')" &
    local ex=$!
    PIDS_TO_STOP+=("$ex")
    until_ok vexec_ok sh -c "cat /proc/net/tcp /proc/net/tcp6 | grep -q \":$hexport [0-9A-F:]* 0A\"" ||
        fail "listener in the VPS not up"
    s=$(date +%s%N)
    head -c "$DSIZE" /dev/zero | timeout 25 nc -N "$VPS" "$port" || fail "download send"
    e=$(date +%s%N)
    wait "$ex"
    echo "$DSIZE $s $e" >"$T/down"
    RATE=$(rate_of "$T/down")
}

vexec_ok() { vexec "$A" "$@"; [ "$EXEC_RC" = 0 ]; }

start_vpsd --bridge "$BR" --bridge-address "$HOST/24"
api_json POST /v1/vps "{\"name\":\"$A\",\"network\":{\"addresses\":[\"$VPS/24\"]},\"limits\":{\"net_egress_bits_per_s\":8000000,\"net_ingress_bits_per_s\":16000000}}"
expect_status 201 "create $A"
[ "$(jqb .config.limits.net_egress_bits_per_s)" = 8000000 ] || fail "egress limit not stored: $(cat "$BODY")"
api POST "/v1/vps/$A/start"
expect_status 200 "start $A"
vexec "$A" busybox ping -c1 -W2 "$HOST"
[ "$EXEC_RC" = 0 ] || fail "$A cannot reach the host"
ok "vps with limits started"

upload 5001; in_band "$RATE" 8000000 "from the VPS at 8 Mbit/s"
download 5002; in_band "$RATE" 16000000 "to the VPS at 16 Mbit/s"
ok "limits hold in both directions"

api_json PATCH "/v1/vps/$A" '{"limits":{"net_egress_bits_per_s":16000000,"net_ingress_bits_per_s":32000000}}'
expect_status 200 "raise the limits live"
upload 5003; in_band "$RATE" 16000000 "from the VPS at 16 Mbit/s"
download 5004; in_band "$RATE" 32000000 "to the VPS at 32 Mbit/s"
ok "raised limits apply live"

api_json PATCH "/v1/vps/$A" '{"limits":{"net_egress_bits_per_s":null,"net_ingress_bits_per_s":0}}'
expect_status 200 "lift the limits"
[ "$(jqb '.config.limits | has("net_egress_bits_per_s")')" = false ] || fail "limit still listed"
upload 5005; r=$RATE
[ "$r" -gt 64000000 ] || fail "unlimited upload only $r bits/s"
echo "  from the VPS unlimited: $r bits/s"
download 5006; r=$RATE
[ "$r" -gt 64000000 ] || fail "unlimited download only $r bits/s"
echo "  to the VPS unlimited: $r bits/s"
ok "lifted limits"

api_json PATCH "/v1/vps/$A" '{"limits":{"net_egress_bits_per_s":7999}}'
expect_error 400 invalid "net_egress_bits_per_s" "a rate below the minimum"
api_json PATCH "/v1/vps/$A" '{"limits":{"net_egress_bits_per_s":8000000}}'
expect_status 200 "limit again"
api POST "/v1/vps/$A/stop"
expect_status 200 "stop $A"
api DELETE "/v1/vps/$A"
expect_status 200 "destroy $A"
stop_vpsd || fail "vpsd exit status"
ip link del "$BR" 2>/dev/null
[ -z "$(nft list tables netdev 2>/dev/null | grep -E "vps-(bw-)?vh-$A")" ] || fail "nftables tables left"
left=$(ip -o link | grep -E "$BR|vh-$A")
[ -z "$left" ] || fail "interfaces left: $left"
ok "nothing left"
