#!/usr/bin/env bash
# tools/include-graph.sh [MAX_LINES]
#
# Prints the include graph of lib/ as "from -> to" edges, one a line, where
# a node is a file's name without its extension: foo.c and foo.h are one
# node, the module foo (doc/DESIGN.md, "Layers").  Exits non-zero when the
# graph has a cycle (two modules that include each other, directly or
# through others: a call upward), or when a file under lib/ is longer than
# MAX_LINES lines (750 unless given).
set -euo pipefail

root=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
max_lines=${1:-750}
cd -- "$root/lib"

# A module of two files that call each other by design, under one lock:
# page_cache is the page layer's cache of freed runs, called only by page.c
# with the domain's page lock held, and it calls back page_account_meta.
# pcpu_drain (other CPUs' arrays, the counts) and pcpu_int (the internals
# it shares with pcpu.c) are the per-CPU module split by concern; depot
# (the depots) and bucket_int (what it shares with bucket.c) the bucket
# module's, whose cross-domain frees and depots call each other.
module() {
	case $1 in
	page_cache) echo page ;;
	pcpu_drain | pcpu_int) echo pcpu ;;
	depot | bucket_int) echo bucket ;;
	*) echo "$1" ;;
	esac
}

edges=$(
	for f in *.c *.h; do
		from=$(module "${f%.*}")
		sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
		while read -r inc; do
			to=$(module "$(basename -- "${inc%.*}")")
			[[ $to == "$from" ]] || printf '%s -> %s\n' "$from" "$to"
		done
	done | sort -u
)
printf '%s\n' "$edges"

rc=0
# tsort reads "from to" pairs and fails, naming the loop, on a cycle.
if ! loop=$(printf '%s\n' "$edges" | awk '{ print $1, $3 }' | tsort 2>&1 >/dev/null) ||
   [[ -n $loop ]]; then
	echo "include-graph: the include graph has a cycle:" >&2
	printf '%s\n' "$loop" >&2
	rc=1
fi

while read -r n f; do
	if ((n > max_lines)); then
		echo "include-graph: lib/$f has $n lines (more than $max_lines)" >&2
		rc=1
	fi
done < <(wc -l -- *.c *.h | awk '$2 != "total" { print $1, $2 }')

if ((rc == 0)); then
	echo "include-graph: no cycle; every lib/ file has at most $max_lines lines"
fi
exit "$rc"
