# sqlite3 building a 100k-row database and querying it.
. "$NK_PRELOAD_DIR/common.sh"
nk_need sqlite3
nk_target sqlite3 -batch -bail test.db <"$NK_PRELOAD_DIR/workload.sql"
