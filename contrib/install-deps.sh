#!/bin/sh
# Installs what vps needs to build, test and run on Debian 12, from Debian's archive only.
set -eu
DEPS="meson ninja-build pkg-config gcc clang jq curl
libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libarchive-dev check
libcap-dev libseccomp-dev libc6-dev libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev
busybox-static util-linux netcat-openbsd nftables"
missing=
for p in $DEPS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
