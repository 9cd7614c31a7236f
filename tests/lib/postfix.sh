# tests/lib/postfix.sh: a private Postfix instance for a test (postfix -c
# DIR), as tests/e2e/postfix_e2e.sh and tests/store/pg_nodes_postfix.sh run
# them (source it; run as root, inside the test's own network namespace).
#   pf_main_cf DIR MAILDIR NAME: prints the main.cf lines every such
#     instance has: its queue and data directories under DIR, its log in
#     DIR/maillog (no syslog needed), loopback only, mail for dest.test into
#     the Maildir MAILDIR/box/, nothing leaves; NAME is its myhostname and
#     syslog_name. The caller appends its own lines (a later line wins).
#   pf_master_services: prints master.cf's lines for Postfix's own services,
#     chroot off; the caller puts its smtpd listeners before them.
#   pf_start DIR PORT...: makes the directories, starts the instance and
#     waits (10 s at most) until it listens on each port; on failure prints
#     what its log says as TAP diagnostics ("#   ") and returns 1.
#   pf_stop DIR: stops it, and kills its master when it does not go.
pf_main_cf() { # dir maildir name
    cat <<EOF
compatibility_level = 3.6
queue_directory = $1/queue
data_directory = $1/data
maillog_file = $1/maillog
maillog_file_prefixes = $1
syslog_name = $3
myhostname = $3
mydomain = e2e.test
myorigin = e2e.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
virtual_mailbox_domains = dest.test
virtual_mailbox_base = $2
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
virtual_minimum_uid = 1
default_transport = error:test: nothing leaves this instance
relay_transport = error:test: nothing leaves this instance
smtpd_authorized_xclient_hosts = 127.0.0.1
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_error_sleep_time = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_peername_lookup = no
in_flow_delay = 0
biff = no
delay_warning_time = 0
smtputf8_enable = no
EOF
}

pf_master_services() {
    cat <<'EOF'
smtp       unix  -       -       n       -       -       smtp
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
virtual    unix  -       n       n       -       -       virtual
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
EOF
}

pf_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pf_start() { # dir port...
    local dir=$1 port _
    shift
    mkdir -p "$dir/queue" "$dir/data"
    chown postfix:postfix "$dir/data"
    if ! postfix -c "$dir" start > "$dir/start.log" 2>&1; then
        echo "# postfix -c $dir did not start:"
        cat "$dir/start.log" "$dir/maillog" 2>/dev/null | tail -n 20 | sed 's/^/#   /'
        return 1
    fi
    for port in "$@"; do
        for _ in $(seq 100); do
            pf_listening "$port" && continue 2
            sleep 0.1
        done
        echo "# postfix -c $dir does not listen on $port:"
        tail -n 20 "$dir/maillog" 2>/dev/null | sed 's/^/#   /'
        return 1
    done
}

pf_stop() { # dir
    local pid _
    [ -f "$1/main.cf" ] || return 0
    pid=$(tr -d ' ' 2>/dev/null < "$1/queue/pid/master.pid")
    postfix -c "$1" stop >/dev/null 2>&1
    if [ -n "$pid" ]; then
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
    fi
    return 0
}
