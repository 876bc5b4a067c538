# perl over a generated 200k-line file: word counting, hashes, sorting.
. "$NK_PRELOAD_DIR/common.sh"
nk_need perl
perl "$NK_PRELOAD_DIR/gen_lines.pl" "${1:-$(nk_size 200000)}" >input.txt
nk_target perl "$NK_PRELOAD_DIR/workload.pl" input.txt "${2:-$(nk_size 100000)}"
