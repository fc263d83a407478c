#!/bin/bash
# Spoofing from inside a VPS, as its root: frames written whole on eth0 with AF_PACKET that
# claim another VPS's IP or MAC, or answer ARP for its address. Each must be dropped where it
# enters the host (the nftables filter on the veth's host end, libvps/antispoof.c), or one
# VPS could impersonate another to the host and its neighbours (DESIGN.md: "no VPS can spoof
# another's MAC or IP"). A watcher on the host bridge counts the attack's frames until a
# legitimate "barrier" frame sent after them arrives, so no wait is a guess: the same veth
# delivers in order, and the barrier proves the send path works. Only 198.18.92.0/24 on a
# bridge of this test's own: no uplink, no NAT, no forwarding.
. "$(dirname "$0")/../integration/lib.sh"
SPOOF=$(realpath "${1:?usage: test-spoofing.sh VPS_SPOOF}")

BR=vt-s$(($$ % 100000))
A=sa$(($$ % 100000))
B=sb$(($$ % 100000))
trap 'rc=$?; ip link del "$BR" 2>/dev/null; ip link del "vh-$A" 2>/dev/null; ip link del "vh-$B" 2>/dev/null; (exit $rc); cleanup' EXIT

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
machex() { tr -d ':' <<<"$1"; }

start_vpsd --bridge "$BR" --bridge-address 198.18.92.1/24
for v in "$A:198.18.92.2" "$B:198.18.92.3"; do
    api_json POST /v1/vps "{\"name\":\"${v%%:*}\",\"network\":{\"addresses\":[\"${v#*:}/24\"]}}"
    expect_status 201 "create ${v%%:*}"
    install -m 0755 "$SPOOF" "$STATE/${v%%:*}/rootfs/spoof"
    api POST "/v1/vps/${v%%:*}/start"
    expect_status 200 "start ${v%%:*}"
done
BRMAC=$(cat "/sys/class/net/$BR/address")
vexec "$A" cat /sys/class/net/eth0/address
AMAC=$(cat "$T/out")
vexec "$B" cat /sys/class/net/eth0/address
BMAC=$(cat "$T/out")
vexec "$B" cat /sys/class/net/eth0/address
[ "$BMAC" = "$(cat "$T/out")" ] && [ "$AMAC" != "$BMAC" ] || fail "MACs: '$AMAC' '$BMAC'"

vexec "$A" ping -c1 -W2 198.18.92.1
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping the host: $(cat "$T/out")"
vexec "$A" ping -c1 -W2 198.18.92.3
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping $B: $(cat "$T/out")"
ok "legitimate traffic passes: $A pings the host and $B"

# attack NAME PATTERN_HEX COMMAND...: runs COMMAND in A, then A's legitimate barrier echo;
# fails unless the watcher on the bridge saw the barrier and no frame holding PATTERN.
attack() {
    local name=$1 pattern=$2 barrier=BARRIER-$RANDOM result
    shift 2
    rm -f "$T/watch"
    mkfifo "$T/watch"
    "$SPOOF" recv "$BR" 5000 "$(hex "$barrier")" "$pattern" >"$T/watch" &
    PIDS_TO_STOP+=($!)
    exec 5<"$T/watch"
    read -r -t 5 result <&5 && [ "$result" = ready ] || fail "$name: watcher not ready"
    vexec "$A" /spoof "$@"
    [ "$EXEC_RC" = 0 ] || fail "$name: the attack could not even be sent"
    vexec "$A" /spoof icmp eth0 "$BRMAC" self 198.18.92.2 198.18.92.1 "$barrier"
    [ "$EXEC_RC" = 0 ] || fail "$name: send the barrier"
    read -r -t 10 result <&5
    exec 5<&-
    [ "$result" = "seen 0" ] || fail "$name: watcher says '$result'"
}

# (1) An echo request from A with B's address: the host (and anything B talks to) would
# answer or believe B. The source IP is not among A's addresses, so the filter drops it.
attack "spoofed source IP" "$(hex SPOOF-IP)" icmp eth0 "$BRMAC" self 198.18.92.3 198.18.92.1 SPOOF-IP
ok "an IPv4 packet with $B's address as source does not reach the host"

# (2) A frame with B's MAC as its source: the bridge would learn B's MAC on A's port and hand
# A the frames meant for B. The source MAC is not A's, so the filter drops it.
attack "spoofed source MAC" "$(hex SPOOF-MAC)" icmp eth0 "$BRMAC" "$BMAC" 198.18.92.2 198.18.92.1 SPOOF-MAC
fdb=$(bridge fdb show br "$BR" 2>/dev/null | grep -i "^$BMAC " | grep -v "vh-$B")
[ -z "$fdb" ] || fail "the bridge learnt $B's MAC elsewhere: $fdb"
ok "a frame with $B's MAC as source does not reach the host, and the bridge keeps $B's MAC on its port"

# (3) A gratuitous ARP reply saying 198.18.92.3 is at A's MAC: the host's neighbour entry for
# B would point at A, which would then receive B's traffic. The sender IP is not among A's
# addresses, so the filter drops it and the host keeps B's MAC.
busybox ping -c1 -W2 198.18.92.3 >/dev/null 2>&1 || fail "the host cannot ping $B"
ip neigh show 198.18.92.3 dev "$BR" | grep -qi "$BMAC" || fail "no neighbour entry for $B"
attack "ARP for another's address" "$(machex "$AMAC")c6125c03" garp eth0 198.18.92.3
entry=$(ip neigh show 198.18.92.3 dev "$BR")
grep -qi "$BMAC" <<<"$entry" || fail "the host's neighbour entry for $B changed: $entry"
ok "a gratuitous ARP for $B's address leaves the host's entry for $B alone"

# The watcher does see what A may send: its own gratuitous ARP, through the same path.
rm -f "$T/watch" && mkfifo "$T/watch"
"$SPOOF" recv "$BR" 5000 "$(machex "$AMAC")c6125c02" "" >"$T/watch" &
PIDS_TO_STOP+=($!)
exec 5<"$T/watch"
read -r -t 5 result <&5 && [ "$result" = ready ] || fail "watcher not ready"
vexec "$A" /spoof garp eth0 198.18.92.2
read -r -t 10 result <&5
exec 5<&-
[ "$result" = "seen 0" ] || fail "$A's own gratuitous ARP did not arrive: '$result'"
vexec "$A" ping -c1 -W2 198.18.92.1
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping the host after the attacks"
ok "$A's own ARP and ping still pass"

# Addresses changed live: the filter follows them.
api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.92.2/24","198.18.92.4/24"]}}'
expect_status 200 "add an address to $A"
vexec "$A" ping -c1 -W2 -I 198.18.92.4 198.18.92.1
[ "$EXEC_RC" = 0 ] || fail "$A cannot use its added address: $(cat "$T/out")"
ok "an added address passes the filter"

for v in "$A" "$B"; do
    api POST "/v1/vps/$v/stop"
    expect_status 200 "stop $v"
    api DELETE "/v1/vps/$v"
    expect_status 200 "destroy $v"
done
# Every nftables table vpsd made for them (filters and policers) goes with the VPSes.
left=$(nft list tables netdev 2>/dev/null | grep -E "vps-(bw-)?vh-($A|$B)")
[ -z "$left" ] || fail "nftables tables left after destroy: $left"
stop_vpsd || fail "vpsd exit status"
ip link del "$BR" 2>/dev/null
left=$(ip -o link | grep -E "$BR|vh-($A|$B)")
[ -z "$left" ] || fail "interfaces left: $left"
ok "nothing left"
