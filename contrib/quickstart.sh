#!/bin/bash
# vps quickstart: on a fresh Debian 12 machine, as root, from a clone of the repository:
# installs the build dependencies, builds, installs to the meson prefix (/usr/local),
# starts vpsd (as a systemd unit when systemd runs the machine, else in the background),
# then creates, starts and looks into a demo VPS, and gives it an on-demand service that a
# request to a shared front address starts, VPS and all. Safe to run again: every step checks
# what is already there. It never stops or removes anything; the end says how.
set -euo pipefail
cd "$(dirname "$0")/.."

VPS=demo
# The host address where vpsd routes demo.example to the demo VPS (a shared front address).
FRONT=${VPS_DEMO_FRONT:-127.0.0.1:18080}
RUN_DIR=/run/vps
SOCK=$RUN_DIR/vpsd.sock
PIDFILE=$RUN_DIR/vpsd.pid
LOG=/var/log/vpsd.log
GROUP=vps-admin

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say() { printf '%s\n' "$*"; }
# Prints a command, then runs it.
run() {
    printf '$ %s\n' "$*"
    "$@"
}
die() {
    printf 'quickstart: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "run me as root (I install packages, /usr/local files and a daemon)"

step "Build dependencies (Debian packages)"
run ./contrib/install-deps.sh

step "Build"
[ -f build/build.ninja ] || run meson setup build --buildtype=release
run ninja -C build

step "Install"
# Every file, every time: build/meson-logs/install-log.txt then lists all of them, which is
# what 'ninja -C build uninstall' removes (--only-changed would leave them out).
run meson install -C build --quiet
# Where meson put things: an existing build/ may have another prefix than /usr/local.
opt() { meson introspect build --buildoptions | jq -r --arg n "$1" '.[] | select(.name == $n) | .value'; }
dir() { case "$1" in /*) echo "$1" ;; *) echo "$PREFIX/$1" ;; esac; }
PREFIX=$(opt prefix)
SBINDIR=$(dir "$(opt sbindir)")
BINDIR=$(dir "$(opt bindir)")
UNIT=$PREFIX/lib/systemd/system/vpsd.service
export PATH=$BINDIR:$SBINDIR:$PATH
say "vpsd: $SBINDIR/vpsd, vpsctl: $BINDIR/vpsctl, unit: $UNIT"

step "Admin group '$GROUP' (its members may use the API like root)"
if getent group "$GROUP" >/dev/null; then
    say "exists"
else
    run groupadd --system "$GROUP"
fi

step "vpsd"
api_up() { curl -sf --max-time 5 --unix-socket "$SOCK" http://localhost/v1/host >/dev/null 2>&1; }

# Starts vpsd in the background and waits for its READY=1 on a fifo (--notify-fd).
start_background() {
    local tmp pid line=
    tmp=$(mktemp -d)
    mkfifo "$tmp/ready"
    mkdir -p "$RUN_DIR"
    printf '$ setsid %s --notify-fd 3 3>FIFO >>%s 2>&1 &\n' "$SBINDIR/vpsd" "$LOG"
    # setsid: vpsd does not belong to this terminal's session, so closing it leaves vpsd be.
    setsid "$SBINDIR/vpsd" --notify-fd 3 3>"$tmp/ready" </dev/null >>"$LOG" 2>&1 &
    pid=$!
    # EOF (vpsd died before it was ready) or 60 s without an answer both end the read.
    read -r -t 60 line <"$tmp/ready" || true
    rm -rf "$tmp"
    if [ "$line" != "READY=1" ]; then
        tail -n 20 "$LOG" >&2 || true
        die "vpsd did not become ready (log: $LOG)"
    fi
    echo "$pid" >"$PIDFILE"
    say "vpsd is ready: pid $pid (in $PIDFILE), log $LOG"
}

if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ]; then
    [ -f "$UNIT" ] || die "meson did not install '$UNIT'"
    run systemctl daemon-reload
    run systemctl enable vpsd
    run systemctl start vpsd # Type=notify: returns once vpsd serves its socket
    STOP_VPSD="systemctl disable --now vpsd"
    LOG_HINT="journalctl -u vpsd"
else
    say "systemd is not running this machine: vpsd runs in the background"
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = vpsd ] && api_up; then
        say "vpsd is already running: pid $pid (from $PIDFILE)"
        # /proc/PID/exe still reads the binary it started from, even once replaced.
        if ! cmp -s "/proc/$pid/exe" "$SBINDIR/vpsd"; then
            say "note: it runs an older build; 'kill $pid' and run me again to use the new" \
                "one (running VPSes keep running and are re-adopted)"
        fi
    elif api_up; then
        die "another vpsd already answers on $SOCK (not the one in $PIDFILE): stop it or use it"
    else
        start_background
    fi
    STOP_VPSD="kill \$(cat $PIDFILE)"
    LOG_HINT=$LOG
fi

state() { vpsctl --json show "$VPS" | jq -r .status.state; }

step "The demo VPS '$VPS'"
if vpsctl list --names | grep -qx "$VPS"; then
    say "'$VPS' exists"
else
    # From the default template, "minimal" (busybox; vpsd builds it on first use).
    run vpsctl create "$VPS"
fi
if [ "$(state)" = running ]; then say "'$VPS' is running"; else run vpsctl start "$VPS"; fi

step "Processes inside '$VPS' (its own pid namespace: its init is pid 1)"
run vpsctl exec "$VPS" -- ps
step "Its host name (its own UTS namespace)"
run vpsctl exec "$VPS" -- hostname

# shellcheck disable=SC2016 # expanded inside the VPS, by its shell
# An HTTP answer from busybox sh: it reads the request head to its empty line first, so the
# client gets the answer and not a reset for unread bytes.
HELLO='while IFS= read -r l && [ "$l" != "$(printf "\r")" ]; do :; done
printf "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from %s, started on demand\n" "$(hostname)"'
step "An on-demand service: vpsd holds the socket, '$VPS' runs nothing until a request comes"
if ! vpsctl service list "$VPS" --names | grep -qx hello; then
    run vpsctl service add "$VPS" hello --match "front=$FRONT,http_host=demo.example" \
        -- /bin/sh -c "$HELLO"
fi
run vpsctl stop "$VPS"
say "state: $(state)"
run curl -sS --max-time 10 -H 'Host: demo.example' "http://$FRONT/"
say "state: $(state) (the request started it)"
run vpsctl service show "$VPS" hello

STOP_DEMO="vpsctl stop $VPS && vpsctl destroy $VPS"
step "Done"
cat <<EOF
'$VPS' is running. Try: vpsctl list; vpsctl show $VPS; vpsctl events;
curl -H 'Host: demo.example' http://$FRONT/ after 'vpsctl stop $VPS'.

Stop and remove the demo VPS:
    $STOP_DEMO
Stop vpsd (VPSes keep running without it, so stop them first):
    $STOP_VPSD
vpsd's log: $LOG_HINT
EOF
