# shellcheck shell=bash
# python3 with PYTHONMALLOC=malloc: threads building and freeing dicts, lists, strings.
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nk_need python3
# The real interpreter, not a wrapper such as a pyenv shim.
py=$(python3 -c 'import sys; print(sys.executable)')
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
nk_target "$py" -s "$NK_WL_DIR/workload.py" "${1:-$(nk_size 60000)}"
