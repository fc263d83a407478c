#!/bin/bash
# Hostile and broken requests: every one gets a 4xx with a clear message, the daemon keeps
# serving others, and nothing is written to the state dir.
. "$(dirname "$0")/lib.sh"
start_vpsd --request-timeout 2

api_json POST /v1/vps '{"name":"keep"}'
expect_status 201 "setup"
before=$(state_snapshot)

bad() { # bad STATUS CODE FRAGMENT JSON
    api_json POST /v1/vps "$4"
    expect_error "$1" "$2" "$3" "POST $4"
}
long=$(printf 'a%.0s' $(seq 300))
bad 400 invalid "'../x' is not a valid name" '{"name":"../x"}'
bad 400 invalid "'a/b' is not a valid name" '{"name":"a/b"}'
bad 400 invalid "not a valid name" '{"name":""}'
bad 400 invalid "longer than" "{\"name\":\"$long\"}"
bad 400 invalid "not a valid name" '{"name":"Web1"}'
bad 400 invalid "not a valid name" '{"name":"-x"}'
bad 400 invalid "name: required field is missing" '{}'
bad 400 invalid "bogus: unknown field" '{"name":"x","bogus":1}'
bad 400 invalid "limits.ram: unknown field" '{"name":"x","limits":{"ram":1}}'
bad 400 invalid "name: expected a string, got an integer" '{"name":5}'
bad 400 invalid "name: expected a string, got null" '{"name":null}'
bad 400 invalid "limits.ram_bytes: expected an integer, got a string" '{"name":"x","limits":{"ram_bytes":"1G"}}'
bad 400 invalid "limits.ram_bytes: -1 is out of range" '{"name":"x","limits":{"ram_bytes":-1}}'
bad 400 invalid "owners[0]: expected a uid" '{"name":"x","owners":["root"]}'
bad 400 invalid "network.addresses[0]: expected an IPv4 or IPv6 address" '{"name":"x","network":{"addresses":["300.1.1.1"]}}'
bad 400 invalid 'services[0].listen[0]: expected "ip:port"' '{"name":"x","services":[{"name":"s","command":["/bin/true"],"listen":["80"]}]}'
bad 400 invalid "template: 'nosuch' does not exist" '{"name":"x","template":"nosuch"}'
bad 400 invalid "created_at: cannot be set" '{"name":"x","created_at":"2020-01-01T00:00:00Z"}'
bad 400 invalid "duplicate" '{"name":"x","name":"y"}'
bad 400 invalid "expected a JSON object, got an array" '[]'
bad 400 invalid "expected a JSON object, got a string" '"x"'
bad 400 invalid "invalid JSON" '{"name":"x"'
bad 400 invalid "invalid JSON" '{"name":"x",}'
bad 400 invalid "body: empty" ''
# A quoted value cut inside a multi-byte character ('%.64s') still gives a valid JSON error.
bad 400 invalid "is not a valid host name" "{\"name\":\"x\",\"services\":[{\"name\":\"s\",\"command\":[\"/x\"],\"match\":[{\"front\":\"198.18.0.1:80\",\"http_host\":\"a$(printf 'é%.0s' $(seq 40))\"}]}]}"
ok "malformed and invalid configs"

printf '{"name":"\xff\xfe"}' >"$T/utf8"
api POST /v1/vps -H 'Content-Type: application/json' --data-binary @"$T/utf8"
expect_error 400 invalid "invalid JSON" "invalid UTF-8"
ok "invalid UTF-8"

head -c 10000 /dev/zero | tr '\0' '[' >"$T/deep"
api POST /v1/vps -H 'Content-Type: application/json' --data-binary @"$T/deep"
expect_error 400 invalid "nested deeper than" "10,000 levels of nesting"
ok "deep nesting"

head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/big"
api POST /v1/vps -H 'Content-Type: application/json' --data-binary @"$T/big"
expect_error 413 too_large "over the limit" "10 MB body"
# The same without a Content-Length: chunked, so the limit is found while reading.
api POST /v1/vps -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big"
expect_error 413 too_large "over the limit" "10 MB chunked body"
ok "10 MB bodies"

api GET /v1/vps/Bad_Name
expect_error 400 invalid "is invalid" "bad name in the path"
api GET /v1/vps/../x --path-as-is
[ "${STATUS:0:1}" = 4 ] || fail "../ in the path: got $STATUS"
api GET /v1/vps -d 'x'
expect_error 400 invalid "takes no body" "body on GET"
ok "bad paths"

# A client that sends half a request and stalls: others are served meanwhile, and the
# stalled connection is closed after --request-timeout. nc watches the socket (curl would
# sit in a read of its own stdin) and exits when the daemon hangs up.
mkfifo "$T/stall-in" "$T/stall-out"
nc -U "$SOCK" <"$T/stall-in" >"$T/stall-out" &
stall_pid=$!
PIDS_TO_STOP+=("$stall_pid")
exec 7>"$T/stall-in"
exec 8<"$T/stall-out"
printf 'POST /v1/vps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na' >&7
for i in 1 2 3; do
    api GET /v1/vps
    expect_status 200 "served while a client stalls"
done
# EOF on nc's output (read status 1) means the daemon closed the connection.
read -r -t 20 -u 8 line
rc=$?
[ $rc = 1 ] || fail "stalled connection not closed by the daemon (read status $rc: '$line')"
exec 7>&- 8<&-
wait "$stall_pid" 2>/dev/null
ok "stalled client"

after=$(state_snapshot)
[ "$before" = "$after" ] || fail "bad input changed the state dir: $(diff <(echo "$before") <(echo "$after"))"
api GET /v1/vps/keep
expect_status 200 "daemon alive"
ok "nothing written, daemon alive"
