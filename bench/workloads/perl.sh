# shellcheck shell=bash
# perl over a generated 200k-line file: word counting, hashes, sorting.
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nk_need perl
perl "$NK_WL_DIR/gen_lines.pl" "${1:-$(nk_size 200000)}" >input.txt
nk_target perl "$NK_WL_DIR/workload.pl" input.txt "${2:-$(nk_size 100000)}"
