#!/bin/bash
# One daemon per state dir and per socket; events stream; clean SIGTERM.
. "$(dirname "$0")/lib.sh"
start_vpsd

"$VPSD" --state-dir "$STATE" --run-dir "$T/run2" --socket "$T/other.sock" --init "$VPS_INIT" \
    --cgroup-prefix "$CGPREFIX" 2>"$T/second.log"
[ $? = 1 ] || fail "second vpsd on the same state dir did not fail"
grep -q "in use by another vpsd" "$T/second.log" || fail "second vpsd: message: $(cat "$T/second.log")"
"$VPSD" --state-dir "$T/state2" --run-dir "$T/run2" --socket "$SOCK" --init "$VPS_INIT" \
    --cgroup-prefix "$CGPREFIX" 2>"$T/third.log"
[ $? = 1 ] || fail "second vpsd on the same socket did not fail"
grep -q "served by another vpsd" "$T/third.log" || fail "third vpsd: message: $(cat "$T/third.log")"
api GET /v1/vps
expect_status 200 "first daemon unharmed"
ok "one daemon per state dir and socket"

"$VPSD" --bogus 2>/dev/null; [ $? = 2 ] || fail "bad option exit status"
"$VPSD" --socket-mode 999 2>/dev/null; [ $? = 2 ] || fail "bad mode exit status"
ok "bad options"

mkfifo "$T/events"
curl -sS -N --unix-socket "$SOCK" 'http://localhost/v1/events?since=0' >"$T/events" &
ev=$!
PIDS_TO_STOP+=("$ev")
exec 5<"$T/events"
api_json POST /v1/vps '{"name":"e1","owners":[1000]}'
api_json PATCH /v1/vps/e1 '{"hostname":"x"}'
api DELETE /v1/vps/e1
types=
for _ in 1 2 3; do
    read -r -t 10 -u 5 line || fail "events: stream ended early ($types)"
    types="$types $(echo "$line" | jq -r '.type + ":" + (.vps // "")')"
    echo "$line" | jq -e '.seq and .time' >/dev/null || fail "events: fields missing: $line"
done
[ "$types" = " vps_created:e1 vps_changed:e1 vps_deleted:e1" ] || fail "events: got$types"
ok "events stream"

# SIGTERM ends open streams and the daemon exits 0.
stop_vpsd || fail "exit status after SIGTERM with an open stream"
read -r -t 10 -u 5 line && fail "stream still delivering after shutdown"
wait "$ev" 2>/dev/null
exec 5<&-
[ ! -e "$SOCK" ] || fail "socket left"
ok "shutdown with an open event stream"
