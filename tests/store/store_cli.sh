#!/bin/bash
# store_cli.sh: domauth store import|check|migrate. JSON lines (with and
# without uids, a bad line) imported into SQLite and again (kept once);
# check of SQLite and of PostgreSQL; the SQLite history (events and the
# quarantine index) migrated into a private PostgreSQL, twice (nothing
# twice), and read back by domauth log the same. The PostgreSQL part needs
# root and Debian's postgresql and skips without. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
python=/usr/bin/python3
[ -x "$domauth_bin" ] || { echo "Bail out! build domauth first"; exit 1; }
. "$here/../lib/tap.sh"
. "$here/../lib/pg.sh"
tap_workdir domauth-store-cli
w=$workdir

"$python" - "$w/events.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(120):
        e = {"time": 1800000000 + i, "listener": "milter", "client_ip": "192.0.2.%d" % (i % 200),
             "helo": "h", "mail_from": "a%d@example.com" % i, "domain": "example.com",
             "result": ["pass", "fail"][i % 2], "identity": "mailfrom", "score": i * 0.25,
             "action": "accept", "node": "mx%d" % (i % 2) if i % 3 else None,
             "results": [{"method": "spf", "result": ["pass", "fail"][i % 2],
                          "domain": "example.com", "detail": None, "reason": None,
                          "props": "smtp.mailfrom=a%d@example.com" % i}],
             "recipients": [{"address": "r@example.net", "action": "accept", "reply": None}]}
        if i % 4:
            e["uid"] = "u%d" % i  # every fourth has none, as event_log's old lines
        f.write(json.dumps(e) + "\n")
        if i == 41:
            f.write('{"time": 5, "helo": [1, 2\n')
PY
out=$("$domauth_bin" store import "$w/events.jsonl" --database "$w/a.db" 2>&1); rc=$?
report "$([ $rc = 65 ] && printf '%s' "$out" | grep -q "events.jsonl:43: .*skipped" &&
          printf '%s' "$out" | grep -q "120 events handed" && echo 1 || echo 0)" \
    "import into SQLite: 120 events, the bad line named (file:43), exit 65" "exit $rc: $out"
"$domauth_bin" store import "$w/events.jsonl" --database "$w/a.db" >/dev/null 2>&1
n=$("$domauth_bin" log --database "$w/a.db" --json --limit 0 | wc -l)
report "$([ "$n" = 120 ] && echo 1 || echo 0)" \
    "imported again: still 120 (a line without a uid gets one made of its bytes)" "$n"
out=$("$domauth_bin" store check --database "$w/a.db" 2>&1); rc=$?
report "$([ $rc = 0 ] && printf '%s' "$out" | grep -q "sqlite, schema version 8 (this domauth writes 8), 120 events" && echo 1 || echo 0)" \
    "check: SQLite, schema version, events" "exit $rc: $out"
out=$("$domauth_bin" store check --database "$w/missing.db" 2>&1); rc=$?
report "$([ $rc = 66 ] && echo 1 || echo 0)" "check of a missing database: exit 66" "exit $rc: $out"
out=$("$domauth_bin" store frobnicate 2>&1); rc=$?
report "$([ $rc = 64 ] && echo 1 || echo 0)" "an unknown verb: exit 64" "exit $rc"

# The table's NODE column: shown when the events listed come from more than
# one node, not for one node's.
out=$("$domauth_bin" log --database "$w/a.db" --limit 6 2>/dev/null)
one=$("$domauth_bin" log --database "$w/a.db" --limit 6 --node mx1 2>/dev/null)
report "$(printf '%s\n' "$out" | head -1 | grep -q '^TIME  *NODE  *RESULT' &&
          printf '%s\n' "$out" | grep -q ' mx0  ' && printf '%s\n' "$out" | grep -q ' mx1  ' &&
          printf '%s\n' "$one" | head -1 | grep -q '^TIME  *RESULT' && echo 1 || echo 0)" \
    "domauth log: a NODE column when the events come from more than one node, none for one" \
    "$out"$'\n'"$one"

# --purge-before takes the cluster's purge lease, as [daemon] node: refused
# (exit 75, naming the holder) while another node holds it.
cp "$w/a.db" "$w/p.db"
"$python" - "$w/p.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("INSERT INTO cluster_jobs (job, holder, until) VALUES ('purge', 'mx-other', ?)",
           (int(time.time()) + 3600,))
db.commit()
PY
printf '[daemon]\nsyslog = no\ndatabase = %s\nnode = %s\n' "$w/p.db" mx-self > "$w/self.conf"
printf '[daemon]\nsyslog = no\ndatabase = %s\nnode = %s\n' "$w/p.db" mx-other > "$w/other.conf"
out=$("$domauth_bin" log --config "$w/self.conf" --purge-before @1800000060 2>&1); rc=$?
n=$("$domauth_bin" log --database "$w/p.db" --json --limit 0 | wc -l)
report "$([ $rc = 75 ] && [ "$n" = 120 ] && printf '%s' "$out" | grep -q "node 'mx-other' holds the cluster's purge lease until .*nothing deleted here (this is node mx-self)" && echo 1 || echo 0)" \
    "--purge-before while another node holds the purge lease: exit 75, it is named, nothing deleted" "exit $rc: $out; $n events"
out=$("$domauth_bin" log --config "$w/other.conf" --purge-before @1800000060 2>&1); rc=$?
n=$("$domauth_bin" log --database "$w/p.db" --json --limit 0 | wc -l)
report "$([ $rc = 0 ] && [ "$n" = 60 ] && echo 1 || echo 0)" \
    "  as the holder ([daemon] node = mx-other): the purge runs (60 left)" "exit $rc: $out; $n events"

# What domauthd -t says of the keys (no server needed).
domauthd_bin=${DOMAUTHD_BIN:-$repo_root/build/daemon/domauthd}
for bad in "postgresql://domauth:secret@db.example/domauth" "postgresql:///domauth?password=x" \
           "relative/events.db"; do
    printf '[daemon]\nsyslog = no\ndatabase = %s\n' "$bad" > "$w/bad.conf"
    out=$("$domauthd_bin" -t -c "$w/bad.conf" 2>&1); rc=$?
    report "$([ $rc != 0 ] && printf '%s' "$out" | grep -q 'bad.conf:3: database: ' && echo 1 || echo 0)" \
        "domauthd -t refuses database = $bad, naming file and line" "$out"
done
printf '[daemon]\nsyslog = no\ndatabase = postgresql://domauth@db.example/domauth?sslmode=require\nnode = mx1\nevent_spool_size = 8\n' > "$w/ok.conf"
out=$("$domauthd_bin" -t -c "$w/ok.conf" 2>&1)
report "$(printf '%s' "$out" | grep -q ': ok' && echo 1 || echo 0)" \
    "a postgresql:// URI without a password, node and event_spool_size are taken" "$out"

if ! pg_available; then
    report 1 "# SKIP PostgreSQL: $pg_why"
    tap_done
    exit
fi
trap 'tap_cleanup; pg_cleanup' EXIT
pg_start || { echo "Bail out! PostgreSQL did not start"; exit 1; }
pg_createdb big
uri=$(pg_uri big)
"$python" - "$w/a.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for i in range(3):
    db.execute("INSERT INTO quarantine (id, path, time, sender, rcpts, domain, results, state)"
               " VALUES (?, ?, ?, 'a@sender.test', '[\"b@dest.test\"]', 'sender.test',"
               " '[\"spf=fail\"]', 'quarantined')", ("q%d" % i, "/shared/new/q%d" % i, 1800000000 + i))
db.commit()
PY
out=$("$domauth_bin" store migrate --from "$w/a.db" --database "$uri" --node mx9 2>&1); rc=$?
report "$([ $rc = 0 ] && printf '%s' "$out" | grep -q "120 events" &&
          printf '%s' "$out" | grep -q "3 quarantine index rows copied" && echo 1 || echo 0)" \
    "migrate SQLite into PostgreSQL: 120 events, 3 quarantine rows" "exit $rc: $out"
"$domauth_bin" store migrate --from "$w/a.db" --database "$uri" --node mx9 >/dev/null 2>&1
report "$([ "$(pg_sql big 'SELECT count(*) FROM events')" = 120 ] &&
          [ "$(pg_sql big 'SELECT count(*) FROM quarantine')" = 3 ] && echo 1 || echo 0)" \
    "migrated again: nothing twice" "$(pg_sql big 'SELECT count(*) FROM events')"
report "$([ "$(pg_sql big "SELECT count(*) FROM events WHERE node = 'mx9'")" = 40 ] && echo 1 || echo 0)" \
    "events without a node got --node" "$(pg_sql big "SELECT node, count(*) FROM events GROUP BY 1")"
# With a configuration and no --node: its [daemon] node, not the host name.
pg_createdb big2
printf '[daemon]\nsyslog = no\ndatabase = %s\nnode = mx7\n' "$(pg_uri big2)" > "$w/mx7.conf"
out=$("$domauth_bin" store migrate --from "$w/a.db" --config "$w/mx7.conf" 2>&1); rc=$?
report "$([ $rc = 0 ] && [ "$(pg_sql big2 "SELECT count(*) FROM events WHERE node = 'mx7'")" = 40 ] &&
          printf '%s' "$out" | grep -q "without a node are mx7's" && echo 1 || echo 0)" \
    "migrate --config: events without a node get its [daemon] node (mx7)" \
    "exit $rc: $out; $(pg_sql big2 "SELECT node, count(*) FROM events GROUP BY 1")"
# --purge-before on PostgreSQL: the lease row is shared by the nodes.
printf '[daemon]\nsyslog = no\ndatabase = %s\nnode = %s\n' "$(pg_uri big2)" mxa > "$w/mxa.conf"
printf '[daemon]\nsyslog = no\ndatabase = %s\nnode = %s\n' "$(pg_uri big2)" mxb > "$w/mxb.conf"
out=$("$domauth_bin" log --config "$w/mxa.conf" --purge-before @1800000030 2>&1); rc=$?
outb=$("$domauth_bin" log --config "$w/mxb.conf" --purge-before @1800000090 2>&1); rcb=$?
report "$([ $rc = 0 ] && [ $rcb = 75 ] && [ "$(pg_sql big2 'SELECT count(*) FROM events')" = 90 ] &&
          [ "$(pg_sql big2 "SELECT holder FROM cluster_jobs WHERE job = 'purge'")" = mxa ] &&
          printf '%s' "$outb" | grep -q "node 'mxa' holds" && echo 1 || echo 0)" \
    "--purge-before on PostgreSQL: mxa takes the lease and purges; mxb is refused (exit 75), naming mxa" \
    "exit $rc: $out; exit $rcb: $outb; $(pg_sql big2 'SELECT count(*) FROM events') events"
strip() { sed 's/^{"id":[0-9]*,/{/'; }
"$domauth_bin" log --database "$w/a.db" --json --limit 0 --node mx1 | strip > "$w/lite.json"
"$domauth_bin" log --database "$uri" --json --limit 0 --node mx1 | strip > "$w/pg.json"
report "$([ -s "$w/pg.json" ] && cmp -s "$w/lite.json" "$w/pg.json" && echo 1 || echo 0)" \
    "domauth log --json reads the same events from both ($(wc -l < "$w/pg.json") of mx1)" \
    "$(diff "$w/lite.json" "$w/pg.json" | head -5)"
"$domauth_bin" log --database "$w/a.db" --summary > "$w/lite.sum"
"$domauth_bin" log --database "$uri" --summary > "$w/pg.sum"
report "$(cmp -s "$w/lite.sum" "$w/pg.sum" && echo 1 || echo 0)" "  and the same --summary" \
    "$(diff "$w/lite.sum" "$w/pg.sum" | head -5)"
mkdir -p "$w/q/tmp" "$w/q/new"
n=$("$domauth_bin" quarantine list --database "$uri" --dir "$w/q" 2>&1 | grep -c "quarantined")
report "$([ "$n" = 3 ] && echo 1 || echo 0)" "domauth quarantine list over PostgreSQL: the 3 rows" "$n"
out=$("$domauth_bin" store check --database "$uri" 2>&1); rc=$?
report "$([ $rc = 0 ] && printf '%s' "$out" | grep -q "postgresql, schema version 4 (this domauth writes 4), 120 events" && echo 1 || echo 0)" \
    "check: PostgreSQL" "exit $rc: $out"
out=$("$domauth_bin" store import "$w/events.jsonl" --database "$uri" 2>/dev/null)
report "$([ "$(pg_sql big 'SELECT count(*) FROM events')" = 120 ] && echo 1 || echo 0)" \
    "import of the same lines into PostgreSQL: nothing twice" "$out"
pg_createdb empty
out=$("$domauth_bin" store check --database "$(pg_uri empty)" 2>&1); rc=$?
report "$([ $rc = 66 ] && printf '%s' "$out" | grep -q "no domauth schema" && echo 1 || echo 0)" \
    "check of an empty PostgreSQL database: exit 66, says so" "exit $rc: $out"
tap_done
