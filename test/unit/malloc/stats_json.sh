#!/usr/bin/env bash
# stats_json.sh PROGRAM HELPER: runs PROGRAM with NUMAKEG_STATS=json into a
# file of its own and checks with HELPER (test/integration/preload/stats_json.py)
# that the file is one valid JSON document with allocations > 0 and the
# malloc size classes.  Skips (77) without python3.
nk_test=malloc_stats_json
# shellcheck source=test/harness/nk_test.sh
. "${BASH_SOURCE[0]%/*}/../../harness/nk_test.sh"
prog=$1 helper=$2
nk_need python3
dir=$(mktemp -d "${TMPDIR:-/tmp}/nk-stats-json.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
NUMAKEG_STATS=json NUMAKEG_STATS_FILE="$dir/stats.%p.json" "$prog" >"$dir/out" 2>&1 || {
	cat "$dir/out"; nk_fail "$prog failed"; }
set -- "$dir"/stats.*.json
if [ "$#" != 1 ] || [ ! -f "$1" ]; then
	nk_fail "want one statistics file, have: $*"
fi
python3 "$helper" check "$1" || { head -c 2000 "$1"; echo; nk_fail "bad JSON statistics"; }
echo "PASS stats_json"
