#!/bin/bash
# vpsctl as an operator drives it: create, list, show, set and destroy with vzctl-style flags,
# checked against what a control panel sees through the API and what lies on disk; then the
# exit statuses and "vpsctl: " messages a script relies on, and how the socket is chosen.
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || { echo "SKIP: needs setpriv"; exit 77; }
# 0666 so that an unprivileged vpsctl reaches the daemon and is refused by the API, not the
# file mode; $T must be traversable for it too.
start_vpsd --socket-mode 0666
chmod 0711 "$T"


# field KEY: the value of "KEY:   value" in the output of show.
field() { sed -n "s/^$1: *//p" "$OUT"; }

# ---- create, and what the API and the disk say about it ----

run vpsctl create web1 --ram 1G --cpus 1.5 --hostname web1.example --ipadd 198.18.0.2/24 \
    --nameserver 198.18.0.1 --owner 1000 --pids 512
[ "$RC" = 0 ] || fail "create web1: exit $RC: $(cat "$ERR")"
[ ! -s "$OUT" ] && [ ! -s "$ERR" ] || fail "create web1 is not quiet: $(cat "$OUT" "$ERR")"

api GET /v1/vps
expect_status 200 "panel lists"
[ "$(jqb '.vps | length')" = 1 ] || fail "panel list: $(cat "$BODY")"
jq -e '.vps[0] as $v | $v.config as $c
    | $c.name == "web1" and $c.hostname == "web1.example" and $c.template == "minimal"
    and $c.limits.ram_bytes == 1073741824 and $c.limits.cpu_limit_millicpus == 1500
    and $c.limits.pids == 512 and $c.owners == [1000]
    and $c.network.addresses == ["198.18.0.2/24"] and $c.network.nameservers == ["198.18.0.1"]
    and $v.status.state == "stopped"' "$BODY" >/dev/null || fail "panel sees other values: $(cat "$BODY")"
jq -e '.limits.ram_bytes == 1073741824 and .limits.cpu_limit_millicpus == 1500' \
    "$STATE/web1/config.json" >/dev/null || fail "config.json after create: $(cat "$STATE/web1/config.json")"
[ -x "$STATE/web1/rootfs/bin/busybox" ] || fail "create: rootfs not made"
ok "create with flags, seen by the API and on disk"

# ---- list ----

run vpsctl list
[ "$RC" = 0 ] || fail "list: exit $RC: $(cat "$ERR")"
[ "$(head -n 1 "$OUT" | awk '{print $1, $2, $5, $6, $7}')" = "NAME STATE RAM CPUS ADDRESSES" ] ||
    fail "list header: $(head -n 1 "$OUT")"
[ "$(awk '$1 == "web1" {print $2, $3, $4, $5, $6, $7}' "$OUT")" = \
    "stopped minimal web1.example 1G 1.5 198.18.0.2/24" ] || fail "list row: $(cat "$OUT")"
[ "$(wc -l <"$OUT")" = 2 ] || fail "list: header and one row expected: $(cat "$OUT")"

run vpsctl --json list
[ "$RC" = 0 ] || fail "--json list: exit $RC"
jq -e '.vps[0].config.name == "web1"' "$OUT" >/dev/null || fail "--json list is not the API's JSON: $(cat "$OUT")"
# Options are also accepted after the command.
run vpsctl list --json
jq -e '.vps | length == 1' "$OUT" >/dev/null || fail "list --json: $(cat "$OUT")"

run vpsctl list --names
[ "$RC" = 0 ] && [ "$(cat "$OUT")" = web1 ] || fail "list --names: $(cat "$OUT" "$ERR")"
ok "list: table, --json, --names"

# ---- show ----

run vpsctl show web1
[ "$RC" = 0 ] || fail "show: exit $RC: $(cat "$ERR")"
for kv in "name=web1" "state=stopped" "hostname=web1.example" "template=minimal" "ram=1G" \
    "cpus=1.5" "pids=512" "addresses=198.18.0.2/24" "nameservers=198.18.0.1" "autostart=no"; do
    [ "$(field "${kv%%=*}")" = "${kv#*=}" ] || fail "show: ${kv%%=*} is '$(field "${kv%%=*}")', expected '${kv#*=}'"
done
case "$(field owners)" in 1000*) ;; *) fail "show: owners '$(field owners)'" ;; esac
run vpsctl --json show web1
jq -e '.config.limits.pids == 512 and .status.state == "stopped"' "$OUT" >/dev/null ||
    fail "show --json: $(cat "$OUT")"
ok "show"

# ---- set ----

run vpsctl set web1 --ram 2G --ipadd 198.18.0.3 --ipdel 198.18.0.2/24
[ "$RC" = 0 ] || fail "set: exit $RC: $(cat "$ERR")"
jq -e '.limits.ram_bytes == 2147483648 and .network.addresses == ["198.18.0.3/32"]
    and .limits.cpu_limit_millicpus == 1500 and .limits.pids == 512
    and .hostname == "web1.example" and .network.nameservers == ["198.18.0.1"]' \
    "$STATE/web1/config.json" >/dev/null || fail "set not on disk as expected: $(cat "$STATE/web1/config.json")"

run vpsctl set web1 --cpus default
[ "$RC" = 0 ] || fail "set --cpus default: exit $RC: $(cat "$ERR")"
jq -e '(.limits | has("cpu_limit_millicpus") | not) and .limits.ram_bytes == 2147483648' \
    "$STATE/web1/config.json" >/dev/null || fail "--cpus default kept a limit: $(cat "$STATE/web1/config.json")"
run vpsctl show web1
[ "$(field cpus)" = unlimited ] || fail "show after --cpus default: cpus '$(field cpus)'"

run vpsctl --json set web1 --ipadd 198.18.0.4/24 --nameserver-del 198.18.0.1 --owner-del 1000
[ "$RC" = 0 ] || fail "set lists: exit $RC: $(cat "$ERR")"
jq -e '.config.network.addresses == ["198.18.0.3/32", "198.18.0.4/24"]
    and (.config.network.nameservers // []) == [] and (.config.owners // []) == []' "$OUT" >/dev/null ||
    fail "set --json answer: $(cat "$OUT")"
run vpsctl set web1 --ipdel all --owner 1000
[ "$RC" = 0 ] || fail "set --ipdel all: exit $RC: $(cat "$ERR")"
jq -e '(.network.addresses // []) == [] and .owners == [1000]' "$STATE/web1/config.json" >/dev/null ||
    fail "--ipdel all: $(cat "$STATE/web1/config.json")"

run vpsctl set web1 --ipdel 198.18.0.9
expect_rc 2 "198.18.0.9" "--ipdel of an absent address"
run vpsctl set web1
expect_rc 2 "nothing to change" "set without flags"
ok "set: limits, default, list edits"

# ---- exit statuses ----

run vpsctl show nosuch
expect_rc 4 "vps 'nosuch' does not exist" "show missing"
run vpsctl destroy nosuch
expect_rc 4 "does not exist" "destroy missing"
run vpsctl set nosuch --ram 1G
expect_rc 4 "does not exist" "set missing"

before=$(state_snapshot)
run vpsctl create web2 --ram 12Q
expect_rc 2 "--ram" "bad size"
run vpsctl create web2 --cpus many
expect_rc 2 "--cpus" "bad cpus"
run vpsctl create web2 --bogus
expect_rc 2 "unknown option '--bogus'" "unknown option"
run vpsctl create
expect_rc 2 "missing operand" "create without a name"
run vpsctl frobnicate
expect_rc 2 "unknown command" "unknown command"
# The API's own check of a name is invalid input too.
run vpsctl create Web_2
expect_rc 2 "Web_2" "bad name"
[ "$(state_snapshot)" = "$before" ] || fail "a refused create changed the state dir"
api GET /v1/vps
[ "$(jqb '[.vps[].config.name] | join(",")')" = web1 ] || fail "a refused create made a vps: $(cat "$BODY")"
ok "invalid input exits 2 and creates nothing"

run vpsctl create web1
expect_rc 5 "already exists" "duplicate create"
jq -e '.limits.ram_bytes == 2147483648' "$STATE/web1/config.json" >/dev/null ||
    fail "duplicate create changed web1"
ok "duplicate exits 5"

run "$VPSCTL" --socket /nonexistent list
expect_rc 7 "/nonexistent" "unreachable daemon"
run "$VPSCTL" list --socket "$T/no.sock"
expect_rc 7 "no.sock" "unreachable daemon, --socket after the command"
ok "unreachable exits 7"

# As uid 1000, an owner of web1: may read it, may not destroy it.
as1000() { setpriv --reuid 1000 --regid 1000 --clear-groups "$VPSCTL" --socket "$SOCK" "$@"; }
run as1000 show web1
[ "$RC" = 0 ] && [ "$(field name)" = web1 ] || fail "owner show: exit $RC: $(cat "$OUT" "$ERR")"
run as1000 destroy web1
expect_rc 3 "may not" "owner destroys"
run as1000 create mine
expect_rc 3 "may not" "owner creates"
[ -f "$STATE/web1/config.json" ] && [ ! -e "$STATE/mine" ] || fail "a forbidden request changed the state dir"
ok "forbidden exits 3"

# ---- the socket: --socket over $VPS_SOCKET over the default ----

out=$(VPS_SOCKET=$SOCK "$VPSCTL" list --names 2>&1)
[ $? = 0 ] && [ "$out" = web1 ] || fail "VPS_SOCKET not honoured: $out"
out=$(VPS_SOCKET=/nonexistent "$VPSCTL" --socket "$SOCK" list --names 2>&1)
[ $? = 0 ] && [ "$out" = web1 ] || fail "--socket does not override VPS_SOCKET: $out"
VPS_SOCKET=$T/gone.sock "$VPSCTL" list >/dev/null 2>"$ERR"
[ $? = 7 ] && grep -qF "$T/gone.sock" "$ERR" || fail "VPS_SOCKET ignored when unreachable: $(cat "$ERR")"
ok "VPS_SOCKET"

# ---- --config, then destroy ----

run vpsctl create cfg1 --config - --ram 256M <<<'{"name":"cfg1","hostname":"from-file","limits":{"ram_bytes":1073741824,"pids":64}}'
[ "$RC" = 0 ] || fail "create --config -: exit $RC: $(cat "$ERR")"
jq -e '.hostname == "from-file" and .limits.ram_bytes == 268435456 and .limits.pids == 64' \
    "$STATE/cfg1/config.json" >/dev/null || fail "--config with flags on top: $(cat "$STATE/cfg1/config.json")"
run vpsctl create other --config - <<<'{"name":"cfg2"}'
expect_rc 2 "differs" "create NAME differing from the file's"
[ ! -e "$STATE/other" ] && [ ! -e "$STATE/cfg2" ] || fail "mismatched --config created something"
ok "create --config"

run vpsctl destroy web1
[ "$RC" = 0 ] || fail "destroy: exit $RC: $(cat "$ERR")"
[ ! -e "$STATE/web1" ] || fail "destroy left $STATE/web1"
hidden=$(ls -A "$STATE" | grep "^\." | grep -vx "\.lock")
[ -z "$hidden" ] || fail "destroy left hidden entries: $hidden"
run vpsctl show web1
expect_rc 4 "does not exist" "show after destroy"
run vpsctl destroy cfg1
[ "$RC" = 0 ] || fail "destroy cfg1: exit $RC: $(cat "$ERR")"
run vpsctl list --names
[ "$RC" = 0 ] && [ ! -s "$OUT" ] || fail "list after destroying all: $(cat "$OUT" "$ERR")"
ok "destroy"

stop_vpsd || fail "vpsd exit status on SIGTERM"
