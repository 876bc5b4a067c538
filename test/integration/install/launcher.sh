#!/usr/bin/env bash
# install_launcher: the installed bin/numakeg.  --version prints the
# project's version and the library beside it, through a symbolic link too;
# --stats=json with --stats-file dumps statistics that parse as JSON, carry
# the same version and show python3's allocations, and that the installed
# numakeg-stat reads; the text statistics' header carries the version too;
# PROGRAM's exit status (or its signal) comes through; LD_PRELOAD is appended
# to, numakeg once; nodeN domains are taken; bad options and a missing
# program give numakeg's own statuses.
# shellcheck source=test/integration/install/common.sh
. "${0%/*}/common.sh"
nk_need python3
dir=$(nk_scratch)
launcher=$nk_prefix/bin/numakeg
unset LD_PRELOAD NUMAKEG_STATS NUMAKEG_STATS_FILE NUMAKEG_POLICY NUMAKEG_FAKE_DOMAINS \
	NUMAKEG_DOMAIN_LIMIT

out=$("$launcher" --version) || nk_fail "numakeg --version failed"
[[ $out == "numakeg $nk_version ("*")" ]] || nk_fail "numakeg --version printed '$out', want numakeg $nk_version"
[[ $out == *"($nk_prefix/$nk_libdir/libnumakeg.so."* ]] || nk_fail "numakeg --version names another library: $out"
# Through a symbolic link elsewhere (as in /usr/local/bin), it still finds
# the library beside its real self.
ln -s -- "$launcher" "$dir/numakeg-link"
out=$("$dir/numakeg-link" --version) || nk_fail "numakeg --version through a symbolic link failed"
[[ $out == *"($nk_prefix/$nk_libdir/libnumakeg.so."* ]] || nk_fail "numakeg through a link names: $out"

# The statistics of a python3 run, as JSON, one file per process (%p): the
# program prints its pid, so its own file is known.
stats=$dir/stats
mkdir -p "$stats"
# PYTHONMALLOC=malloc: every object through malloc, none through pymalloc.
pid=$(PYTHONMALLOC=malloc "$launcher" --stats=json --stats-file "$stats/stats.%p.json" --fake-domains 2 -- \
	python3 -c 'import os
d = {i: str(i) * 8 for i in range(20000)}
l = [bytes(100) for _ in range(5000)]
assert len(d) == 20000 and len(l) == 5000
print(os.getpid())') || nk_fail "python3 under numakeg failed"
file=$stats/stats.$pid.json
[[ -s $file ]] || nk_fail "no statistics in $file (files: $(ls "$stats"))"
python3 - "$file" "$nk_version" <<'PY' || nk_fail "the JSON statistics in $file are wrong"
# Reads both layouts of the dump: the first ({"version": "X.Y.Z", ...,
# "total": {"allocs": N}}) and the one of issue 11 ({"version": SCHEMA,
# "numakeg": "X.Y.Z", ..., "total": {"requests": N}}).
import json, sys
path, version = sys.argv[1], sys.argv[2]
with open(path) as f:
    dump = json.load(f)     # raises (exit 1) unless it is JSON
errors = []
got = dump.get("numakeg", dump.get("version"))
if got != version:
    errors.append(f"numakeg version {got!r}, want {version!r}")
if dump.get("ndomains") != 2:
    errors.append(f"ndomains {dump.get('ndomains')!r}, want 2 (--fake-domains 2)")
total = dump.get("total", {})
allocs = total.get("requests", total.get("allocs", 0))
if not isinstance(allocs, int) or allocs < 25000:
    errors.append(f"total allocations {allocs!r}, want at least 25000 "
                  "(python3 made 25000 objects with PYTHONMALLOC=malloc)")
for e in errors:
    print("stats:", e, file=sys.stderr)
print(f"stats: numakeg {got}, {allocs} allocations, {len(dump.get('zones', []))} zones")
sys.exit(1 if errors else 0)
PY
# The installed stats tool reads the dump.
if [[ -x $nk_prefix/bin/numakeg-stat ]]; then
	summary=$("$nk_prefix/bin/numakeg-stat" "$file") || nk_fail "numakeg-stat $file failed"
	[[ $summary == "pid $pid, 2 domains"* ]] || nk_fail "numakeg-stat's summary starts: ${summary%%$'\n'*}"
fi

# The text statistics' header carries the same version (--stats: text).
"$launcher" --stats --stats-file "$dir/text.stats" -- true || nk_fail "true under numakeg failed"
read -r header <"$dir/text.stats" || nk_fail "no text statistics in $dir/text.stats"
[[ $header == "numakeg $nk_version: pid "* ]] ||
	nk_fail "the text statistics' header is '$header', want 'numakeg $nk_version: pid ...'"

# The exit status comes through (exec).
rc=0
"$launcher" -- sh -c 'exit 7' || rc=$?
((rc == 7)) || nk_fail "numakeg -- sh -c 'exit 7' exited $rc, want 7"
rc=0
"$launcher" --policy roundrobin sh -c 'kill -TERM $$' || rc=$?
((rc == 128 + 15)) || nk_fail "a program killed by SIGTERM gave $rc, want 143"

# LD_PRELOAD: kept first, numakeg appended, the options' variables set.
lib=$(readlink -f "$nk_prefix/$nk_libdir/libnumakeg.so.${nk_version%%.*}")
# (No pipeline that stops reading early here: under pipefail its writer's
# SIGPIPE would end the test without a word.)
other=$("$nk_cc" -print-file-name=libm.so.6)
[[ $other == /* && -f $other ]] || nk_fail "cannot find libm.so.6 to put in LD_PRELOAD"
# shellcheck disable=SC2016 # expanded by the program, in the environment numakeg made
env_out=$(LD_PRELOAD=$other "$launcher" --policy=bind:0 --limit 0:1G --stats-file "$dir/x.%p" \
	-- sh -c 'printf "%s|%s|%s|%s|%s\n" "$LD_PRELOAD" "$NUMAKEG_POLICY" "$NUMAKEG_DOMAIN_LIMIT" "$NUMAKEG_STATS" "$NUMAKEG_STATS_FILE"')
want="$other:${lib%/*}/libnumakeg.so.${nk_version%%.*}|bind:0|0:1G|text|$dir/x.%p"
[[ $env_out == "$want" ]] || nk_fail "the program saw '$env_out', want '$want'"
# numakeg already in LD_PRELOAD is not added twice.
# shellcheck disable=SC2016 # expanded by the program
env_out=$(LD_PRELOAD="$other ${lib%/*}/libnumakeg.so.${nk_version%%.*}" "$launcher" -- sh -c 'printf "%s\n" "$LD_PRELOAD"')
[[ $env_out == "$other ${lib%/*}/libnumakeg.so.${nk_version%%.*}" ]] ||
	nk_fail "numakeg already in LD_PRELOAD: the program saw '$env_out'"
# Domains as the library also takes them, nodeN (the kernel's node id), and
# the full text statistics.  (The program is not run under numakeg's stderr
# here: node0 exists on every machine, so the library accepts both.)
# shellcheck disable=SC2016 # expanded by the program
env_out=$("$launcher" --policy bind:node0 --limit=node0:1G,0:2G --stats=text:full \
	-- sh -c 'printf "%s|%s|%s\n" "$NUMAKEG_POLICY" "$NUMAKEG_DOMAIN_LIMIT" "$NUMAKEG_STATS"' 2>"$dir/node.err")
want="bind:node0|node0:1G,0:2G|text:full"
[[ $env_out == "$want"* ]] || nk_fail "the program saw '$env_out', want '$want'"

# numakeg's own errors: 125; a program that is not there: 127.
for bad in "--policy nowhere" "--policy bind:nodeX" "--fake-domains 0" "--limit lots" \
	"--limit node:1G" "--stats=xml" "--bogus" ""; do
	rc=0
	if [[ -n $bad ]]; then
		# shellcheck disable=SC2086 # the words are the options
		"$launcher" $bad true 2>"$dir/err" || rc=$?
	else
		"$launcher" 2>"$dir/err" || rc=$?
	fi
	((rc == 125)) || nk_fail "numakeg ${bad:-(no program)} exited $rc, want 125"
	[[ -s $dir/err ]] || nk_fail "numakeg ${bad:-(no program)} said nothing on stderr"
done
rc=0
"$launcher" -- "$dir/no-such-program" 2>/dev/null || rc=$?
((rc == 127)) || nk_fail "a missing program gave $rc, want 127"
printf 'exit 0\n' >"$dir/not-executable"
rc=0
"$launcher" -- "$dir/not-executable" 2>/dev/null || rc=$?
((rc == 126)) || nk_fail "a program that is not executable gave $rc, want 126"
help=$("$launcher" --help) || nk_fail "numakeg --help failed"
[[ $help == *--stats-file* ]] || nk_fail "numakeg --help does not list --stats-file"
echo "install_launcher: version, JSON stats of python3, exit status, LD_PRELOAD and errors as expected"
