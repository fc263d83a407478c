#!/bin/bash
# Escape attempts from inside a running VPS, as its root. Each must fail; the attack and why
# it must fail are described in vps-attack.c.
. "$(dirname "$0")/../integration/lib.sh"
start_vpsd
api_json POST /v1/vps '{"name":"sec"}'
expect_status 201 "create"
install -m 0755 "$VPS_ATTACK" "$STATE/sec/rootfs/attack"
api POST /v1/vps/sec/start
expect_status 200 "start"

for a in mknod-block mount-block init-module kexec keyctl bpf settime sysrq sys-write kcore \
    kallsyms umount-mask umount-proc-ro remount-sys-rw fresh-proc fresh-sysfs ptrace-host overwrite-init dotdot; do
    vexec sec /attack "$a"
    [ "$EXEC_RC" = 0 ] || fail "$(cat "$T/out")"
    ok "$(cat "$T/out")"
done

# No fd of vpsd reaches the VPS: init has only stdio.
api GET /v1/vps/sec
INIT=$(jqb .status.pid)
n=$(ls /proc/"$INIT"/fd | wc -l)
[ "$n" -le 3 ] || fail "init has $n fds: $(ls -l /proc/"$INIT"/fd)"
vexec sec ls /proc/self/fd
[ "$(wc -w <"$T/out")" -le 4 ] || fail "exec'd process has extra fds: $(cat "$T/out")"
ok "no vpsd fd leaks into the vps"

# A symlink planted in the rootfs does not lead vpsd out of it on destroy.
mkdir "$T/outside" && touch "$T/outside/keep"
ln -s "$T/outside" "$STATE/sec/rootfs/evil"
api POST /v1/vps/sec/stop
api DELETE /v1/vps/sec
expect_status 200 "destroy"
[ -e "$T/outside/keep" ] || fail "destroy followed a planted symlink"
ok "destroy does not follow planted symlinks"
