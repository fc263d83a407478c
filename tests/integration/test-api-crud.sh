#!/bin/bash
# The API as a control panel uses it: curl --unix-socket, create/list/show/patch/delete,
# with the answers' shapes, Location headers and the config file on disk.
. "$(dirname "$0")/lib.sh"
start_vpsd

api GET /v1/vps
expect_status 200 "empty list"
[ "$(jqb '.vps | length')" = 0 ] || fail "list not empty"

api_json POST /v1/vps '{"name":"web1","hostname":"web1.example","limits":{"ram_bytes":1073741824,"cpu_limit_millicpus":1500},"network":{"addresses":["198.18.0.2/24"],"nameservers":["198.18.0.1"]},"owners":[1000]}'
expect_status 201 "create web1"
[ "$(jqb .config.name)" = web1 ] || fail "create: name"
[ "$(jqb .config.limits.ram_bytes)" = 1073741824 ] || fail "create: ram"
[ "$(jqb .config.template)" = minimal ] || fail "create: default template"
[ "$(jqb .status.state)" = stopped ] || fail "create: state"
[ -n "$(jqb .config.created_at)" ] || fail "create: created_at"
ok "create"

[ -f "$STATE/web1/config.json" ] || fail "config.json not on disk"
[ -x "$STATE/web1/rootfs/bin/busybox" ] || fail "rootfs not copied from the template"
[ "$(stat -c %a "$STATE/web1/config.json")" = 600 ] || fail "config.json mode"
jq -e '.name == "web1"' "$STATE/web1/config.json" >/dev/null || fail "config.json content"
ok "state on disk"

api_json POST /v1/vps '{"name":"web1"}'
expect_error 409 exists "already exists" "duplicate create"

api_json POST /v1/vps '{"name":"101"}'
expect_status 201 "numeric name"

api GET /v1/vps
expect_status 200 "list"
[ "$(jqb '[.vps[].config.name] | join(",")')" = "101,web1" ] || fail "list order/content: $(cat "$BODY")"
ok "list"

api GET /v1/vps/web1
expect_status 200 "show"
[ "$(jqb .config.network.addresses[0])" = 198.18.0.2/24 ] || fail "show: address"

api_json PATCH /v1/vps/web1 '{"hostname":"www","limits":{"pids":100}}'
expect_status 200 "patch"
[ "$(jqb .config.hostname)" = www ] || fail "patch: hostname"
[ "$(jqb .config.limits.pids)" = 100 ] || fail "patch: pids"
[ "$(jqb .config.limits.ram_bytes)" = 1073741824 ] || fail "patch kept other limits"
jq -e '.hostname == "www"' "$STATE/web1/config.json" >/dev/null || fail "patch not on disk"

api_json PATCH /v1/vps/web1 '{"hostname":null,"limits":{"cpu_limit_millicpus":null}}'
expect_status 200 "patch with null"
[ "$(jqb .config.hostname)" = web1 ] || fail "null hostname resets to the name"
[ "$(jqb '.config.limits | has("cpu_limit_millicpus")')" = false ] || fail "null removes the cpu limit"

api_json PATCH /v1/vps/web1 '{"name":"other"}'
expect_error 400 invalid "name: cannot be changed" "rename"
api_json PATCH /v1/vps/nosuch '{"hostname":"x"}'
expect_error 404 not_found "does not exist" "patch missing"
ok "patch"

api DELETE /v1/vps/web1
expect_status 200 "delete"
[ ! -e "$STATE/web1" ] || fail "delete left $STATE/web1"
ls -A "$STATE" | grep -q deleting && fail "delete left a .deleting dir"
api GET /v1/vps/web1
expect_error 404 not_found "vps 'web1' does not exist" "get after delete"
api DELETE /v1/vps/web1
expect_error 404 not_found "does not exist" "delete twice"
ok "delete"

api GET /v1/host
expect_status 200 "host"
[ "$(jqb .counts.vps)" = 1 ] || fail "host: counts"
case "$(jqb .cgroup_mode)" in v1|v2|hybrid) ;; *) fail "host: cgroup_mode" ;; esac
ok "host"

api GET /v1/nothing
expect_error 404 not_found "no such API path" "unknown path"
api PUT /v1/vps
expect_status 405 "wrong method"
grep -qi '^allow:' <(curl -sS -D - -o /dev/null --unix-socket "$SOCK" -X PUT http://localhost/v1/vps) || fail "405 without Allow"
ok "routing"

stop_vpsd || fail "vpsd exit status on SIGTERM"
[ ! -e "$SOCK" ] || fail "socket left after shutdown"
ok "clean shutdown"
