# bash running a script with loops, arrays, associative arrays, string
# operations and command substitutions.
. "$NK_PRELOAD_DIR/common.sh"
nk_need bash
nk_target bash --norc --noprofile "$NK_PRELOAD_DIR/workload.bash" "${1:-$(nk_size 40000)}"
