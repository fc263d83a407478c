#!/bin/sh
# Installs what vps needs to build, test and run on Debian 12, from Debian's archive only.
# Among them are the real servers and clients the integration tests run inside VPSes
# (OpenSSH, nginx, openssl, curl): their packages must not start those daemons on the host.
set -eu
DEPS="meson ninja-build pkg-config gcc clang jq curl
libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libarchive-dev check
libcap-dev libseccomp-dev libc6-dev libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev
busybox-static util-linux netcat-openbsd nftables
openssh-server openssh-client nginx-light python3 openssl debootstrap"
POLICY=/usr/sbin/policy-rc.d

missing=
for p in $DEPS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d before a maintainer script starts a
# daemon; 101 is "action forbidden". One that is there already (a container's) stays as it
# is; ours goes when the script ends, however it ends.
made_policy=
remove_policy() { [ -z "$made_policy" ] || rm -f "$POLICY"; }
if [ ! -e "$POLICY" ]; then
    trap remove_policy EXIT
    trap 'exit 1' INT TERM HUP
    printf '#!/bin/sh\n# Written by vps contrib/install-deps.sh for the length of an install.\nexit 101\n' >"$POLICY"
    chmod 0755 "$POLICY"
    made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
