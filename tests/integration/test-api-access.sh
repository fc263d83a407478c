#!/bin/bash
# Access by SO_PEERCRED: root and the admin group may do everything; a VPS's owners may
# read that VPS only; anyone else gets 403. The admin group here is Debian's "adm" (gid 4)
# so that the test changes no account database.
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || { echo "SKIP: needs setpriv"; exit 77; }
ADM_GID=$(getent group adm | cut -d: -f3)
[ -n "$ADM_GID" ] || { echo "SKIP: no group adm"; exit 77; }
start_vpsd --socket-mode 0666 --admin-group adm

as() { # as UID [GROUPS] -- api args...
    local uid=$1 groups=$2
    shift 3
    local method=$1 path=$2
    shift 2
    local grp=(--clear-groups)
    [ -n "$groups" ] && grp=(--groups "$groups")
    rm -f "$BODY"
    STATUS=$(setpriv --reuid "$uid" --regid "$uid" "${grp[@]}" curl -sS --unix-socket "$SOCK" \
        -X "$method" -o "$BODY" -w '%{http_code}' "$@" "http://localhost$path") || STATUS=000
}
chmod 0777 "$T" # the unprivileged curl writes $BODY

api_json POST /v1/vps '{"name":"web1","owners":[1000]}'
expect_status 201 "create web1"
api_json POST /v1/vps '{"name":"web2","owners":[1002]}'
expect_status 201 "create web2"

as 1000 "" -- GET /v1/vps
expect_status 200 "owner lists"
[ "$(jqb '[.vps[].config.name] | join(",")')" = web1 ] || fail "owner sees only own: $(cat "$BODY")"
as 1000 "" -- GET /v1/vps/web1
expect_status 200 "owner reads own"
as 1000 "" -- GET /v1/vps/web2
expect_error 403 forbidden "may not access vps 'web2'" "owner reads other"
as 1000 "" -- GET /v1/vps/nosuch
expect_error 403 forbidden "may not access" "owner probes a missing name"
as 1000 "" -- PATCH /v1/vps/web1 -H 'Content-Type: application/json' -d '{"limits":{"ram_bytes":1099511627776}}'
expect_error 403 forbidden "may not" "owner raises own limits"
as 1000 "" -- DELETE /v1/vps/web1
expect_error 403 forbidden "may not" "owner deletes"
as 1000 "" -- POST /v1/vps -H 'Content-Type: application/json' -d '{"name":"mine"}'
expect_error 403 forbidden "may not" "owner creates"
for p in /v1/host /v1/templates /v1/operations; do
    as 1000 "" -- GET $p
    expect_error 403 forbidden "may not" "owner GET $p"
done
ok "owner"

as 1001 "" -- GET /v1/vps
expect_error 403 forbidden "owns no vps" "stranger lists"
as 1001 "" -- GET /v1/vps/web1
expect_error 403 forbidden "may not access" "stranger reads"
as 1001 "" -- GET /v1/events
expect_error 403 forbidden "owns no vps" "stranger follows events"
ok "stranger"

as 1001 "$ADM_GID" -- GET /v1/vps
expect_status 200 "admin-group member lists"
[ "$(jqb '.vps | length')" = 2 ] || fail "admin sees all"
as 1001 "$ADM_GID" -- PATCH /v1/vps/web2 -H 'Content-Type: application/json' -d '{"hostname":"w2"}'
expect_status 200 "admin-group member patches"
rm -f "$BODY"
STATUS=$(setpriv --reuid 1003 --regid "$ADM_GID" --clear-groups curl -sS --unix-socket "$SOCK" \
    -o "$BODY" -w '%{http_code}' http://localhost/v1/host) || STATUS=000
expect_status 200 "primary group is the admin group"
ok "admin group"

[ -z "$(find "$STATE" -newer "$STATE/web1/config.json" -name config.json ! -path '*/web2/*')" ] || fail "a refused request wrote"

# The default socket mode keeps everyone but root and the group out.
stop_vpsd
start_vpsd --admin-group adm
[ "$(stat -c '%a %G' "$SOCK")" = "660 adm" ] || fail "socket mode/group: $(stat -c '%a %G' "$SOCK")"
setpriv --reuid 1000 --regid 1000 --clear-groups curl -sS --unix-socket "$SOCK" http://localhost/v1/vps \
    >/dev/null 2>&1 && fail "uid 1000 connected to a 0660 socket"
ok "socket permissions"
