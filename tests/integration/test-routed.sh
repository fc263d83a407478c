#!/bin/bash
# Routed mode (--network-mode routed): no bridge; the VPS's addresses as /32 inside with a
# default route via 169.254.0.1 on-link; a host route per address to the VPS's host end;
# addresses changed live; nothing left after stop and destroy. Only 198.18.96.0/24, and only
# host <-> VPS traffic: no forwarding is enabled.
. "$(dirname "$0")/lib.sh"
command -v busybox >/dev/null || { echo "SKIP: needs busybox"; exit 77; }

# The bridge vpsd is told of: routed mode must never make it.
BR=vt-r$(($$ % 100000))
A=ra$(($$ % 100000))
HIF=vh-$A

trap 'rc=$?; ip link del "$HIF" 2>/dev/null; ip link del "$BR" 2>/dev/null; (exit $rc); cleanup' EXIT

hping() { busybox ping -c1 -W2 "$1" >/dev/null 2>&1; }
host_route() { ip -o route show "$1" dev "$HIF" 2>/dev/null; }

start_vpsd --network-mode routed --bridge "$BR"

api_json POST /v1/vps "{\"name\":\"$A\",\"network\":{\"addresses\":[\"198.18.96.2/24\",\"198.18.96.3/24\"]}}"
expect_status 201 "create $A"
api POST "/v1/vps/$A/start"
expect_status 200 "start $A"
ip -o link show "$HIF" | grep -q "state UP\|,UP" || fail "host end not up: $(ip -o link show "$HIF")"
ip -o link show "$HIF" | grep -q master && fail "host end is on a bridge"
ip link show "$BR" >/dev/null 2>&1 && fail "a bridge was made in routed mode"
[ "$(cat "/proc/sys/net/ipv4/conf/$HIF/proxy_arp")" = 1 ] || fail "no proxy ARP on $HIF"
ok "veth on no bridge, proxy ARP"

vexec "$A" ip -o addr show eth0
grep -q "198.18.96.2/32" "$T/out" && grep -q "198.18.96.3/32" "$T/out" ||
    fail "addresses of $A: $(cat "$T/out")"
grep -q "/24" "$T/out" && fail "a /24 inside: $(cat "$T/out")"
vexec "$A" ip route
grep -q "default via 169.254.0.1 dev eth0" "$T/out" || fail "default route of $A: $(cat "$T/out")"
for a in 2 3; do
    ip route get "198.18.96.$a" | grep -q "dev $HIF" ||
        fail "198.18.96.$a not routed to $HIF: $(ip route get "198.18.96.$a")"
    hping "198.18.96.$a" || fail "the host cannot ping 198.18.96.$a"
done
vexec "$A" ping -c1 -W2 169.254.0.1
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping the host: $(cat "$T/out")"
ok "/32 addresses, default via 169.254.0.1, host routes, pings both ways"

api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.96.2/24","198.18.96.3/24","198.18.96.4/24"]}}'
expect_status 200 "add an address live"
[ -n "$(host_route 198.18.96.4)" ] || fail "no host route to the added address"
hping 198.18.96.4 || fail "added address does not answer"
api_json PATCH "/v1/vps/$A" '{"network":{"addresses":["198.18.96.2/24","198.18.96.3/24"]}}'
expect_status 200 "remove an address live"
[ -z "$(host_route 198.18.96.4)" ] || fail "host route to the removed address left"
hping 198.18.96.4 && fail "removed address still answers"
vexec "$A" ip -o addr show eth0
grep -q "198.18.96.4" "$T/out" && fail "removed address still inside: $(cat "$T/out")"
hping 198.18.96.2 || fail "remaining address lost"
ok "addresses change live"

api POST "/v1/vps/$A/restart"
expect_status 200 "restart $A"
hping 198.18.96.2 || fail "the host cannot ping $A after a restart"
vexec "$A" ping -c1 -W2 169.254.0.1
[ "$EXEC_RC" = 0 ] || fail "$A cannot ping the host after a restart: $(cat "$T/out")"
ok "routed network after a restart"

api POST "/v1/vps/$A/stop"
expect_status 200 "stop $A"
[ "$(jqb .status.state)" = stopped ] || fail "$A did not stop"
# A stopped VPS may keep its network (its namespace pinned); a destroyed one keeps nothing.
api DELETE "/v1/vps/$A"
expect_status 200 "destroy $A"
ip link show "$HIF" >/dev/null 2>&1 && fail "veth left after destroy"
left=$(ip route show | grep -F "198.18.96.")
[ -z "$left" ] || fail "host routes left after destroy: $left"
ok "stop and destroy leave no veth and no route"

stop_vpsd || fail "vpsd exit status"
ip link show "$BR" >/dev/null 2>&1 && fail "a bridge was made in routed mode"
left=$(ip -o link | grep -E "$BR|$HIF")
[ -z "$left" ] || fail "interfaces left: $left"
ok "nothing left"
