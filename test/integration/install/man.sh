#!/usr/bin/env bash
# install_man: the installed numakeg(1) and numakeg(3) render with
# `man --warnings -l` without a warning; numakeg(3) names every function
# include/numakeg.h declares, and numakeg(1) every option of the launcher and
# every NUMAKEG_* variable that lib/ reads.
# shellcheck source=test/integration/install/common.sh
. "${0%/*}/common.sh"
nk_need man
dir=$(nk_scratch)

for page in man1/numakeg.1 man3/numakeg.3; do
	src=$nk_prefix/share/man/$page
	[[ -f $src ]] || nk_fail "$page was not installed"
	rc=0
	MANWIDTH=80 man --warnings -l "$src" >"$dir/${page##*/}.txt" 2>"$dir/${page##*/}.err" || rc=$?
	((rc == 0)) || nk_fail "man -l $page exited $rc: $(cat "$dir/${page##*/}.err")"
	[[ ! -s $dir/${page##*/}.err ]] || nk_fail "man -l $page warns: $(cat "$dir/${page##*/}.err")"
	[[ $(wc -l <"$dir/${page##*/}.txt") -gt 50 ]] || nk_fail "$page renders to almost nothing"
done

missing=()
while read -r fn; do
	grep -q "\\b$fn(" "$dir/numakeg.3.txt" || missing+=("$fn")
done < <(grep -oE '\bnk_[a-z0-9_]+\(' "$nk_prefix/include/numakeg.h" | tr -d '(' | sort -u)
((${#missing[@]} == 0)) || nk_fail "numakeg(3) does not describe: ${missing[*]}"

missing=()
while read -r opt; do
	grep -qF -- "$opt" "$dir/numakeg.1.txt" || missing+=("$opt")
done < <("$nk_prefix/bin/numakeg" --help | grep -oE -- '(^|[ ,])--[a-z][a-z-]*' | tr -d ' ,' | sort -u)
((${#missing[@]} == 0)) || nk_fail "numakeg(1) does not describe: ${missing[*]}"

# Every NUMAKEG_* variable the library reads has an entry of its own in
# numakeg(1)'s ENVIRONMENT list (".It Ev NAME" in the page's source).
vars=$(grep -ohE '"NUMAKEG_[A-Z0-9_]+"' "$nk_src"/lib/*.c | tr -d '"' | sort -u)
[[ $(wc -w <<<"$vars") -ge 10 ]] || nk_fail "found only these NUMAKEG_ variables in lib/: $vars"
missing=()
for var in $vars; do
	grep -qxF ".It Ev $var" "$nk_prefix/share/man/man1/numakeg.1" || missing+=("$var")
done
((${#missing[@]} == 0)) || nk_fail "numakeg(1) has no entry for: ${missing[*]}"
echo "install_man: both pages render without warnings and are complete"
