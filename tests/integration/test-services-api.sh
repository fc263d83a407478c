#!/bin/bash
# The services of a VPS as a resource: /v1/vps/{name}/services through curl as a panel uses
# it, and `vpsctl service` as an operator does. Add, list, show, patch and remove, with the
# config file on disk; bad input (4xx with the field's path, nothing written); names taken
# and unknown; who may do what; canonical listen and front addresses. No VPS is started: the
# addresses are only configuration here (198.18.100.0/24). Real starts and stops of services
# are the activation tests' (test-activation*.sh); here start and stop only have to reach the
# activator and pass its answer through.
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || { echo "SKIP: needs setpriv"; exit 77; }
# 0666 so that unprivileged callers reach the daemon and are judged by the API.
start_vpsd --socket-mode 0666
chmod 0777 "$T" # unprivileged curl and vpsctl write $BODY and $OUT here

SVC=/v1/vps/svc1/services
CONF=$STATE/svc1/config.json

# post_json PATH JSON: like api_json, with the answer's headers in $T/headers.
post_json() {
    api POST "$1" -H 'Content-Type: application/json' --data-binary "$2" -D "$T/headers"
}

# as UID METHOD PATH [curl args...]: a request from an unprivileged uid.
as() {
    local uid=$1 method=$2 path=$3
    shift 3
    rm -f "$BODY"
    STATUS=$(setpriv --reuid "$uid" --regid "$uid" --clear-groups curl -sS --unix-socket "$SOCK" \
        -X "$method" -o "$BODY" -w '%{http_code}' "$@" "http://localhost$path") || STATUS=000
}

expect_quiet() {
    [ "$RC" = 0 ] || fail "$1: exit $RC: $(cat "$ERR")"
    [ ! -s "$OUT" ] && [ ! -s "$ERR" ] || fail "$1 is not quiet: $(cat "$OUT" "$ERR")"
}

# field KEY: the value of "KEY:   value" in the output of show.
field() { sed -n "s/^$1: *//p" "$OUT"; }

# disk JQ: evaluates JQ on the config file on disk.
disk() { jq -e "$1" "$CONF" >/dev/null || fail "config on disk: $1: $(jq -c .services "$CONF")"; }

api_json POST /v1/vps '{"name":"svc1","owners":[1000]}'
expect_status 201 "create svc1"
api_json POST /v1/vps '{"name":"svc2","owners":[1002]}'
expect_status 201 "create svc2"

# ---- add, list, show through the API ----

api GET $SVC
expect_status 200 "empty list"
[ "$(jqb -c .)" = '{"services":[]}' ] || fail "empty list: $(cat "$BODY")"

post_json $SVC '{"name":"ssh","command":["/usr/sbin/sshd","-i"],"listen":["tcp:198.18.100.2:022"]}'
expect_status 201 "add ssh"
jqb -e '.name == "ssh" and .command == ["/usr/sbin/sshd","-i"] and .mode == "accept"
    and .listen == ["198.18.100.2:22"] and .restart == "no" and .idle_timeout_ms == 0
    and (.status.state | type) == "string"' >/dev/null || fail "add ssh answer: $(cat "$BODY")"
grep -qi '^location: /v1/vps/svc1/services/ssh' "$T/headers" || fail "add: Location: $(cat "$T/headers")"
disk '(.services | length) == 1 and (.services[0] | .name == "ssh" and .command == ["/usr/sbin/sshd","-i"]
    and .listen == ["198.18.100.2:22"] and .mode == "accept" and (has("status") | not))'
ok "add: 201, Location, canonical listen address, on disk"

post_json $SVC '{"name":"web","command":["/bin/httpd","-f"],"user":"www-data","cwd":"/srv",
    "env":["A=1"],"mode":"proxy","proxy_to":"127.0.0.1:08080","idle_timeout_ms":30000,
    "restart":"on-failure","match":[{"front":"198.18.100.1:0080","http_host":"www.example"},
    {"front":"198.18.100.1:80","default":true}]}'
expect_status 201 "add web"
jqb -e '.proxy_to == "127.0.0.1:8080" and .user == "www-data" and .cwd == "/srv"
    and .match == [{"front":"198.18.100.1:80","http_host":"www.example"},
                   {"front":"198.18.100.1:80","default":true}]' >/dev/null ||
    fail "add web answer: $(cat "$BODY")"
disk '.services | map(.name) == ["ssh","web"]'
ok "add: proxy mode, match rules with a default, canonical front"

api GET $SVC
expect_status 200 "list"
jqb -e '(.services | map(.name)) == ["ssh","web"] and all(.services[]; .status.state | type == "string")' \
    >/dev/null || fail "list: $(cat "$BODY")"
api GET $SVC/web
expect_status 200 "show"
jqb -e '.name == "web" and .idle_timeout_ms == 30000 and .restart == "on-failure" and has("status")' \
    >/dev/null || fail "show: $(cat "$BODY")"
api GET /v1/vps/svc1
jq -e '.config.services | length == 2' "$BODY" >/dev/null || fail "the VPS lacks its services"
ok "list and show"

# ---- names taken and unknown ----

post_json $SVC '{"name":"ssh","command":["/bin/true"]}'
expect_error 409 exists "service 'ssh' of vps 'svc1' already exists" "add a taken name"
for m in GET PATCH DELETE; do
    if [ $m = PATCH ]; then api_json PATCH $SVC/nosuch '{"user":"x"}'; else api $m $SVC/nosuch; fi
    expect_error 404 not_found "service 'nosuch' of vps 'svc1' does not exist" "$m unknown service"
done
for a in start stop; do
    api POST $SVC/nosuch/$a
    expect_error 404 not_found "service 'nosuch' of vps 'svc1' does not exist" "$a unknown service"
done
api GET /v1/vps/nosuch/services
expect_error 404 not_found "vps 'nosuch' does not exist" "services of an unknown VPS"
post_json /v1/vps/nosuch/services '{"name":"x","command":["/x"]}'
expect_error 404 not_found "vps 'nosuch' does not exist" "add to an unknown VPS"
ok "409 for a taken name, 404 for unknown services and VPSes"

# ---- bad input: 400 with the path in the service's body, nothing written ----

before=$(state_snapshot)
bad() { # bad FRAGMENT JSON
    post_json $SVC "$2"
    expect_error 400 invalid "$1" "POST $2"
}
bad "name: required field is missing" '{"command":["/x"]}'
bad "command: required field is missing" '{"name":"x"}'
bad "name: 'Bad' is not a valid name" '{"name":"Bad","command":["/x"]}'
bad "name: expected a string, got an integer" '{"name":5,"command":["/x"]}'
bad "command[0]: expected an absolute path" '{"name":"x","command":["true"]}'
bad "command: expected an array" '{"name":"x","command":"/bin/true"}'
bad 'listen[0]: expected "ip:port"' '{"name":"x","command":["/x"],"listen":["80"]}'
bad "listen[0]: '198.18.100.2:22' is used by service 'ssh'" '{"name":"x","command":["/x"],"listen":["tcp:198.18.100.2:22"]}'
bad "listen[1]: '198.18.100.2:23' is listed twice" '{"name":"x","command":["/x"],"listen":["198.18.100.2:23","198.18.100.2:023"]}'
bad 'listen[0]: udp needs "mode" "accept" or "listen"' '{"name":"x","command":["/x"],"listen":["udp:198.18.100.2:53"],"mode":"proxy","proxy_to":"127.0.0.1:53"}'
bad 'listen[0]: expected "unix:/absolute/path"' '{"name":"x","command":["/x"],"listen":["unix:/run/../x"]}'
bad 'mode: expected one of "accept", "listen", "proxy"' '{"name":"x","command":["/x"],"mode":"inetd"}'
bad 'proxy_to: required with "mode": "proxy"' '{"name":"x","command":["/x"],"mode":"proxy"}'
bad 'proxy_to: only allowed with "mode": "proxy"' '{"name":"x","command":["/x"],"proxy_to":"127.0.0.1:80"}'
bad 'restart: expected one of "no", "on-failure", "always"' '{"name":"x","command":["/x"],"restart":"yes"}'
bad "idle_timeout_ms: -1 is out of range" '{"name":"x","command":["/x"],"idle_timeout_ms":-1}'
bad 'env[0]: expected "KEY=value"' '{"name":"x","command":["/x"],"env":["=x"]}'
bad "cwd: expected an absolute path" '{"name":"x","command":["/x"],"cwd":"srv"}'
bad "user: 'a b' is not a valid user" '{"name":"x","command":["/x"],"user":"a b"}'
bad 'match[0]: exactly one of "http_host", "tls_sni", "protocol", "default": true is needed' '{"name":"x","command":["/x"],"match":[{"front":"198.18.100.1:80"}]}'
bad 'match[0].protocol: expected one of "ssh", "tls", "http"' '{"name":"x","command":["/x"],"match":[{"front":"198.18.100.1:22","protocol":"ftp"}]}'
bad "match[0]: service 'web' has the same rule" '{"name":"x","command":["/x"],"match":[{"front":"198.18.100.1:80","http_host":"www.example"}]}'
bad 'match: content rules need "mode" "accept" or "proxy"' '{"name":"x","command":["/x"],"mode":"listen","match":[{"front":"198.18.100.1:443","tls_sni":"a.example"}]}'
bad "bogus: unknown field" '{"name":"x","command":["/x"],"bogus":1}'
bad "status: cannot be set" '{"name":"x","command":["/x"],"status":{"state":"idle"}}'
bad "expected a JSON object, got an array" '[]'
bad "invalid JSON" '{"name":"x",'
bad "body: empty" ''

patch_bad() { # patch_bad SERVICE FRAGMENT JSON
    api_json PATCH $SVC/$1 "$3"
    expect_error 400 invalid "$2" "PATCH $1 $3"
}
patch_bad ssh "name: cannot be changed" '{"name":"ssh2"}'
patch_bad ssh "name: cannot be changed" '{"name":null}'
patch_bad ssh 'listen[0]: expected "ip:port"' '{"listen":["x"]}'
patch_bad ssh "command: required field is missing" '{"command":null}'
# ssh is the first service and web the second: a clash is still told on the patched service.
patch_bad ssh "match[0]: service 'web' has the same rule" '{"match":[{"front":"198.18.100.1:80","default":true}]}'
patch_bad web "listen[0]: '198.18.100.2:22' is used by service 'ssh'" '{"listen":["198.18.100.2:22"]}'
patch_bad web 'proxy_to: only allowed with "mode": "proxy"' '{"mode":"accept"}'
patch_bad web "status: cannot be set" '{"status":null}'
patch_bad web "expected a JSON object" '"x"'
for a in start stop; do
    api_json POST $SVC/ssh/$a '{"timeout_ms":1}'
    expect_error 400 invalid "timeout_ms: unknown field" "$a with a body"
done
after=$(state_snapshot)
[ "$before" = "$after" ] || fail "bad input changed the state dir: $(diff <(echo "$before") <(echo "$after"))"
api GET $SVC
[ "$(jqb -c '.services | map(.name)')" = '["ssh","web"]' ] || fail "services after bad input: $(cat "$BODY")"
ok "bad input: 400 with the path in the body, nothing written"

# ---- patch ----

api_json PATCH $SVC/ssh '{"name":"ssh","idle_timeout_ms":60000,"env":["LANG=C.UTF-8"],"listen":["198.18.100.2:22","udp:198.18.100.2:0053","unix://run//panel.sock/"]}'
expect_status 200 "patch ssh"
jqb -e '.idle_timeout_ms == 60000 and .env == ["LANG=C.UTF-8"] and .command == ["/usr/sbin/sshd","-i"]
    and .listen == ["198.18.100.2:22","udp:198.18.100.2:53","unix:/run/panel.sock"] and has("status")' \
    >/dev/null || fail "patch answer: $(cat "$BODY")"
disk '.services[0].idle_timeout_ms == 60000 and .services[0].listen[2] == "unix:/run/panel.sock"'
api_json PATCH $SVC/ssh '{"env":null,"listen":["tcp:[0:0::0]:080"]}'
expect_status 200 "patch with null"
jqb -e '(has("env") | not) and .listen == ["[::]:80"]' >/dev/null || fail "null resets env: $(cat "$BODY")"
api_json PATCH $SVC/web '{"mode":"accept","proxy_to":null,"match":[{"front":"198.18.100.1:443","tls_sni":"*.example"}]}'
expect_status 200 "patch web to accept mode"
jqb -e '.mode == "accept" and (has("proxy_to") | not) and .match == [{"front":"198.18.100.1:443","tls_sni":"*.example"}]' \
    >/dev/null || fail "patch web: $(cat "$BODY")"
disk '(.services | map(.name)) == ["ssh","web"] and .services[1].mode == "accept"'
ok "patch: merge patch, null resets, order kept, canonical listen forms"

# ---- start and stop: the activator's answer passed through ----

# An accept-mode service has no process to start without a connection, and nothing of it
# runs: both are 409 conflict, whatever the activator's state of implementation.
for a in start stop; do
    api POST $SVC/ssh/$a
    expect_error 409 conflict "" "$a ssh"
done
ok "start and stop pass the activator's conflict through"

# ---- who may do what ----

as 1000 GET $SVC
expect_status 200 "owner lists"
[ "$(jqb -c '.services | map(.name)')" = '["ssh","web"]' ] || fail "owner list: $(cat "$BODY")"
as 1000 GET $SVC/ssh
expect_status 200 "owner shows"
as 1000 POST $SVC/ssh/start
expect_error 409 conflict "" "owner starts (reaches the activator)"
as 1000 POST $SVC/ssh/stop
expect_error 409 conflict "" "owner stops (reaches the activator)"
as 1000 GET $SVC/nosuch
expect_error 404 not_found "does not exist" "owner shows an unknown service of their VPS"
before=$(state_snapshot)
as 1000 POST $SVC -H 'Content-Type: application/json' -d '{"name":"mine","command":["/x"]}'
expect_error 403 forbidden "may not" "owner adds"
as 1000 PATCH $SVC/ssh -H 'Content-Type: application/json' -d '{"user":"nobody"}'
expect_error 403 forbidden "may not" "owner patches"
as 1000 DELETE $SVC/ssh
expect_error 403 forbidden "may not" "owner removes"
as 1000 GET /v1/vps/svc2/services
expect_error 403 forbidden "may not access vps 'svc2'" "owner lists another's services"
as 1000 POST /v1/vps/svc2/services/x/start
expect_error 403 forbidden "may not access vps 'svc2'" "owner starts another's service"
as 1000 GET /v1/vps/nosuch/services
expect_error 403 forbidden "may not access" "owner probes a missing VPS"
as 1001 GET $SVC
expect_error 403 forbidden "may not access vps 'svc1'" "stranger lists"
as 1001 GET $SVC/ssh
expect_error 403 forbidden "may not access vps 'svc1'" "stranger shows"
as 1001 POST $SVC/ssh/stop
expect_error 403 forbidden "may not access vps 'svc1'" "stranger stops"
after=$(state_snapshot)
[ "$before" = "$after" ] || fail "a refused request wrote"
ok "owners read, start and stop; only admins change; others get 403"

# ---- remove ----

api DELETE $SVC/web
expect_status 200 "remove web"
[ "$(jqb -c .)" = '{"deleted":"web"}' ] || fail "remove answer: $(cat "$BODY")"
disk '(.services | map(.name)) == ["ssh"]'
api GET $SVC/web
expect_error 404 not_found "service 'web' of vps 'svc1' does not exist" "show after remove"
api DELETE $SVC/web
expect_error 404 not_found "does not exist" "remove twice"
# Its rule is free again: another VPS may take it.
api_json POST /v1/vps/svc2/services '{"name":"web","command":["/x"],"match":[{"front":"198.18.100.1:443","tls_sni":"*.example"}]}'
expect_status 201 "the removed service's rule is free"
before=$(state_snapshot)
post_json $SVC '{"name":"y","command":["/x"],"match":[{"front":"198.18.100.1:443","tls_sni":"*.example"}]}'
expect_error 409 conflict "match[0]: " "add a rule another VPS holds"
grep -q "is taken by service 'web' of vps 'svc2'" "$BODY" || fail "taken rule: $(cat "$BODY")"
api_json PATCH $SVC/ssh '{"match":[{"front":"198.18.100.1:443","tls_sni":"*.example"}]}'
expect_error 409 conflict "match[0]: " "patch in a rule another VPS holds"
[ "$before" = "$(state_snapshot)" ] || fail "a refused rule was written"
ok "remove"

# A VPS has at most 64 services (svc2 has one).
for i in $(seq 2 64); do
    api_json POST /v1/vps/svc2/services "{\"name\":\"s$i\",\"command\":[\"/x\"]}"
    expect_status 201 "service $i of svc2"
done
api_json POST /v1/vps/svc2/services '{"name":"s65","command":["/x"]}'
expect_error 400 invalid "vps 'svc2' has 64 services, the most allowed" "a 65th service"
ok "at most 64 services"

# ---- vpsctl service ----

run vpsctl service add svc1 dns --listen udp:198.18.100.2:053 --env A=1 --env B=2 \
    --idle-timeout 30s --restart always --user nobody -- /usr/sbin/dnsd -f --port 53
expect_quiet "service add dns"
api GET $SVC/dns
jqb -e '.command == ["/usr/sbin/dnsd","-f","--port","53"] and .listen == ["udp:198.18.100.2:53"]
    and .env == ["A=1","B=2"] and .idle_timeout_ms == 30000 and .restart == "always"
    and .user == "nobody" and .mode == "accept"' >/dev/null || fail "vpsctl add dns: $(cat "$BODY")"

run vpsctl service add svc1 panel --command ' /srv/panel  --serve ' --mode proxy \
    --proxy-to 127.0.0.1:9000 --match front=198.18.100.1:8443,tls_sni=panel.example \
    --match front=198.18.100.1:8443,default --cwd /srv
expect_quiet "service add panel"
api GET $SVC/panel
jqb -e '.command == ["/srv/panel","--serve"] and .mode == "proxy" and .proxy_to == "127.0.0.1:9000"
    and .match == [{"front":"198.18.100.1:8443","tls_sni":"panel.example"},
                   {"front":"198.18.100.1:8443","default":true}] and .cwd == "/srv"' \
    >/dev/null || fail "vpsctl add panel: $(cat "$BODY")"
run vpsctl --json service add svc1 echo --listen 198.18.100.2:7 -- /bin/cat
[ "$RC" = 0 ] && jq -e '.name == "echo" and has("status")' "$OUT" >/dev/null ||
    fail "--json service add: $RC $(cat "$OUT" "$ERR")"
ok "vpsctl service add: -- COMMAND, --command, flags, --json"

run vpsctl service list svc1
[ "$RC" = 0 ] || fail "service list: exit $RC: $(cat "$ERR")"
[ "$(head -n 1 "$OUT" | awk '{$1=$1; print}')" = "NAME MODE LISTEN MATCH STATE ACTIVATIONS CONNS" ] ||
    fail "list header: $(head -n 1 "$OUT")"
[ "$(awk '$1 == "dns" {print $2, $3, $4}' "$OUT")" = "accept udp:198.18.100.2:53 -" ] ||
    fail "list row dns: $(cat "$OUT")"
[ "$(awk '$1 == "panel" {print $2, $3, $4}' "$OUT")" = \
    "proxy - tls_sni=panel.example@198.18.100.1:8443,default@198.18.100.1:8443" ] ||
    fail "list row panel: $(cat "$OUT")"
[ "$(wc -l <"$OUT")" = 5 ] || fail "list: header and 4 rows expected: $(cat "$OUT")"
run vpsctl service list svc1 --names
[ "$RC" = 0 ] && [ "$(tr '\n' ' ' <"$OUT")" = "ssh dns panel echo " ] || fail "list --names: $(cat "$OUT" "$ERR")"
run vpsctl service list svc1 --json
jq -e '.services | map(.name) == ["ssh","dns","panel","echo"]' "$OUT" >/dev/null || fail "list --json: $(cat "$OUT")"
ok "vpsctl service list: table, --names, --json"

run vpsctl service show svc1 panel
[ "$RC" = 0 ] || fail "service show: exit $RC: $(cat "$ERR")"
for kv in "name=panel" "command=/srv/panel --serve" "user=root" "cwd=/srv" "env=-" "listen=-" \
    "match=tls_sni=panel.example@198.18.100.1:8443, default@198.18.100.1:8443" "mode=proxy" \
    "proxy to=127.0.0.1:9000" "idle timeout=never" "restart=no"; do
    [ "$(field "${kv%%=*}")" = "${kv#*=}" ] || fail "show ${kv%%=*}: '$(field "${kv%%=*}")', expected '${kv#*=}'"
done
[ -n "$(field state)" ] || fail "show: no state: $(cat "$OUT")"
run vpsctl service show svc1 dns
[ "$(field "idle timeout")" = 30s ] && [ "$(field env)" = "A=1 B=2" ] || fail "show dns: $(cat "$OUT")"
run vpsctl service show svc1 dns --json
jq -e '.name == "dns" and has("status")' "$OUT" >/dev/null || fail "show --json: $(cat "$OUT")"
ok "vpsctl service show: key: value lines, --json"

run vpsctl service set svc1 dns --idle-timeout 5m --env default --listen udp:198.18.100.2:5353 \
    --listen 198.18.100.2:5353
expect_quiet "service set dns"
api GET $SVC/dns
jqb -e '.idle_timeout_ms == 300000 and (has("env") | not) and .restart == "always"
    and .listen == ["udp:198.18.100.2:5353","198.18.100.2:5353"]' >/dev/null || fail "set dns: $(cat "$BODY")"
run vpsctl service set svc1 dns --command '/usr/sbin/dnsd -q' --user default
expect_quiet "service set --command"
api GET $SVC/dns
jqb -e '.command == ["/usr/sbin/dnsd","-q"] and (has("user") | not)' >/dev/null || fail "set command: $(cat "$BODY")"
ok "vpsctl service set: only what is given, lists replaced, 'default' resets"

run vpsctl service start svc1 dns
expect_rc 5 "vpsctl: " "service start of an accept-mode service"
run vpsctl service stop svc1 dns
expect_rc 5 "vpsctl: " "service stop of a service that does not run"
run vpsctl service remove svc1 echo
expect_quiet "service remove"
api GET $SVC/echo
expect_status 404 "removed by vpsctl"
run vpsctl service remove svc1 echo
expect_rc 4 "service 'echo' of vps 'svc1' does not exist" "remove twice"
run vpsctl service show svc1 nosuch
expect_rc 4 "service 'nosuch' of vps 'svc1' does not exist" "show unknown"
run vpsctl service add svc1 dns -- /bin/true
expect_rc 5 "service 'dns' of vps 'svc1' already exists" "add a taken name"
run vpsctl service add svc1 bad --listen 80 -- /bin/true
expect_rc 2 'listen[0]: expected "ip:port"' "vpsd refuses a listen address"
run vpsctl service set svc1 dns --mode bogus
expect_rc 2 'mode: expected one of' "vpsd refuses a mode"
ok "vpsctl service start, stop, remove; vpsd's errors and exit statuses"

# Usage errors: exit 2 before any request (a socket that does not exist would be exit 7).
usage() { # usage FRAGMENT ARGS...
    local frag=$1
    shift
    run "$VPSCTL" --socket "$T/nonexistent.sock" service "$@"
    expect_rc 2 "$frag" "usage: $*"
    grep -q "Try 'vpsctl" "$ERR" || fail "usage: $*: no --help hint: $(cat "$ERR")"
}
usage "missing command"
usage "unknown command 'frobnicate'" frobnicate svc1
usage "missing operand" list
usage "missing operand" show svc1
usage "too many operands" show svc1 a b
usage "a command is needed" add svc1 x --listen 198.18.100.2:1
usage "either with --command or after --" add svc1 x --command /a -- /b
usage "--command: empty command" add svc1 x --command '  '
usage "nothing to change" set svc1 dns
usage "front=IP:PORT is required" add svc1 x --match tls_sni=a.example -- /x
usage "unknown item 'host=a'" add svc1 x --match front=198.18.100.1:80,host=a -- /x
usage "'front' is given twice" add svc1 x --match front=198.18.100.1:80,front=198.18.100.1:81,default -- /x
usage "'default' takes no value" add svc1 x --match front=198.18.100.1:80,default=yes -- /x
usage "'tls_sni' needs a value" add svc1 x --match front=198.18.100.1:80,tls_sni= -- /x
usage "empty item" add svc1 x --match front=198.18.100.1:80,,default -- /x
usage "needs a unit" add svc1 x --idle-timeout 30 -- /x
usage "unknown option '--bogus'" add svc1 x --bogus -- /x
usage "option '--listen' needs an argument" add svc1 x --listen
run vpsctl service --help
[ "$RC" = 0 ] && grep -q "^Usage: vpsctl service" "$OUT" || fail "service --help: $(cat "$OUT" "$ERR")"
run vpsctl service add --help
[ "$RC" = 0 ] && grep -q -- "--match RULE" "$OUT" || fail "service add --help: $(cat "$OUT" "$ERR")"
ok "vpsctl service usage errors: exit 2, no request"

# An owner's vpsctl: reads, and is refused changes.
run setpriv --reuid 1000 --regid 1000 --clear-groups "$VPSCTL" --socket "$SOCK" service list svc1
[ "$RC" = 0 ] && grep -q '^dns ' "$OUT" || fail "owner's service list: $RC $(cat "$OUT" "$ERR")"
run setpriv --reuid 1000 --regid 1000 --clear-groups "$VPSCTL" --socket "$SOCK" service remove svc1 dns
expect_rc 3 "may not" "owner's service remove"
ok "vpsctl service as an owner"

stop_vpsd || fail "vpsd exit status on SIGTERM"
ok "clean shutdown"
