#!/bin/bash
# The whole test suite, as CI runs it (.ci/run): installs dependencies, builds twice (plain,
# and with ASan+UBSan) and runs every suite (unit, fuzz corpus replay, integration) on both.
# Ends with one line "N passed, N failed, N skipped".
set -eu
cd "$(dirname "$0")/.."
./contrib/install-deps.sh >/dev/null

passed=0 failed=0 skipped=0
count() {
    local log=$1/meson-logs/testlog.json
    [ -f "$log" ] || return 0
    passed=$((passed + $(jq -s '[.[] | select(.result == "OK" or .result == "EXPECTEDFAIL")] | length' "$log")))
    failed=$((failed + $(jq -s '[.[] | select(.result == "FAIL" or .result == "TIMEOUT" or .result == "ERROR" or .result == "UNEXPECTEDPASS")] | length' "$log")))
    skipped=$((skipped + $(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")))
}

rc=0
build() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir" >"$dir.log" 2>&1 || { cat "$dir.log"; echo "build $dir failed"; return 1; }
}
run() {
    local dir=$1
    echo "== $dir"
    meson test -C "$dir" --print-errorlogs --num-processes 2 || rc=1
    count "$dir"
}

build build-test
run build-test
# The README's quick start builds with --buildtype=release (-O3), where GCC sees more
# "may be used uninitialised" paths than at -O2: it must compile (with -Werror) too.
echo "== build-release (compile only)"
build build-release --buildtype=release || rc=1
# LeakSanitizer is on by default with ASan; halt on the first UBSan report too.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
build build-asan -Db_sanitize=address,undefined -Db_lundef=false
run build-asan

echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
