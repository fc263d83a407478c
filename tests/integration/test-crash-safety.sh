#!/bin/bash
# A config survives vpsd being killed with SIGKILL at any moment: while a client rewrites
# the config as fast as it can, and while VPSes are being created, vpsd is killed after a
# varying number of answered requests; after each restart every config parses and holds one
# of the values that were written, and no half-created VPS is visible.
. "$(dirname "$0")/lib.sh"
start_vpsd
api_json POST /v1/vps '{"name":"c1","hostname":"h0"}'
expect_status 201 "setup"

hammer() { # PATCHes hostnames h1, h2, ... until the daemon is gone
    local i=1
    while curl -sS --unix-socket "$SOCK" -o /dev/null -X PATCH -H 'Content-Type: application/json' \
        -d "{\"hostname\":\"h$i\",\"limits\":{\"pids\":$((i + 1))}}" http://localhost/v1/vps/c1 2>/dev/null; do
        echo "$i"
        i=$((i + 1))
    done
}
create_many() { # creates n1, n2, ... until the daemon is gone
    local i=1
    while curl -sS --unix-socket "$SOCK" -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d "{\"name\":\"n$ROUND-$i\"}" http://localhost/v1/vps 2>/dev/null; do
        echo "$i"
        i=$((i + 1))
    done
}

for ROUND in $(seq 1 20); do
    mkfifo "$T/p$ROUND" "$T/q$ROUND"
    hammer >"$T/p$ROUND" &
    h=$!
    create_many >"$T/q$ROUND" &
    c=$!
    PIDS_TO_STOP+=("$h" "$c")
    exec 5<"$T/p$ROUND" 6<"$T/q$ROUND"
    # Kill after a different number of answered requests each round.
    for _ in $(seq 1 $((ROUND * 3 % 17 + 1))); do read -r -t 20 -u 5 _ || break; done
    kill -KILL "$VPSD_PID"
    wait "$VPSD_PID" 2>/dev/null
    VPSD_PID=
    cat <&5 >/dev/null
    cat <&6 >/dev/null
    exec 5<&- 6<&-
    wait "$h" "$c" 2>/dev/null

    start_vpsd
    api GET /v1/vps/c1
    expect_status 200 "round $ROUND: c1 readable after SIGKILL"
    host=$(jqb .config.hostname)
    pids=$(jqb .config.limits.pids)
    # hostname hN is always written together with pids N+1: a torn write would split them.
    [ "h$((pids - 1))" = "$host" ] || [ "$host" = h0 ] || fail "round $ROUND: mixed config: $host / $pids"
    for f in "$STATE"/*/config.json; do
        jq -e .name "$f" >/dev/null || fail "round $ROUND: $f does not parse"
    done
    api GET /v1/vps
    expect_status 200 "round $ROUND: list"
    ls -A "$STATE" | grep -E '\.new$|\.deleting$' && fail "round $ROUND: leftovers not cleaned at start"
done
ok "20 SIGKILLs under writes: no torn or half-written config"
