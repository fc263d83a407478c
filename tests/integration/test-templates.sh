#!/bin/bash
# Templates: the built-in one, export, import as a long operation (through vpsctl and through
# curl as a panel would), VPSes made from an imported template, and imports that must fail
# without leaving anything behind: garbage, a taken name, a bad name, entries that climb out
# of the rootfs. The event stream shows it all.
. "$(dirname "$0")/lib.sh"
start_vpsd

TPL=$STATE/templates

# import_curl NAME FILE: POST the file as a panel would; $BODY is the answer.
import_curl() {
    api POST "/v1/templates?name=$1" -H 'Content-Type: application/x-tar' --data-binary "@$2"
}

# wait_op ID: long-polls the operation until it ends; $BODY is the operation.
wait_op() {
    api GET "/v1/operations/$1?wait_ms=30000"
    expect_status 200 "operation $1"
    case "$(jqb .state)" in
    succeeded | failed) ;;
    *) fail "operation $1 still $(jqb .state) after wait_ms=30000: $(cat "$BODY")" ;;
    esac
}

# The entries of $STATE/templates, hidden ones too, one line.
template_dirs() { (cd "$TPL" && ls -A | sort | tr '\n' ' '); }

# ---- the built-in template ----

api GET /v1/templates
expect_status 200 "list templates"
[ "$(jqb '[.templates[].name] | join(",")')" = host-usr,minimal ] || fail "templates after start: $(cat "$BODY")"
[ "$(jqb '.templates[1].source')" = builtin ] || fail "minimal: source"
[ "$(jqb '.templates[1].size_bytes > 0')" = true ] || fail "minimal: size_bytes"
[ -x "$TPL/minimal/rootfs/bin/busybox" ] || fail "minimal has no bin/busybox"
api GET /v1/templates/minimal
expect_status 200 "show minimal"
[ "$(jqb .name)" = minimal ] || fail "show minimal: $(cat "$BODY")"
ok "built-in template"

# ---- export ----

vpsctl template export minimal "$T/min.tar.gz" || fail "export failed"
[ "$(head -c 2 "$T/min.tar.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "export is not gzip"
tar tzf "$T/min.tar.gz" >"$OUT" || fail "export is not a tarball"
grep -qxE '(\./)?bin/busybox' "$OUT" || fail "export lacks bin/busybox: $(head "$OUT")"
ls "$T" | grep -q '^min\.tar\.gz\.' && fail "export left its temporary file"
vpsctl template export nosuch "$T/none.tar.gz" 2>"$ERR"
[ $? = 4 ] || fail "export of a missing template: exit status"
[ ! -e "$T/none.tar.gz" ] || fail "failed export left a file"
ls "$T" | grep -q '^none\.tar\.gz' && fail "failed export left a temporary file"
ok "export"

# ---- import with vpsctl ----

vpsctl --json template import copy "$T/min.tar.gz" >"$OUT" 2>"$ERR" || fail "import copy: $(cat "$ERR")"
id=$(jq -r .id "$OUT")
[ "$(jq -r .state "$OUT")" = succeeded ] || fail "vpsctl import did not wait for the end: $(cat "$OUT")"
api GET "/v1/operations/$id"
expect_status 200 "operation of import copy"
jq -e '.state == "succeeded" and .progress_percent == 100 and .kind == "template_import"
    and .target == "copy" and (has("error") | not) and (.finished_at | length > 0)' "$BODY" >/dev/null ||
    fail "operation after import: $(cat "$BODY")"
api GET /v1/templates/copy
expect_status 200 "show copy"
[ "$(jqb .source)" = import ] || fail "copy: source $(jqb .source)"
[ -x "$TPL/copy/rootfs/bin/busybox" ] || fail "copy has no bin/busybox"

vpsctl create x --template copy || fail "create from copy"
[ -x "$STATE/x/rootfs/bin/busybox" ] || fail "x's rootfs has no bin/busybox"
jq -e '.template == "copy"' "$STATE/x/config.json" >/dev/null || fail "x: template in config"

# --no-wait prints the id only; reading standard input works too.
vpsctl --no-wait template import fromstdin - <"$T/min.tar.gz" >"$OUT" 2>"$ERR" || fail "import --no-wait: $(cat "$ERR")"
[ "$(wc -l <"$OUT")" = 1 ] || fail "--no-wait: expected one line: $(cat "$OUT")"
wait_op "$(cat "$OUT")"
[ "$(jqb .state)" = succeeded ] || fail "import from stdin: $(cat "$BODY")"
ok "import with vpsctl, create from it"

# ---- import with curl ----

rm -f "$T/headers"
STATUS=$(curl -sS --max-time 30 --unix-socket "$SOCK" -X POST -D "$T/headers" -o "$BODY" -w '%{http_code}' \
    -H 'Content-Type: application/x-tar' --data-binary "@$T/min.tar.gz" \
    'http://localhost/v1/templates?name=viacurl') || STATUS=000
expect_status 202 "import via curl"
id=$(jqb .id)
[ -n "$id" ] && [ "$id" != null ] || fail "202 without an operation id: $(cat "$BODY")"
[ "$(jqb .kind)" = template_import ] && [ "$(jqb .target)" = viacurl ] || fail "202 body: $(cat "$BODY")"
grep -qi "^location: /v1/operations/$id"$'\r'"\?$" "$T/headers" || fail "202 without Location: $(cat "$T/headers")"
wait_op "$id"
[ "$(jqb .state)" = succeeded ] && [ "$(jqb .progress_percent)" = 100 ] || fail "viacurl: $(cat "$BODY")"
[ -x "$TPL/viacurl/rootfs/bin/busybox" ] || fail "viacurl has no bin/busybox"
ok "import via curl: 202, Location, operation succeeds"

# ---- imports that must fail ----

before=$(template_dirs)
head -c 100000 /dev/urandom >"$T/garbage.tar"
import_curl bad "$T/garbage.tar"
expect_status 202 "import garbage (accepted, fails later)"
wait_op "$(jqb .id)"
[ "$(jqb .state)" = failed ] || fail "garbage import did not fail: $(cat "$BODY")"
[ -n "$(jqb '.error.message // empty')" ] && [ -n "$(jqb '.error.code // empty')" ] ||
    fail "failed operation without an error: $(cat "$BODY")"
api GET /v1/templates/bad
expect_error 404 not_found "does not exist" "template after a failed import"
[ "$(template_dirs)" = "$before" ] || fail "failed import left entries: $(template_dirs) (was $before)"
vpsctl template import bad2 "$T/garbage.tar" >"$OUT" 2>"$ERR"
[ $? = 2 ] || fail "vpsctl import of garbage: exit status (want 2): $(cat "$ERR")"
grep -q '^vpsctl: .*bad2' "$ERR" || fail "vpsctl import of garbage: message: $(cat "$ERR")"
[ "$(template_dirs)" = "$before" ] || fail "failed vpsctl import left entries: $(template_dirs)"
ok "garbage: operation fails, nothing left"

# A taken name is refused from the headers alone: the body is a pipe nothing is written to,
# so only an answer sent before reading the upload lets curl finish.
mkfifo "$T/never"
exec 6<>"$T/never"
STATUS=$(curl -sS --max-time 20 --expect100-timeout 30 -H 'Expect: 100-continue' \
    --unix-socket "$SOCK" -X POST -o "$BODY" -w '%{http_code}' -H 'Content-Type: application/x-tar' \
    -T - 'http://localhost/v1/templates?name=copy' <"$T/never") || STATUS=000
exec 6>&-
expect_error 409 exists "template 'copy' already exists" "import of a taken name"
# The name is judged before the body, so any body will do; a small one goes out in one write
# with the headers (see the BUG below for bodies that do not).
head -c 1000 "$T/min.tar.gz" >"$T/small"
import_curl copy "$T/small"
expect_error 409 exists "already exists" "import of a taken name, body sent"
import_curl minimal "$T/small"
expect_error 409 exists "already exists" "import over the built-in template"
# Over 1 MiB, so that libcurl asks "Expect: 100-continue" (see the BUG below for less).
cat "$T/min.tar.gz" "$T/min.tar.gz" >"$T/big"
vpsctl template import copy "$T/big" >"$OUT" 2>"$ERR"
[ $? = 5 ] || fail "vpsctl import of a taken name: exit status (want 5): $(cat "$ERR")"
grep -q "^vpsctl: template 'copy' already exists" "$ERR" || fail "vpsctl import of a taken name: $(cat "$ERR")"
ok "taken name: 409 before the upload"

import_curl Bad_Name "$T/small"
expect_error 400 invalid "Bad_Name" "bad template name"
api POST /v1/templates -H 'Content-Type: application/x-tar' --data-binary "@$T/small"
expect_error 400 invalid "name" "import without a name"
[ "$(template_dirs)" = "$before" ] || fail "refused imports left entries: $(template_dirs)"
ok "bad names: 400"

# Entries that point out of the rootfs: relative with '..', absolute, and a file written
# through a symlink the same archive made. Each target is under $T/outside.
mkdir -p "$T/outside" "$T/mk/a/b/c" "$T/mk/s1" "$T/mk/s2/esc"
echo evil >"$T/mk/evil"
echo fine >"$T/mk/a/b/c/ok"
# A harmless entry first, so that the import fails halfway through the extraction.
(cd "$T/mk/a/b/c" && tar -cPf "$T/dotdot.tar" ok ../../../evil) 2>/dev/null
tar tf "$T/dotdot.tar" 2>/dev/null | grep -qx '\.\./\.\./\.\./evil' || fail "could not make the '..' tarball"
cp "$T/mk/evil" "$T/outside/abs-evil"
tar -cPf "$T/abs.tar" "$T/outside/abs-evil" 2>/dev/null
rm "$T/outside/abs-evil"
tar tf "$T/abs.tar" 2>/dev/null | grep -qx "$T/outside/abs-evil" || fail "could not make the absolute tarball"
ln -s "$T/outside" "$T/mk/s1/esc"
echo evil >"$T/mk/s2/esc/through-link"
tar -C "$T/mk/s1" -cf "$T/symlink.tar" esc
tar -C "$T/mk/s2" -cf "$T/symlink2.tar" esc/through-link
tar -Af "$T/symlink.tar" "$T/symlink2.tar"
[ "$(tar tf "$T/symlink.tar" | tr '\n' ' ')" = "esc esc/through-link " ] || fail "could not make the symlink tarball"

outside_before=$(cd "$T" && find . -path ./state -prune -o -path ./run -prune -o -print | sort)
for evil in dotdot abs symlink; do
    import_curl "evil-$evil" "$T/$evil.tar"
    expect_status 202 "import $evil"
    wait_op "$(jqb .id)"
    [ "$(jqb .state)" = failed ] || fail "$evil tarball imported: $(cat "$BODY")"
    [ -n "$(jqb '.error.message // empty')" ] || fail "$evil: no error message: $(cat "$BODY")"
    api GET "/v1/templates/evil-$evil"
    expect_status 404 "template evil-$evil after the failed import"
done
[ -z "$(ls -A "$T/outside")" ] || fail "an import wrote outside: $(ls -A "$T/outside")"
[ ! -e "$STATE/evil" ] && [ ! -e "$T/evil" ] && [ ! -e "$TPL/evil" ] || fail "a '..' entry was written"
outside_after=$(cd "$T" && find . -path ./state -prune -o -path ./run -prune -o -print | sort)
[ "$outside_after" = "$outside_before" ] || fail "files appeared: $(diff <(echo "$outside_before") <(echo "$outside_after"))"
[ "$(template_dirs)" = "$before" ] || fail "escaping imports left entries: $(template_dirs)"
ok "entries out of the rootfs: operation fails, nothing written outside"

# ---- listing and remove ----

vpsctl template list --names >"$OUT" || fail "template list --names"
[ "$(tr '\n' ' ' <"$OUT")" = "copy fromstdin host-usr minimal viacurl " ] || fail "template list --names: $(cat "$OUT")"
vpsctl template list >"$OUT" || fail "template list"
[ "$(awk '$1 == "copy" {print $3}' "$OUT")" = import ] || fail "template list table: $(cat "$OUT")"

vpsctl template remove copy || fail "template remove copy"
[ ! -e "$TPL/copy" ] || fail "remove left $TPL/copy"
[ -x "$STATE/x/rootfs/bin/busybox" ] || fail "removing the template harmed a vps made from it"
api DELETE /v1/templates/copy
expect_error 404 not_found "template 'copy' does not exist" "remove twice"
vpsctl template remove copy 2>"$ERR"
[ $? = 4 ] || fail "vpsctl template remove of a missing one: exit status"
grep -q "^vpsctl: " "$ERR" || fail "remove missing: message: $(cat "$ERR")"
ok "remove"

# ---- events: replayed from the start ----

mkfifo "$T/events"
curl -sS -N --unix-socket "$SOCK" 'http://localhost/v1/events?since=0' >"$T/events" &
PIDS_TO_STOP+=($!)
exec 5<"$T/events"
want=" template_created:copy template_deleted:copy op_succeeded:copy op_failed:bad op_running:viacurl"
seen=
while :; do
    missing=
    for w in $want; do
        case "$seen " in *" $w "*) ;; *) missing="$missing $w" ;; esac
    done
    [ -z "$missing" ] && break
    read -r -t 10 -u 5 line || fail "events: no$missing (saw$seen)"
    seen="$seen $(echo "$line" | jq -r 'if .type == "operation"
        then "op_" + .operation.state + ":" + .operation.target
        else .type + ":" + (.template // .vps // "") end')"
done
exec 5<&-
ok "events: template_created, template_deleted, operation"

# Last, so that a failure here hides no other check.
# BUG: vpsd answers an early refusal (409 here, also 400/403/413) and closes the connection
# without reading the rest of the body, and vps_client_upload() sends no "Expect:
# 100-continue" for bodies under 1 MiB (libcurl's threshold), so vpsctl may still be
# writing the body when the connection goes: about 1 import in 300 then exits 7 with
# "vpsctl: connection to vpsd at '...' broke: Broken pipe" instead of 5 "template 'viacurl'
# already exists". curl --data-binary from a panel sees the same (exit 55). It is a race,
# so this check repeats the import; it fails in most runs until the bug is fixed.
head -c 300000 "$T/min.tar.gz" >"$T/medium"
for i in $(seq 300); do
    vpsctl template import viacurl "$T/medium" >"$OUT" 2>"$ERR"
    rc=$?
    [ $rc = 5 ] || fail "vpsctl import of a taken name, attempt $i: exit $rc (want 5): $(cat "$ERR")"
done
ok "taken name: the refusal always reaches vpsctl"

stop_vpsd || fail "vpsd exit status on SIGTERM"
