#!/bin/bash
# A VPS's user and network namespaces are pinned under <run-dir>/<name>/ns/ from its first
# start to its destroy: a stopped VPS keeps its veth and addresses (the kernel still answers
# ping), the next start reuses the same network namespace, addresses change on a stopped
# VPS, a SIGKILL of vpsd keeps the pins, and destroy unpins and removes everything.
# Only 198.18.95.0/24 on a bridge of this test's own: no uplink, no NAT, no forwarding.
. "$(dirname "$0")/lib.sh"
command -v busybox >/dev/null || { echo "SKIP: needs busybox"; exit 77; }
command -v findmnt >/dev/null || { echo "SKIP: needs findmnt"; exit 77; }

BR=vt-p$(($$ % 100000))
P=pp$(($$ % 100000))
trap 'rc=$?; ip link del "$BR" 2>/dev/null; ip link del "vh-$P" 2>/dev/null; (exit $rc); cleanup' EXIT

hping() { busybox ping -c1 -W2 "$1" >/dev/null 2>&1; }
pins() { findmnt -rn -o TARGET | grep "^$RUN/$P/ns/" | sort | tr '\n' ' '; }
expect_pins() {
    [ "$(pins)" = "$RUN/$P/ns/net $RUN/$P/ns/user " ] || fail "$1: pins are '$(pins)'"
}
# The inode of the network namespace the VPS's init runs in.
init_netns() {
    api GET "/v1/vps/$P"
    expect_status 200 "status of $P"
    local link
    link=$(readlink "/proc/$(jqb .status.pid)/ns/net") || fail "no init"
    link=${link#net:[}
    echo "${link%]}"
}

start_vpsd --bridge "$BR" --bridge-address 198.18.95.1/24
api_json POST /v1/vps "{\"name\":\"$P\",\"network\":{\"addresses\":[\"198.18.95.2/24\"]}}"
expect_status 201 "create $P"
[ -z "$(pins)" ] || fail "pinned before the first start"
api POST "/v1/vps/$P/start"
expect_status 200 "start $P"
expect_pins "after the first start"
[ "$(stat -c %a "$RUN/$P/ns")" = 700 ] || fail "mode of the ns dir"
INODE=$(stat -L -c %i "$RUN/$P/ns/net")
[ "$(init_netns)" = "$INODE" ] || fail "the init does not run in the pinned netns"
hping 198.18.95.2 || fail "the host cannot ping $P"
ok "namespaces pinned at the first start"

api POST "/v1/vps/$P/stop"
expect_status 200 "stop $P"
[ "$(jqb .status.state)" = stopped ] || fail "$P did not stop"
expect_pins "after stop"
ip link show "vh-$P" >/dev/null 2>&1 || fail "veth gone with the stop"
hping 198.18.95.2 || fail "the stopped VPS's address does not answer"
ok "stop keeps the pins, the veth and the address"

api_json PATCH "/v1/vps/$P" '{"network":{"addresses":["198.18.95.2/24","198.18.95.3/24"]}}'
expect_status 200 "add an address to a stopped vps"
hping 198.18.95.3 || fail "address added while stopped does not answer"
api_json PATCH "/v1/vps/$P" '{"network":{"addresses":["198.18.95.2/24"]}}'
expect_status 200 "remove an address from a stopped vps"
hping 198.18.95.3 && fail "address removed while stopped still answers"
hping 198.18.95.2 || fail "remaining address lost"
ok "addresses change on a stopped vps"

api POST "/v1/vps/$P/start"
expect_status 200 "start $P again"
[ "$(stat -L -c %i "$RUN/$P/ns/net")" = "$INODE" ] || fail "pin replaced at the second start"
[ "$(init_netns)" = "$INODE" ] || fail "the second start made a new netns"
vexec "$P" ip -o addr show eth0
[ "$EXEC_RC" = 0 ] || fail "exec after the second start"
grep -q "198.18.95.2/24" "$T/out" || fail "address after the second start: $(cat "$T/out")"
grep -q "198.18.95.3/" "$T/out" && fail "removed address back: $(cat "$T/out")"
vexec "$P" ping -c1 -W2 198.18.95.1
[ "$EXEC_RC" = 0 ] || fail "$P cannot ping the host after the second start"
hping 198.18.95.2 || fail "the host cannot ping $P after the second start"
ok "the second start reuses the pinned netns"

kill -KILL "$VPSD_PID"; wait "$VPSD_PID" 2>/dev/null; VPSD_PID=
start_vpsd --bridge "$BR" --bridge-address 198.18.95.1/24
expect_pins "after a SIGKILL of vpsd (running)"
api POST "/v1/vps/$P/stop"
expect_status 200 "stop $P after the restart"
kill -KILL "$VPSD_PID"; wait "$VPSD_PID" 2>/dev/null; VPSD_PID=
start_vpsd --bridge "$BR" --bridge-address 198.18.95.1/24
expect_pins "after a SIGKILL of vpsd (stopped)"
hping 198.18.95.2 || fail "network of the stopped vps gone with vpsd"
api POST "/v1/vps/$P/start"
expect_status 200 "start $P after the restarts"
[ "$(init_netns)" = "$INODE" ] || fail "a new netns after the restarts"
api POST "/v1/vps/$P/stop"
expect_status 200 "stop $P"
ok "pins survive SIGKILLs of vpsd"

api DELETE "/v1/vps/$P"
expect_status 200 "destroy $P"
[ -z "$(pins)" ] || fail "pins left after destroy: $(pins)"
[ ! -e "$RUN/$P" ] || fail "run dir left after destroy"
ip link show "vh-$P" >/dev/null 2>&1 && fail "veth left after destroy"
hping 198.18.95.2 && fail "address still answers after destroy"
ok "destroy unpins and removes the network"

stop_vpsd || fail "vpsd exit status"
ip link del "$BR" 2>/dev/null
left=$(ip -o link | grep -E "$BR|vh-$P")
[ -z "$left" ] || fail "interfaces left: $left"
ok "nothing left"
