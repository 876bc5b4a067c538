#!/bin/sh
# stats_json.sh PROGRAM HELPER: runs PROGRAM with NUMAKEG_STATS=json into a
# file of its own and checks with HELPER (test/preload/stats_json.py) that
# the file is one valid JSON document with allocations > 0 and the malloc
# size classes.  Skips (77) without python3.
prog=$1 helper=$2
command -v python3 >/dev/null 2>&1 || { echo "SKIPPED: python3 is not installed"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/nk-stats-json.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
NUMAKEG_STATS=json NUMAKEG_STATS_FILE="$dir/stats.%p.json" "$prog" >"$dir/out" 2>&1 || {
	cat "$dir/out"; echo "FAIL: $prog failed"; exit 1; }
set -- "$dir"/stats.*.json
if [ "$#" != 1 ] || [ ! -f "$1" ]; then
	echo "FAIL: want one statistics file, have: $*"
	exit 1
fi
python3 "$helper" check "$1" || { head -c 2000 "$1"; echo; echo "FAIL: bad JSON statistics"; exit 1; }
echo "PASS stats_json"
