# tests/lib/pg.sh: a private PostgreSQL 15 for a test (source it after
# tap.sh). pg_available says whether one can run here (root, Debian's
# postgresql, the postgres user); pg_start makes a cluster in a new
# directory owned by postgres (unix socket there, no TCP, fsync off) and
# starts it; pg_stop and pg_restart stop and start it again; pg_cleanup
# (called by the test's exit trap) stops it and removes the directory.
# pg_uri DB is the libpq URI of a database; pg_sql DB SQL runs SQL.
pg_bin=/usr/lib/postgresql/15/bin
pg_dir=
pg_why=
pg_available() {
    if [ "$(id -u)" != 0 ]; then pg_why="not root (the cluster runs as postgres)"; return 1; fi
    if [ ! -x "$pg_bin/initdb" ]; then pg_why="no PostgreSQL 15 ($pg_bin/initdb)"; return 1; fi
    if ! id postgres >/dev/null 2>&1; then pg_why="no postgres user"; return 1; fi
    return 0
}
pg_as() { runuser -u postgres -- "$@"; }
pg_start() {
    pg_dir=$(mktemp -d /tmp/domauth-pg.XXXXXX) || return 1
    chown postgres: "$pg_dir"
    pg_as "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U domauth -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; return 1; }
    pg_restart
}
pg_restart() {
    pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -t 20 \
        -o "-k $pg_dir -c listen_addresses='' -c fsync=off -c synchronous_commit=off" \
        start >/dev/null
}
pg_stop() { pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1; }
pg_cleanup() {
    [ -n "$pg_dir" ] || return 0
    pg_stop
    rm -rf "$pg_dir"
    pg_dir=
}
pg_uri() { echo "postgresql:///$1?host=$pg_dir&user=domauth"; }
pg_sql() { psql -h "$pg_dir" -U domauth -d "$1" -qAtX -v ON_ERROR_STOP=1 -c "$2"; }
pg_createdb() { pg_sql postgres "CREATE DATABASE $1" >/dev/null; }
