#!/bin/bash
# Real Debian servers in VPSes made from the built-in "host-usr" template (the host's /usr
# bound read-only), started on demand by their first connection:
#   ssh:    OpenSSH's sshd in inetd mode (-i), one per connection; the first `ssh` to a
#           stopped VPS starts it and gets a shell as the VPS's root in the VPS's namespaces.
#   httpd:  busybox httpd in inetd mode serving a host directory bound read-only; curl gets
#           the page from a stopped VPS.
#   cold:   200 concurrent first connections to a stopped VPS's accept-mode service all get
#           their answer.
# Also: the bind mounts as the VPS sees them (root-owned, read-only, locked), a start whose
# bind cannot be made fails with a message naming it and leaves nothing behind, and the
# host's init seen through /usr is never booted while a rootfs's own /sbin/init is.
# Only 198.18.98.0/24 on a bridge of this test's own: no uplink, no NAT, no forwarding.
. "$(dirname "$0")/lib.sh"
for c in sshd ssh ssh-keygen nc curl; do
    command -v "$c" >/dev/null || { echo "SKIP: needs $c (contrib/install-deps.sh)"; exit 77; }
done
[ -x /usr/bin/busybox ] || { echo "SKIP: needs busybox-static in /usr/bin"; exit 77; }

BR=vt-r$(($$ % 100000))
S=rs$(($$ % 100000)) # ssh
H=rh$(($$ % 100000)) # httpd
C=rc$(($$ % 100000)) # 200 cold connections
F=rf$(($$ % 100000)) # binds that fail
O=ro$(($$ % 100000)) # an init of its own
trap 'rc=$?; ip link del "$BR" 2>/dev/null
      for v in "$S" "$H" "$C" "$F"; do ip link del "vh-$v" 2>/dev/null; done
      (exit $rc); cleanup' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
state() {
    api GET "/v1/vps/$1"
    expect_status 200 "status of $1"
    jqb .status.state
}
# first_start NAME: the first start pins the VPS's namespaces, where vpsd then listens for
# its services while it is stopped; stopped again at once.
first_start() {
    api POST "/v1/vps/$1/start"
    expect_status 200 "first start of $1"
}
stop() {
    api POST "/v1/vps/$1/stop"
    expect_status 200 "stop $1"
    [ "$(state "$1")" = stopped ] || fail "$1 did not stop"
}
# The event stream from the start, followed until an event matches the jq filter (10 s).
wait_event() {
    local line
    exec 5< <(timeout 10 curl -s -N --unix-socket "$SOCK" 'http://localhost/v1/events?since=0')
    while read -r -u 5 line; do
        if jq -e "$1" <<<"$line" >/dev/null; then
            exec 5<&-
            echo "$line"
            return 0
        fi
    done
    exec 5<&-
    return 1
}
: >"$T/empty"

start_vpsd --bridge "$BR" --bridge-address 198.18.98.1/24
# Binds are idmapped like the rootfs, so the host's root owns them in the VPS too; where the
# rootfs is stored shifted instead (no idmapped mounts here), the host's root is nobody.
HOST_ROOT=root
grep -q "by chown at create" "$T/vpsd.log" && HOST_ROOT=nobody
api GET /v1/templates/host-usr
expect_status 200 "show host-usr"
[ "$(jqb -c '.mounts[0]')" = '{"readonly":true,"source":"/usr","target":"/usr"}' ] ||
    fail "host-usr: default mounts: $(cat "$BODY")"
ok "host-usr is built at start, with /usr as its default mount"

# ---- ssh ----

api_json POST /v1/vps "{\"name\":\"$S\",\"template\":\"host-usr\",
  \"network\":{\"addresses\":[\"198.18.98.2/24\"]},
  \"services\":[{\"name\":\"ssh\",\"command\":[\"/usr/sbin/sshd\",\"-i\",\"-e\"],\"mode\":\"accept\",
                 \"user\":\"0\",\"listen\":[\"198.18.98.2:22\"]}]}"
expect_status 201 "create $S"
[ "$(jqb -c '.config.mounts[0]')" = '{"source":"/usr","target":"/usr","readonly":true}' ] ||
    fail "$S did not get host-usr's mounts: $(jqb -c .config.mounts)"
first_start "$S"
vin "$S" "$T/empty" sh -c 'stat -c "%U %a" /usr /usr/sbin/sshd; cat /proc/1/comm
    touch /usr/x 2>/dev/null && echo writable; mount -o remount,bind,rw /usr 2>/dev/null &&
    echo remounted; umount /usr 2>/dev/null && echo unmounted; grep " /usr " /proc/self/mountinfo'
[ "$(sed -n 1,3p "$T/out")" = "$HOST_ROOT 755
$HOST_ROOT 755
vps-init" ] || fail "/usr in $S: $(cat "$T/out")"
grep -qE ' /usr /usr ro,nosuid,nodev' "$T/out" || fail "/usr is not ro,nosuid,nodev: $(cat "$T/out")"
grep -qE 'writable|remounted|unmounted' "$T/out" && fail "/usr could be changed: $(cat "$T/out")"
ok "/usr in the vps: the host's, $HOST_ROOT's, read-only, locked; vps-init is PID 1, not the host's init"

printf '%s\n' 'PermitRootLogin prohibit-password' 'PasswordAuthentication no' 'UsePAM no' \
    'HostKey /etc/ssh/ssh_host_ed25519_key' >"$T/sshd_config"
vin "$S" "$T/sshd_config" sh -c 'cat >/etc/ssh/sshd_config'
vin "$S" "$T/empty" sh -c "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key &&
    /usr/sbin/sshd -t"
ssh-keygen -q -t ed25519 -N '' -C "vps-test-$$" -f "$T/id" || fail "ssh-keygen on the host"
vin "$S" "$T/id.pub" sh -c 'umask 077; mkdir -p /root/.ssh; cat >/root/.ssh/authorized_keys
    stat -c "%U %a" /root /root/.ssh /root/.ssh/authorized_keys'
[ "$(tr -s '\n' ' ' <"$T/out")" = "root 700 root 700 root 600 " ] ||
    fail "authorized_keys ownership: $(cat "$T/out")"
stop "$S"

t0=$(now_ms)
ssh -F /dev/null -i "$T/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o ConnectTimeout=20 -o LogLevel=ERROR root@198.18.98.2 \
    'echo hi; hostname; id -u; cat /proc/1/comm; ps -e -o comm= | wc -l' >"$T/ssh" 2>"$T/ssh.err" ||
    fail "ssh: $(cat "$T/ssh.err")"
t1=$(now_ms)
[ "$(sed -n 1,4p "$T/ssh")" = "hi
$S
0
vps-init" ] || fail "ssh session: $(cat "$T/ssh") $(cat "$T/ssh.err")"
# vps-init, sshd and its session's children: the VPS's pid namespace, not the host's.
[ "$(sed -n 5p "$T/ssh")" -le 8 ] || fail "the session sees $(sed -n 5p "$T/ssh") processes"
[ "$(state "$S")" = running ] || fail "ssh did not start $S"
ok "ssh to a stopped vps starts it; root in its namespaces answers ($((t1 - t0)) ms)"

wait_event "select(.type == \"service_exited\" and .vps == \"$S\" and .service == \"ssh\")" \
    >/dev/null || fail "no service_exited event for ssh"
for _ in $(seq 50); do
    vin "$S" "$T/empty" ps -e -o comm=
    grep -qx sshd "$T/out" || break
done
grep -qx sshd "$T/out" && fail "sshd still runs after the session: $(cat "$T/out")"
ok "no sshd is left after the session (one per connection)"

# ---- busybox httpd serving a host directory ----

mkdir "$T/www"
echo "hello from $H" >"$T/www/index.html"
api_json POST /v1/vps "{\"name\":\"$H\",\"template\":\"host-usr\",
  \"network\":{\"addresses\":[\"198.18.98.3/24\"]},
  \"mounts\":[{\"source\":\"/usr\",\"target\":\"/usr\"},{\"source\":\"$T/www/\",\"target\":\"/srv\"}],
  \"services\":[{\"name\":\"www\",\"command\":[\"/bin/busybox\",\"httpd\",\"-i\",\"-h\",\"/srv\"],
                 \"mode\":\"accept\",\"user\":\"0\",\"listen\":[\"198.18.98.3:80\"]}]}"
expect_status 201 "create $H"
[ "$(jqb -c '[.config.mounts[].source]')" = "[\"/usr\",\"$T/www\"]" ] ||
    fail "$H: mounts as given, canonical: $(jqb -c .config.mounts)"
first_start "$H"
vin "$H" "$T/empty" sh -c 'stat -c "%U" /srv/index.html; touch /srv/x 2>/dev/null && echo writable; :'
[ "$(cat "$T/out")" = "$HOST_ROOT" ] || fail "/srv in $H: $(cat "$T/out")"
stop "$H"
t0=$(now_ms)
page=$(curl -sS --max-time 20 http://198.18.98.3/index.html) || fail "curl: no answer"
t1=$(now_ms)
[ "$page" = "hello from $H" ] || fail "curl got '$page'"
[ "$(state "$H")" = running ] || fail "the request did not start $H"
ok "busybox httpd: a request starts the vps and gets the page from a host directory ($((t1 - t0)) ms)"

# ---- 200 concurrent first connections ----

api_json POST /v1/vps "{\"name\":\"$C\",\"template\":\"host-usr\",
  \"network\":{\"addresses\":[\"198.18.98.4/24\"]},
  \"services\":[{\"name\":\"echo\",\"command\":[\"/bin/cat\"],\"mode\":\"accept\",\"user\":\"0\",
                 \"listen\":[\"198.18.98.4:7000\"]}]}"
expect_status 201 "create $C"
first_start "$C"
stop "$C"
mkdir "$T/c"
pids=()
t0=$(now_ms)
for i in $(seq 200); do
    printf 'client %d\n' "$i" | nc -N -w 20 198.18.98.4 7000 >"$T/c/$i" 2>"$T/c/$i.err" &
    pids+=($!)
    PIDS_TO_STOP+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t1=$(now_ms)
good=0
for i in $(seq 200); do
    [ "$(cat "$T/c/$i")" = "client $i" ] && good=$((good + 1))
done
activated=$(grep -c "vps '$C': service 'echo' activated" "$T/vpsd.log")
if [ "$good" != 200 ]; then
    for i in $(seq 200); do
        [ "$(cat "$T/c/$i")" = "client $i" ] || echo "client $i: '$(cat "$T/c/$i")' $(cat "$T/c/$i.err")"
    done | head -n 10 >&2
    fail "$good of 200 concurrent first connections answered ($activated activations)"
fi
[ "$(state "$C")" = running ] || fail "the connections did not start $C"
ok "200 concurrent first connections to a stopped vps: all answered in $((t1 - t0)) ms ($activated activations)"

# ---- binds that cannot be made ----

api_json POST /v1/vps "{\"name\":\"$F\",\"template\":\"host-usr\",
  \"network\":{\"addresses\":[\"198.18.98.9/24\"]},
  \"mounts\":[{\"source\":\"/usr\",\"target\":\"/usr\"},{\"source\":\"$T/nonexistent\",\"target\":\"/srv\"}]}"
expect_status 201 "create $F"
api POST "/v1/vps/$F/start"
expect_error 400 invalid "mount '$T/nonexistent' on '/srv': the source does not exist on the host" \
    "start with a missing source"
[ "$(state "$F")" = stopped ] || fail "$F runs after a failed start"
ls -d /sys/fs/cgroup/*/"$CGPREFIX/$F" /sys/fs/cgroup/"$CGPREFIX/$F" 2>/dev/null &&
    fail "a failed start left its cgroup"
[ -e "/sys/class/net/vh-$F" ] && fail "a failed first start left its veth"
findmnt -rn -o TARGET | grep -q "^$RUN/$F/" && fail "a failed first start left pinned namespaces"
for bad in "{\"source\":\"$T/www\",\"target\":\"/srv/none\"}:the target does not exist in the rootfs" \
    "{\"source\":\"$T/www\",\"target\":\"/var/run\"}:the target is or goes through a symlink" \
    "{\"source\":\"$T/www/index.html\",\"target\":\"/srv\"}:the target is not a regular file"; do
    api_json PATCH "/v1/vps/$F" "{\"mounts\":[${bad%%:the *}]}"
    expect_status 200 "patch $F"
    api POST "/v1/vps/$F/start"
    expect_error 400 invalid ": the ${bad#*:the }" "start with ${bad%%:the *}"
done
api_json PATCH "/v1/vps/$F" "{\"mounts\":[{\"source\":\"/usr\",\"target\":\"/usr\"}]}"
expect_status 200 "patch $F"
api POST "/v1/vps/$F/start"
expect_status 200 "start $F with its binds fixed"
ok "a bind that cannot be made fails the start, names itself, and leaves nothing behind"

# The rule that keeps the host's init out (above) still boots an init the rootfs has.
api_json POST /v1/vps "{\"name\":\"$O\"}"
expect_status 201 "create $O"
printf '#!/bin/sh\ntrap "exit 0" TERM\nwhile :; do sleep 1 & wait $!; done\n' >"$STATE/$O/rootfs/sbin/init"
chmod 0755 "$STATE/$O/rootfs/sbin/init"
api POST "/v1/vps/$O/start"
expect_status 200 "start $O"
vin "$O" "$T/empty" cat /proc/1/comm
[ "$(cat "$T/out")" = init ] || fail "$O did not boot its own /sbin/init: $(cat "$T/out")"
ok "an /sbin/init on the rootfs is booted"

for v in "$S" "$H" "$C" "$F" "$O"; do
    stop "$v"
    api DELETE "/v1/vps/$v"
    expect_status 200 "destroy $v"
done
stop_vpsd || fail "vpsd did not stop cleanly"
