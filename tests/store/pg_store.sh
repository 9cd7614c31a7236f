#!/bin/bash
# The PostgreSQL event store against a private server: runs
# unit-eventlog-pg_store (its path in $1) with two fresh databases. Skips,
# saying why, where PostgreSQL cannot run (not root, not installed).
here=$(dirname "$0")
. "$here/../lib/tap.sh"
. "$here/../lib/pg.sh"
if ! pg_available; then
    echo "1..0 # SKIP $pg_why"
    exit 0
fi
trap pg_cleanup EXIT
pg_start || { echo "Bail out! PostgreSQL did not start"; exit 1; }
pg_createdb diff && pg_createdb nodes && pg_createdb old || { echo "Bail out! createdb"; exit 1; }
DOMAUTH_PG_URI=$(pg_uri diff) DOMAUTH_PG_URI2=$(pg_uri nodes) DOMAUTH_PG_URI3=$(pg_uri old) "$1"
