# shellcheck shell=bash
# GNU sort over a generated 200k-line file: plain, -n, -k, -u, small buffer
# (external merge through temporary files), two threads.
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nk_need sort perl
perl "$NK_WL_DIR/gen_lines.pl" "${1:-$(nk_size 200000)}" >input.txt
mkdir tmp
nk_target sort input.txt >s1.txt
nk_digest s1.txt "sort"
nk_target sort -n input.txt >s2.txt
nk_digest s2.txt "sort -n"
nk_target sort -s -t ' ' -k2,2 -k1,1nr input.txt >s3.txt
nk_digest s3.txt "sort -s -t ' ' -k2,2 -k1,1nr"
cut -d ' ' -f 2- input.txt | tr ' ' '\n' >words.txt
nk_target sort -u words.txt >s4.txt
nk_digest s4.txt "sort -u"
nk_target sort -S 256K -T tmp --parallel=2 -r input.txt >s5.txt
nk_digest s5.txt "sort -S 256K --parallel=2 -r"
nk_target sort -n -S 256K -T tmp --parallel=2 -m s2.txt s2.txt >s6.txt
nk_digest s6.txt "sort -n -m"
nk_target sort -c s1.txt && echo "sort -c: sorted"
