# shellcheck shell=bash
# bash running a script with loops, arrays, associative arrays, string
# operations and command substitutions.
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nk_need bash
nk_target bash --norc --noprofile "$NK_WL_DIR/workload.bash" "${1:-$(nk_size 40000)}"
