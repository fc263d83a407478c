#!/bin/bash
# A VPS's files belong to its root either way: with idmapped mounts the rootfs keeps the
# template's ids on disk (0..65535) and is mapped at start; with chown (filesystems without
# idmapped mounts) it is stored in the VPS's host id range. Inside, both look the same.
. "$(dirname "$0")/lib.sh"

check_vps() { # NAME EXPECTED_DISK_UID_OF_BIN_BUSYBOX
    local name=$1 disk=$2 base
    base=$(jq -r .host_base "$STATE/$name/idmap.json")
    [ "$(stat -c %u "$STATE/$name/rootfs/bin/busybox")" = "${disk/BASE/$base}" ] || \
        fail "$name: bin/busybox on disk is owned by $(stat -c %u "$STATE/$name/rootfs/bin/busybox")"
    api POST "/v1/vps/$name/start"
    expect_status 200 "$name: start"
    vexec "$name" sh -c 'stat -c %u /bin/busybox; touch /root/made; stat -c %u /root/made'
    [ "$(cat "$T/out")" = $'0\n0' ] || fail "$name: ids inside: $(cat "$T/out")"
    [ "$(stat -c %u "$STATE/$name/rootfs/root/made")" = "${disk/BASE/$base}" ] || \
        fail "$name: a file made inside is owned by $(stat -c %u "$STATE/$name/rootfs/root/made") on disk"
    api POST "/v1/vps/$name/stop"
    expect_status 200 "$name: stop"
}

start_vpsd --rootfs-ids idmap
api_json POST /v1/vps '{"name":"idm"}'
expect_status 201 "create idm"
jq -e '.shifted | not' "$STATE/idm/idmap.json" >/dev/null || fail "idm: marked shifted"
check_vps idm 0
ok "idmapped rootfs: 0 on disk, root inside"
stop_vpsd

start_vpsd --rootfs-ids chown
api_json POST /v1/vps '{"name":"chw"}'
expect_status 201 "create chw"
jq -e '.shifted' "$STATE/chw/idmap.json" >/dev/null || fail "chw: not marked shifted"
check_vps chw BASE
ok "chowned rootfs: the vps's host range on disk, root inside"
# Both kinds coexist: the idmapped one still starts under a daemon that chowns new ones.
check_vps idm 0
ok "both kinds run side by side"

"$VPSD" --rootfs-ids sometimes 2>/dev/null; [ $? = 2 ] || fail "bad --rootfs-ids accepted"
