# shellcheck shell=bash
# git init/add/commit/log/diff/gc on a generated tree; fixed dates, names and
# configuration, so every hash is the same from run to run.
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nk_need git perl
export HOME=$PWD/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Numa Keg" GIT_AUTHOR_EMAIL="numakeg@example.org"
export GIT_COMMITTER_NAME="Numa Keg" GIT_COMMITTER_EMAIL="numakeg@example.org"
export GIT_PAGER=cat PAGER=cat GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0
mkdir -p home
nfiles=${1:-$(nk_size 400)}

# gen ROUND: writes the tree of round ROUND (files of nfiles, some changed each round)
gen() {
	perl -MFile::Path=make_path -e '
		my ($n, $round) = @ARGV;
		my $x = 7;
		sub r { $x = (1103515245 * $x + 12345) % 2147483648; $x >> 16 }
		for my $i (0 .. $n - 1) {
			my $dir = sprintf "src/d%02d/e%d", $i % 23, $i % 5;
			make_path($dir);
			my $touched = ($i % (2 + $round)) == 0 || $round == 0;
			my $f = "$dir/f$i.txt";
			next if !$touched && -e $f;
			open(my $fh, ">", $f) or die "$f: $!";
			my $nl = 5 + ($i * 37 + $round * 11) % 120;
			for my $l (1 .. $nl) {
				printf $fh "file %d line %d round %d value %d %s\n", $i, $l,
					($l % 9 == 0 ? $round : 0), r() % 100000, "abc" x (r() % 20);
			}
			close $fh;
		}' "$nfiles" "$1"
}

g() { nk_target git "$@"; }

g -c init.defaultBranch=main init -q repo
cd repo
g config user.name "Numa Keg"
g config user.email numakeg@example.org
g config core.autocrlf false
g config gc.auto 0
g config pack.threads 1
for round in 0 1 2 3 4; do
	gen "$round"
	export GIT_AUTHOR_DATE="2020-01-0$((round + 1))T12:00:00 +0000"
	export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
	g add -A
	g commit -q -m "round $round" -m "Generated tree, round $round."
	g rev-parse HEAD
	[ "$round" != 2 ] || { g tag -a -m "tag at round 2" v2; g branch side; }
done
g status --porcelain=v1 --branch
# Big outputs go to files (a pipe into head could kill git with SIGPIPE).
g log --stat --format='%H %an <%ae> %ad%n  %s' --date=iso-strict >log.txt
nk_digest log.txt "git log --stat"
g log --format='%h %s' --graph --all
g diff --stat v2 HEAD >diffstat.txt
nk_digest diffstat.txt "git diff --stat v2 HEAD"
g diff v2 HEAD -- src/d00 >diff.txt
nk_digest diff.txt "git diff v2 HEAD -- src/d00"
g ls-tree -r HEAD >tree.txt
nk_digest tree.txt "git ls-tree -r HEAD"
g ls-files >files.txt
nk_digest files.txt "git ls-files"
g grep -c 'round 4' HEAD -- src/d01 >grep.txt
nk_digest grep.txt "git grep"
g blame -s src/d00/e0/f0.txt >blame.txt
nk_digest blame.txt "git blame"
g checkout -q side
g show --stat --format='%H %s' HEAD >show.txt
nk_digest show.txt "git show side"
mkdir -p side && seq 1 5000 >side/numbers.txt && sed -i 's/line 3 /LINE 3 /' src/d01/e1/f1.txt
export GIT_AUTHOR_DATE="2020-02-01T08:00:00 +0100" GIT_COMMITTER_DATE="2020-02-01T08:00:00 +0100"
g commit -q -a -m "side work"
g add side
g commit -q -m "side numbers"
g checkout -q main
g merge --no-edit side
g log --format='%h %p %s' --graph --all
g cat-file -p v2
g count-objects >count.txt
sed 's/, [0-9]* kilobytes//' count.txt
g gc -q
g fsck --full --no-progress 2>&1
g count-objects -v >count.txt
grep -E '^(count|in-pack|packs|garbage):' count.txt
g log --format='%H %P' >hashes.txt
nk_digest hashes.txt "git log after gc"
