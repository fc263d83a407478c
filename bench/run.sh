#!/bin/bash
# bench/run.sh [BUILD_DIR]: the benchmarks of on-demand activation and of proxy mode's relay
# (bench/README.md), each against peers run side by side in this same run on this machine.
# Prints a table of medians and ratios on stdout, progress on stderr.
#
# Needs root, cc (with a static libc: Debian's libc6-dev), curl, jq, iproute2, nft and
# systemd-socket-activate; socat is installed with apt-get when it is missing (set
# BENCH_NO_INSTALL=1 to skip it instead). Runs a private vpsd from BUILD_DIR (default ./build)
# on temporary state and run dirs, with its own cgroup prefix vps-bench-PID and its own bridge
# vt-bNNNNN on 198.18.103.0/24, and removes everything it made on exit, also on failure or ^C.
#
# Knobs (environment): BENCH_N connections per peer in the latency runs (1000), BENCH_COLD cold
# starts per mode (30), BENCH_SPACED rounds of the run with pauses (30), BENCH_BYTES bytes per
# throughput run (1 GiB), BENCH_REPS throughput runs per peer and direction (3), BENCH_IDLE_N
# VPSes of the idle-cost run (100; 0 skips it).
set -u

BUILD=${1:-./build}
SRC=$(cd "$(dirname "$0")" && pwd)
N=${BENCH_N:-1000}
COLD=${BENCH_COLD:-30}
BYTES=${BENCH_BYTES:-1073741824}
REPS=${BENCH_REPS:-3}
IDLE_N=${BENCH_IDLE_N:-100}
SPACED=${BENCH_SPACED:-30}
SPACED_MS=200
T= # set below; die() looks at it

die() {
    echo "run.sh: $*" >&2
    if [ -s "${T:-}/vpsd.log" ]; then
        echo "--- vpsd log (tail; all of it kept in /tmp/vps-bench-$$.vpsd.log) ---" >&2
        tail -n 25 "$T/vpsd.log" >&2
        cp "$T/vpsd.log" "/tmp/vps-bench-$$.vpsd.log"
    fi
    exit 1
}
say() { echo "== $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, cgroups, bridges)"
VPSD=$BUILD/vpsd/vpsd
VPS_INIT=$BUILD/vpsd/vps-init
[ -x "$VPSD" ] && [ -x "$VPS_INIT" ] ||
    die "no vpsd in '$BUILD' (meson setup $BUILD && ninja -C $BUILD)"
for c in cc curl jq ip ss nft systemd-socket-activate nsenter unshare; do
    command -v "$c" >/dev/null || die "needs $c"
done
[ "$IDLE_N" -le 200 ] || die "BENCH_IDLE_N is at most 200 (addresses 198.18.103.10-209)"
# The numbers are those of the binaries in BUILD_DIR: say so when they are older than the tree.
STALE=
if command -v ninja >/dev/null && ! ninja -C "$BUILD" -n 2>/dev/null | grep -q "no work to do"; then
    STALE=" -- NOT UP TO DATE with the source tree (run ninja -C $BUILD)"
    say "warning: $BUILD is not up to date with the source tree"
fi

if ! command -v socat >/dev/null && [ -z "${BENCH_NO_INSTALL:-}" ] &&
    command -v apt-get >/dev/null; then
    say "socat is missing: installing it with apt-get (BENCH_NO_INSTALL=1 skips this)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends socat \
        >/dev/null 2>&1 || say "could not install socat: its rows are skipped"
fi
HAVE_SOCAT=
command -v socat >/dev/null && HAVE_SOCAT=1

CGPREFIX=vps-bench-$$
STATUS=
BR=vt-b$(($$ % 100000))
NET=198.18.103
IP=$NET.2
V=b$$ # the VPS of benchmarks 1-3; names stay within 12 characters (vh-NAME is a link)
PORT0=$((30000 + ($$ % 3000) * 10)) # host peers: PORT0 .. PORT0+7 on 127.0.0.1
for ((p = PORT0; p < PORT0 + 8; p++)); do
    [ -z "$(ss -Hltn "sport = :$p")" ] || die "port $p is in use (the ports follow the PID: run again)"
done
VPSD_PID=
PIDS=()  # every background process this script started, killed by PID on exit
NAMES=() # every VPS this script created

cleanup() {
    local rc=$? p d n
    trap - EXIT INT TERM
    for p in "${PIDS[@]}" $VPSD_PID; do
        kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    # VPSes outlive vpsd by design: what is left in this run's cgroups is killed, by PID.
    for d in /sys/fs/cgroup/*/"$CGPREFIX" /sys/fs/cgroup/"$CGPREFIX"; do
        [ -d "$d" ] || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            p=$(cat "$d"/*/cgroup.procs 2>/dev/null)
            [ -z "$p" ] && break
            # shellcheck disable=SC2086 # a list of PIDs
            kill -KILL $p 2>/dev/null
            timeout 1 bash -c "while [ -n \"\$(cat $d/*/cgroup.procs 2>/dev/null)\" ]; do :; done"
        done
        rmdir "$d"/*/ 2>/dev/null
        rmdir "$d" 2>/dev/null
    done
    # Pinned namespaces are mounts under the run dir.
    if [ -n "$T" ]; then
        findmnt -rn -o TARGET | grep "^$T/run/" | sort -r | while read -r m; do umount -l "$m"; done
    fi
    for n in "${NAMES[@]}"; do
        ip link del "vh-$n" 2>/dev/null
        nft delete table netdev "vps-vh-$n" 2>/dev/null
        nft delete table netdev "vps-bw-vh-$n" 2>/dev/null
    done
    ip link del "$BR" 2>/dev/null
    [ -z "$T" ] || rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T=$(mktemp -d /tmp/vps-bench.XXXXXX) || die "mktemp failed"
STATE=$T/state
RUN=$T/run
SOCK=$RUN/vpsd.sock
BODY=$T/body

# api METHOD PATH [JSON]: body in $BODY, HTTP status in $STATUS.
api() {
    local data=()
    [ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
    STATUS=$(curl -sS --max-time 60 --unix-socket "$SOCK" -X "$1" -o "$BODY" \
        -w '%{http_code}' "${data[@]}" "http://localhost$2") || STATUS=000
}
expect() {
    [ "$STATUS" = "$1" ] ||
        die "$2: expected HTTP $1, got $STATUS: $(head -c 300 "$BODY")"
}

# bg CMD...: starts CMD in the background, remembered for the cleanup.
bg() {
    "$@" &
    LAST_BG=$!
    PIDS+=("$LAST_BG")
}
# serving ADDR: waits until something answers a connect on ADDR and the last background
# process, if any, is still alive (a peer that could not bind its port has exited by then).
LAST_BG=
serving() {
    "$T/benchtool" waitport "$1" 5000 || die "nothing listens on $1"
    [ -z "$LAST_BG" ] || kill -0 "$LAST_BG" 2>/dev/null || die "the peer on $1 exited (port in use?)"
}

# Statistics of one column of numbers on stdin: "median p90 count".
stats() {
    sort -n | awk '{v[NR] = $1} END {
        if (NR == 0) { print "- - 0"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        k = int(0.9 * NR + 0.999999); if (k < 1) k = 1
        printf "%.1f %.1f %d\n", m, v[k], NR }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else printf "-" }'; }
ms() { awk -v u="$1" 'BEGIN { if (u == "-") print "-"; else printf "%.2f", u / 1000 }'; }

# meminfo: the fields of /proc/meminfo the idle-cost run reads, in KiB, one "key value" a line.
meminfo() {
    awk '/^(MemAvailable|Slab|SUnreclaim|Percpu|KernelStack|PageTables):/ {print $1, $2}' \
        /proc/meminfo | tr -d :
}

# ---------------------------------------------------------------------------------------
say "building the helpers into $T"
cc -O2 -Wall -o "$T/benchtool" "$SRC/benchtool.c" || die "cc benchtool.c failed"
cc -O2 -Wall -static -o "$T/responder" "$SRC/responder.c" ||
    die "cc -static responder.c failed (needs a static libc: libc6-dev)"
BT=$T/benchtool
RESP=$T/responder

say "starting a private vpsd from $BUILD"
mkdir -p "$RUN"
mkfifo "$T/ready"
"$VPSD" --state-dir "$STATE" --run-dir "$RUN" --socket "$SOCK" --init "$VPS_INIT" \
    --cgroup-prefix "$CGPREFIX" --bridge "$BR" --bridge-address "$NET.1/24" \
    --notify-fd 3 3>"$T/ready" 2>>"$T/vpsd.log" &
VPSD_PID=$!
read -r -t 20 line <"$T/ready" || true
[ "${line:-}" = "READY=1" ] || die "vpsd did not become ready"

NAMES+=("$V")
api POST /v1/vps "{\"name\":\"$V\",\"network\":{\"addresses\":[\"$IP/24\"]},\"services\":[
  {\"name\":\"acc\",\"mode\":\"accept\",\"listen\":[\"$IP:7001\"],\"command\":[\"/responder\",\"inetd\"]},
  {\"name\":\"lsn\",\"mode\":\"listen\",\"listen\":[\"$IP:7002\"],\"command\":[\"/responder\",\"fd3\"]},
  {\"name\":\"prx\",\"mode\":\"proxy\",\"listen\":[\"$IP:7003\"],\"proxy_to\":\"127.0.0.1:8003\",
   \"command\":[\"/responder\",\"listen\",\"0.0.0.0:8003\"]}]}"
expect 201 "create $V"
install -m 0755 "$RESP" "$STATE/$V/rootfs/responder"
api POST "/v1/vps/$V/start"
expect 200 "start $V"
INIT_PID=$(jq -r .status.pid "$BODY")
# The proxy service's own port is the direct peer: the service must run for it to answer.
api POST "/v1/vps/$V/services/prx/start"
expect 200 "start the proxy service"
serving "$IP:8003"

# ---------------------------------------------------------------------------------------
say "1: first byte of a warm accept-mode service, $N connections per peer, interleaved"
P_SSA=$((PORT0 + 0)) P_INETD=$((PORT0 + 1)) P_SOCAT=$((PORT0 + 2)) P_NSENTER=$((PORT0 + 3))
P_UNSHARE=$((PORT0 + 4)) P_DIRECT=$((PORT0 + 5)) P_RSOCAT=$((PORT0 + 6)) P_RCOPY=$((PORT0 + 7))
bg systemd-socket-activate --accept --inetd -l "127.0.0.1:$P_SSA" "$RESP" inetd 2>/dev/null
serving "127.0.0.1:$P_SSA"
bg "$BT" inetd "127.0.0.1:$P_INETD" "$RESP" inetd
serving "127.0.0.1:$P_INETD"
# The helper-program way into the same running VPS (what vpsd avoids): nsenter per connection.
bg "$BT" inetd "127.0.0.1:$P_NSENTER" "$(command -v nsenter)" -t "$INIT_PID" -a /responder inetd
serving "127.0.0.1:$P_NSENTER"
# ... and fresh namespaces per connection through a helper (vpsd clone3()s them itself).
bg "$BT" inetd "127.0.0.1:$P_UNSHARE" "$(command -v unshare)" -U -r -p -f -m -n -i -u \
    "$RESP" inetd
serving "127.0.0.1:$P_UNSHARE"
SOCAT_T=()
if [ -n "$HAVE_SOCAT" ]; then
    bg socat "TCP-LISTEN:$P_SOCAT,bind=127.0.0.1,reuseaddr,fork,backlog=512" \
        "EXEC:$RESP inetd"
    serving "127.0.0.1:$P_SOCAT"
    SOCAT_T=("socat=127.0.0.1:$P_SOCAT")
fi
"$BT" latency -n "$N" -w 20 "vpsd=$IP:7001" "ssa=127.0.0.1:$P_SSA" \
    "inetd=127.0.0.1:$P_INETD" "${SOCAT_T[@]}" "nsenter=127.0.0.1:$P_NSENTER" \
    "unshare=127.0.0.1:$P_UNSHARE" >"$T/b1" || die "latency run 1 failed"
say "1b: the same with the host idle for ${SPACED_MS} ms before each round, $SPACED rounds"
"$BT" latency -n "$SPACED" -w 2 -d "$SPACED_MS" "vpsd=$IP:7001" "ssa=127.0.0.1:$P_SSA" \
    "inetd=127.0.0.1:$P_INETD" "nsenter=127.0.0.1:$P_NSENTER" >"$T/b1spaced" ||
    die "latency run 1b failed"

# ---------------------------------------------------------------------------------------
say "3: proxy relay: latency ($N connections per peer) and $REPS x $BYTES bytes each way"
bg "$RESP" listen "127.0.0.1:$P_DIRECT"
serving "127.0.0.1:$P_DIRECT"
bg "$BT" relay "127.0.0.1:$P_RCOPY" "$IP:8003"
serving "127.0.0.1:$P_RCOPY"
RSOCAT_T=()
if [ -n "$HAVE_SOCAT" ]; then
    bg socat "TCP-LISTEN:$P_RSOCAT,bind=127.0.0.1,reuseaddr,fork,backlog=512" "TCP:$IP:8003"
    serving "127.0.0.1:$P_RSOCAT"
    RSOCAT_T=("socat=127.0.0.1:$P_RSOCAT")
fi
"$BT" latency -n "$N" -w 20 "vpsd-proxy=$IP:7003" "direct=$IP:8003" "${RSOCAT_T[@]}" \
    "copy-relay=127.0.0.1:$P_RCOPY" "loopback=127.0.0.1:$P_DIRECT" >"$T/b3lat" ||
    die "latency run 3 failed"
RELAYS=("vpsd-proxy=$IP:7003" "direct=$IP:8003" "${RSOCAT_T[@]}" "copy-relay=127.0.0.1:$P_RCOPY")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$VPSD_PID/stat"; }
VPSD_TICKS=0
for ((r = 0; r < REPS; r++)); do
    for t in "${RELAYS[@]}"; do
        for dir in put get; do
            t0=$(cpu_ticks)
            out=$("$BT" "$dir" "${t#*=}" "$BYTES") || die "$dir through ${t%%=*} failed"
            [ "${t%%=*}" = vpsd-proxy ] && VPSD_TICKS=$((VPSD_TICKS + $(cpu_ticks) - t0))
            echo "${t%%=*} $dir $out" >>"$T/b3tp"
        done
    done
done

# ---------------------------------------------------------------------------------------
say "2: cold starts, $COLD per mode (the VPS stopped through the API before each)"
"$BT" latency -n 300 -w 10 "accept=$IP:7001" "listen=$IP:7002" "proxy=$IP:7003" \
    >"$T/b2warm" || die "warm run 2 failed"
# stop_vps: stops the VPS, its listen- and proxy-mode services first through the API. Not
# needed by the design, but vpsd (as of this writing) counts a service that the VPS's init
# kills while the VPS stops as a crash, and three stops in a row put the service into
# back-off: the next cold connection would be dropped (proxy) or held back (listen).
stop_vps() {
    local s
    for s in lsn prx; do
        api POST "/v1/vps/$V/services/$s/stop"
        [ "$STATUS" = 409 ] || expect 200 "stop service $s" # 409: it does not run
    done
    api POST "/v1/vps/$V/stop"
    expect 200 "stop $V"
}
for ((i = 0; i < COLD; i++)); do
    for m in accept:7001 listen:7002 proxy:7003; do
        stop_vps
        "$BT" once "$IP:${m#*:}" >>"$T/cold-vps-${m%%:*}" || die "cold ${m%%:*} failed"
    done
    # The VPS runs now; only the service is cold.
    for m in lsn:listen:7002 prx:proxy:7003; do
        api POST "/v1/vps/$V/services/${m%%:*}/stop"
        [ "$STATUS" = 409 ] || expect 200 "stop service ${m%%:*}" # 409: it does not run
        m=${m#*:}
        "$BT" once "$IP:${m#*:}" >>"$T/cold-svc-${m%%:*}" || die "service-cold ${m%%:*} failed"
    done
done
api GET "/v1/vps/$V/services"
jq -r '.services[] | "\(.name) \(.status.stats.failures) \(.status.stats.cold_start_ms_max)"' \
    "$BODY" >"$T/svcstats"
stop_vps

# ---------------------------------------------------------------------------------------
if [ "$IDLE_N" -gt 0 ]; then
    # At most this many run at once: vpsd (as of this writing) lowers RLIMIT_NOFILE to 1024 in
    # a new VPS's init before it moves its fds, so a start fails ("dup fd: Too many open
    # files") once vpsd holds about 1000 fds, which 100 running VPSes do.
    RUN_N=$((IDLE_N < 60 ? IDLE_N : 60))
    say "4: idle cost of $IDLE_N VPSes with one listening service each ($RUN_N of them running)"
    vpsd_fds() { find "/proc/$VPSD_PID/fd" -mindepth 1 | wc -l; }
    snap() {
        {
            meminfo
            awk '/^VmRSS:/ {print "VpsdRSS", $2}' "/proc/$VPSD_PID/status"
            echo "VpsdFds $(vpsd_fds)"
        } >"$T/mem-$1"
    }
    cg_mem() {
        local f=/sys/fs/cgroup/memory/$CGPREFIX/memory.usage_in_bytes
        if [ -r "$f" ]; then awk '{printf "%d", $1 / 1024}' "$f"; else echo -; fi
    }
    idle_names=()
    for ((i = 0; i < IDLE_N; i++)); do
        idle_names+=("i$$-$i")
    done
    NAMES+=("${idle_names[@]}")
    sync
    snap none
    i=0
    for n in "${idle_names[@]}"; do
        api POST /v1/vps "{\"name\":\"$n\",\"network\":{\"addresses\":[\"$NET.$((10 + i))/24\"]},
          \"services\":[{\"name\":\"s\",\"listen\":[\"$NET.$((10 + i)):7000\"],
          \"command\":[\"/bin/cat\"]}]}"
        expect 201 "create $n"
        i=$((i + 1))
    done
    sync
    snap created
    for n in "${idle_names[@]:0:RUN_N}"; do
        api POST "/v1/vps/$n/start"
        expect 200 "start $n"
    done
    sleep 1 # the inits settle
    snap running
    CG_RUNNING=$(cg_mem)
    for n in "${idle_names[@]:0:RUN_N}"; do
        api POST "/v1/vps/$n/stop"
        expect 200 "stop $n"
    done
    # The others get their network namespace, veth and socket by a first start too.
    for n in "${idle_names[@]:RUN_N}"; do
        api POST "/v1/vps/$n/start"
        expect 200 "start $n"
        api POST "/v1/vps/$n/stop"
        expect 200 "stop $n"
    done
    sleep 1 # deferred frees (RCU) settle
    snap stopped
    CG_STOPPED=$(cg_mem)
    # A sample of them still listens: a connect is accepted (and starts that VPS again).
    LISTENING=0 PROBED=0
    for i in $(printf '%s\n' 0 $((IDLE_N / 2)) $((IDLE_N - 1)) | sort -un); do
        PROBED=$((PROBED + 1))
        "$BT" waitport "$NET.$((10 + i)):7000" 1000 2>/dev/null && LISTENING=$((LISTENING + 1))
    done
    for n in "${idle_names[@]}"; do
        api POST "/v1/vps/$n/stop"
        [ "$STATUS" = 200 ] || [ "$STATUS" = 409 ] || expect 200 "stop $n again"
        api DELETE "/v1/vps/$n"
        expect 200 "destroy $n"
    done
    sleep 3 # network namespaces are torn down by a kernel worker, later
    snap destroyed
fi

api DELETE "/v1/vps/$V"
expect 200 "destroy $V"
kill -TERM "$VPSD_PID"
wait "$VPSD_PID" || say "vpsd exited with status $?"
VPSD_PID=
grep -E '\b(error|crit|alert|emerg)\b' "$T/vpsd.log" | head -5 >"$T/vpsd-errors"

# ---------------------------------------------------------------------------------------
# The report.
echo "# vps benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')," \
    "cgroup $( [ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1/hybrid)"
echo "# vpsd from $BUILD ($(jq -r '.[] | select(.name == "buildtype") | .value' \
    "$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || echo "?") build)," \
    "source $(git -C "$SRC" describe --always --dirty 2>/dev/null || echo "?")$STALE"
echo
label1() {
    case $1 in
    vpsd) echo "vpsd accept mode (VPS)" ;;
    ssa) echo "systemd-socket-activate" ;;
    inetd) echo "fork+exec inetd (C)" ;;
    socat) echo "socat fork EXEC" ;;
    nsenter) echo "inetd + nsenter into VPS" ;;
    unshare) echo "inetd + unshare (new ns)" ;;
    *) echo "$1" ;;
    esac
}
table1() {
    local ssa50 name n err f50 f90 f99 u50
    ssa50=$(awk '$1 == "ssa" {print $4}' "$1")
    echo "peer                       first byte p50     p90      p99   full p50  errors  p50 vs ssa"
    while read -r name n err f50 f90 f99 u50 _ _; do
        printf "%-26s %11s ms %7s %8s %10s %7s %11s\n" "$(label1 "$name")" "$(ms "$f50")" \
            "$(ms "$f90")" "$(ms "$f99")" "$(ms "$u50")" "$err" "$(ratio "$f50" "$ssa50")"
    done <"$1"
}
echo "## 1. First byte of a warm accept-mode service (a process per connection)"
echo "### a. $N sequential connections per peer, back to back, interleaved"
table1 "$T/b1"
[ -n "$HAVE_SOCAT" ] || echo "(socat not available: skipped)"
echo "### b. $SPACED rounds, the host idle ${SPACED_MS} ms before each (how an on-demand service is used)"
table1 "$T/b1spaced"
echo
echo "## 2. Cold start: connect to first byte; VPS stopped vs service stopped (VPS running) vs warm"
echo "mode     VPS cold p50     p90   service cold p50     p90   warm p50   VPS cold / warm   ($COLD cold starts each)"
for m in accept listen proxy; do
    read -r c50 c90 _ < <(awk '{print $1}' "$T/cold-vps-$m" | stats)
    s50=- s90=-
    [ -f "$T/cold-svc-$m" ] && read -r s50 s90 _ < <(awk '{print $1}' "$T/cold-svc-$m" | stats)
    w50=$(awk -v m="$m" '$1 == m {print $4}' "$T/b2warm")
    if [ "$m" = accept ]; then
        svc=$(printf "%16s %7s" "(a process per" "conn.)")
    else
        svc=$(printf "%16s %7s" "$(ms "$s50") ms" "$(ms "$s90")")
    fi
    printf "%-8s %12s %7s %s %10s %17s\n" "$m" "$(ms "$c50") ms" "$(ms "$c90")" "$svc" \
        "$(ms "$w50") ms" "$(ratio "$c50" "$w50")"
done
echo
echo "## 3. Proxy relay: vpsd's splice() relay vs a direct connection into the VPS vs relays in user space"
echo "peer                   request p50     p90   upload MiB/s  download MiB/s   up / down vs direct"
echo "                       ($N requests, interleaved)   (median of $REPS x $((BYTES >> 20)) MiB through one connection)"
median_tp() { awk -v p="$1" -v d="$2" '$1 == p && $2 == d {print $5}' "$T/b3tp" | stats | cut -d' ' -f1; }
D_UP=$(median_tp direct put)
D_DN=$(median_tp direct get)
while read -r name n err f50 f90 f99 u50 u90 _; do
    up=$(median_tp "$name" put)
    dn=$(median_tp "$name" get)
    case $name in
    vpsd-proxy) label="vpsd proxy (splice)" ;;
    direct) label="direct into the VPS" ;;
    socat) label="socat relay (host)" ;;
    copy-relay) label="read/write relay (C)" ;;
    loopback) label="host loopback, no VPS" ;;
    *) label=$name ;;
    esac
    vs="$(ratio "$up" "$D_UP") / $(ratio "$dn" "$D_DN")"
    [ "$up" = - ] && vs=-
    printf "%-22s %11s %7s %14s %15s %21s\n" "$label" "$(ms "$u50") ms" "$(ms "$u90")" "$up" "$dn" "$vs"
done <"$T/b3lat"
awk -v t="$VPSD_TICKS" -v hz="$(getconf CLK_TCK)" -v b="$BYTES" -v r="$REPS" 'BEGIN {
    printf "(request: connect to the end of the 64-byte answer; vpsd CPU time while relaying: %.2f s per GiB)\n",
        t / hz / (2 * r * b / 2^30) }'

if [ "$IDLE_N" -gt 0 ]; then
    echo
    echo "## 4. Idle cost: VPSes with one listening accept-mode service each, per VPS, against the same VPSes created but never started"
    kernel() { awk '$1 ~ /^(Slab|Percpu|KernelStack|PageTables)$/ {s += $2} END {print s}' "$T/mem-$1"; }
    field() { awk -v k="$2" '$1 == k {print $2}' "$T/mem-$1"; }
    per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (a - b) / n }'; }
    echo "state (VPSes)               kernel KiB  MemAvailable drop KiB  vpsd RSS KiB  vpsd fds"
    for s in running stopped destroyed; do
        n=$IDLE_N base=created label="$s ($IDLE_N)"
        [ "$s" = running ] && n=$RUN_N label="running ($RUN_N)"
        # What is left after destroying them, against the host before they were created.
        [ "$s" = destroyed ] && base=none label="destroyed, vs before"
        printf "%-27s %10s %22s %13s %9s\n" "$label" \
            "$(per "$(kernel "$s")" "$(kernel "$base")" "$n")" \
            "$(per "$(field "$base" MemAvailable)" "$(field "$s" MemAvailable)" "$n")" \
            "$(per "$(field "$s" VpsdRSS)" "$(field "$base" VpsdRSS)" "$n")" \
            "$(per "$(field "$s" VpsdFds)" "$(field "$base" VpsdFds)" "$n")"
    done
    echo "(kernel = Slab + Percpu + KernelStack + PageTables of /proc/meminfo; whole-host figures:" \
        "other work on the host shows up in them)"
    echo "stopped / running, kernel memory per VPS:" \
        "$(ratio "$(per "$(kernel stopped)" "$(kernel created)" "$IDLE_N")" \
            "$(per "$(kernel running)" "$(kernel created)" "$RUN_N")");" \
        "stopped VPSes probed that accepted a connection: $LISTENING of $PROBED;" \
        "memory cgroup $CGPREFIX: $CG_RUNNING KiB running, $CG_STOPPED KiB stopped"
fi

echo
echo "## vpsd"
awk '{printf "service %s: failures %s, cold_start_ms_max %s\n", $1, $2, $3}' "$T/svcstats"
if [ -s "$T/vpsd-errors" ]; then
    echo "errors in vpsd's log:"
    cat "$T/vpsd-errors"
else
    echo "no errors in vpsd's log"
fi
