#!/bin/bash
# 50 clients at once: creates of distinct names all succeed; creates of one name give one
# 201 and 49 409s; reads during all this are answered.
. "$(dirname "$0")/lib.sh"
start_vpsd

pids=()
for i in $(seq 1 50); do
    curl -sS --unix-socket "$SOCK" -o /dev/null -w '%{http_code}\n' -X POST \
        -H 'Content-Type: application/json' -d "{\"name\":\"c$i\"}" http://localhost/v1/vps \
        >"$T/create.$i" &
    pids+=($!)
done
for i in $(seq 1 50); do
    curl -sS --unix-socket "$SOCK" -o /dev/null -w '%{http_code}\n' http://localhost/v1/vps >"$T/read.$i" &
    pids+=($!)
done
wait "${pids[@]}"
[ "$(cat "$T"/create.* | grep -c '^201$')" = 50 ] || fail "not all 50 creates succeeded: $(sort "$T"/create.* | uniq -c)"
[ "$(cat "$T"/read.* | grep -c '^200$')" = 50 ] || fail "not all 50 reads succeeded"
api GET /v1/vps
[ "$(jqb '.vps | length')" = 50 ] || fail "list has $(jqb '.vps | length') entries"
ok "50 concurrent creates and reads"

pids=()
for i in $(seq 1 50); do
    curl -sS --unix-socket "$SOCK" -o /dev/null -w '%{http_code}\n' -X POST \
        -H 'Content-Type: application/json' -d '{"name":"same"}' http://localhost/v1/vps >"$T/same.$i" &
    pids+=($!)
done
wait "${pids[@]}"
[ "$(cat "$T"/same.* | grep -c '^201$')" = 1 ] || fail "one name created more than once"
[ "$(cat "$T"/same.* | grep -c '^409$')" = 49 ] || fail "losers did not get 409"
ok "50 concurrent creates of one name"

pids=()
for i in $(seq 1 50); do
    curl -sS --unix-socket "$SOCK" -o /dev/null -w '%{http_code}\n' -X DELETE http://localhost/v1/vps/c$i >"$T/del.$i" &
    pids+=($!)
done
wait "${pids[@]}"
[ "$(cat "$T"/del.* | grep -c '^200$')" = 50 ] || fail "not all deletes succeeded"
[ "$(ls "$STATE" | grep -c '^c')" = 0 ] || fail "deleted VPS dirs remain"
ok "50 concurrent deletes"
