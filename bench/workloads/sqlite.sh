# shellcheck shell=bash
# sqlite3 building a 100k-row database ($1 rows) and querying it.
# shellcheck source=bench/workloads/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
nk_need sqlite3
rows=${1:-$(nk_size 100000)}
sed "s/WHERE x < 100000)/WHERE x < $rows)/" "$NK_WL_DIR/workload.sql" >workload.sql
nk_target sqlite3 -batch -bail test.db <workload.sql
