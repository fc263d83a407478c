#!/bin/bash
# A VPS's network: a bridge made at the first networked start, a veth per VPS with its
# addresses and default route, name files in the rootfs, addresses changed live, traffic
# counters, networking that survives a SIGKILL of vpsd, and nothing left after destroy.
# Only 198.18.0.0/15 on a bridge of this test's own: no uplink, no NAT, no forwarding.
. "$(dirname "$0")/lib.sh"
command -v busybox >/dev/null || { echo "SKIP: needs busybox"; exit 77; }

BR=vt-b$(($$ % 100000))
# Host ends: vh-<name>; the names carry this test's pid so they cannot meet another run's.
A=na$(($$ % 100000))
B=nb$(($$ % 100000))

remove_bridge() { ip link del "$BR" 2>/dev/null; true; }
trap 'rc=$?; remove_bridge; ip link del "vh-$A" 2>/dev/null; ip link del "vh-$B" 2>/dev/null; (exit $rc); cleanup' EXIT

hping() { busybox ping -c1 -W2 "$1" >/dev/null 2>&1; }

start_vpsd --bridge "$BR" --bridge-address 198.18.90.1/24
ip link show "$BR" >/dev/null 2>&1 && fail "bridge made before any networked VPS started"

api_json POST /v1/vps "{\"name\":\"$A\",\"hostname\":\"a.example\",\"network\":{\"addresses\":[\"198.18.90.2/24\"],\"nameservers\":[\"198.18.90.53\"]}}"
expect_status 201 "create $A"
api_json POST /v1/vps "{\"name\":\"$B\",\"network\":{\"addresses\":[\"198.18.90.3/24\"]}}"
expect_status 201 "create $B"
for v in "$A" "$B"; do
    api POST "/v1/vps/$v/start"
    expect_status 200 "start $v"
done
ip -o link show "$BR" | grep -q "state UP\|,UP" || fail "bridge not up: $(ip -o link show "$BR")"
ip -o link show master "$BR" | grep -q "vh-$A" || fail "veth of $A not on the bridge"
ok "bridge and veths"

vexec "$A" ip -o addr show eth0
grep -q "198.18.90.2/24" "$T/out" || fail "address of $A: $(cat "$T/out")"
vexec "$A" ip route
grep -q "default via 198.18.90.1 dev eth0" "$T/out" || fail "default route of $A: $(cat "$T/out")"
vexec "$A" ping -c1 -W2 198.18.90.3
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping $B: $(cat "$T/out")"
vexec "$A" ping -c1 -W2 198.18.90.1
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping the host"
hping 198.18.90.2 || fail "the host cannot ping $A"
ok "addresses, default route, A pings B and the host, the host pings A"

vexec "$A" cat /etc/hosts
[ "$(cat "$T/out")" = "$(printf '127.0.0.1 localhost\n::1 localhost\n198.18.90.2 a.example')" ] ||
    fail "/etc/hosts: $(cat "$T/out")"
vexec "$A" cat /etc/resolv.conf
[ "$(cat "$T/out")" = "nameserver 198.18.90.53" ] || fail "resolv.conf: $(cat "$T/out")"
vexec "$A" cat /etc/hostname
[ "$(cat "$T/out")" = a.example ] || fail "hostname file: $(cat "$T/out")"
vexec "$A" stat -c '%u:%g %a' /etc/hosts
[ "$(cat "$T/out")" = "0:0 644" ] || fail "owner of /etc/hosts: $(cat "$T/out")"
ok "hosts, hostname and resolv.conf"

api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.90.2/24","198.18.90.4/24"]}}'
expect_status 200 "add an address live"
hping 198.18.90.4 || fail "added address does not answer"
api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.90.2/24"]}}'
expect_status 200 "remove an address live"
hping 198.18.90.4 && fail "removed address still answers"
hping 198.18.90.2 || fail "remaining address lost"
vexec "$A" ip route
grep -q "default via 198.18.90.1" "$T/out" || fail "default route lost: $(cat "$T/out")"
# Removing the first address of a subnet keeps the others (promote_secondaries).
api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.90.2/24","198.18.90.4/24"]}}'
expect_status 200 "add again"
api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.90.4/24"]}}'
expect_status 200 "remove the first address live"
hping 198.18.90.4 || fail "the other address went with the first"
vexec "$A" ip route
grep -q "default via 198.18.90.1" "$T/out" || fail "default route lost: $(cat "$T/out")"
api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.90.2/24"]}}'
expect_status 200 "back to the first address"
hping 198.18.90.2 || fail "first address back"
ok "addresses change live"

api GET "/v1/vps/$A/stats"
expect_status 200 "stats"
[ "$(jqb .network.rx_bytes)" -gt 0 ] && [ "$(jqb .network.tx_bytes)" -gt 0 ] &&
    [ "$(jqb .network.rx_packets)" -gt 0 ] && [ "$(jqb .network.tx_packets)" -gt 0 ] ||
    fail "network stats: $(cat "$BODY")"
ok "network stats"

kill -KILL "$VPSD_PID"; wait "$VPSD_PID" 2>/dev/null; VPSD_PID=
hping 198.18.90.2 || fail "network gone with vpsd"
start_vpsd --bridge "$BR" --bridge-address 198.18.90.1/24
vexec "$A" ping -c1 -W2 198.18.90.3
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping $B after the restart"
hping 198.18.90.2 || fail "the host cannot ping $A after the restart"
ok "network survives a SIGKILL of vpsd"

# B's root makes /etc a symlink: vpsd must not follow it, and B still starts.
vexec "$B" sh -c 'mv /etc /etc.real && ln -s /etc.real /etc && rm /etc.real/hosts'
[ "$EXEC_RC" = 0 ] || fail "plant the /etc symlink"
api POST "/v1/vps/$B/restart"
expect_status 200 "restart $B with /etc a symlink"
vexec "$B" test -e /etc.real/hosts
[ "$EXEC_RC" = 1 ] || fail "vpsd wrote through the /etc symlink"
grep -q "vps '$B': name files not written" "$T/vpsd.log" || fail "no warning for the /etc symlink"
vexec "$B" ping -c1 -W2 198.18.90.2
[ "$EXEC_RC" = 0 ] || fail "$B has no network after the restart"
ok "a symlinked /etc is not followed"

for v in "$A" "$B"; do
    api POST "/v1/vps/$v/stop"
    expect_status 200 "stop $v"
    [ "$(jqb .status.state)" = stopped ] || fail "$v did not stop"
    api DELETE "/v1/vps/$v"
    expect_status 200 "destroy $v"
done
ip -o link | grep -E "vh-($A|$B)" && fail "veths left after destroy"
ok "stop and destroy leave no veth"

stop_vpsd || fail "vpsd exit status"
remove_bridge
left=$(ip -o link | grep -E "$BR|vh-($A|$B)")
[ -z "$left" ] || fail "interfaces left: $left"
ok "nothing left"
