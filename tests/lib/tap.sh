# tests/lib/tap.sh: TAP for the shell tests (source it). report OK DESC
# [DIAGNOSTICS] prints one test line; tap_done prints the plan and returns
# non-zero when a test failed; tap_workdir makes the test's temporary
# directory and cleans up at exit.
count=0
failed=0
report() { # ok? description [diagnostics]
    count=$((count + 1))
    if [ "$1" = 1 ]; then
        echo "ok $count - $2"
    else
        failed=$((failed + 1))
        echo "not ok $count - $2"
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /'
    fi
}
yes_if() { if "$@"; then echo 1; else echo 0; fi; } # one simple command
tap_done() {
    echo "1..$count"
    [ "$failed" = 0 ]
}
# tap_workdir NAME: a new temporary directory in $workdir (/tmp/NAME.XXXXXX),
# removed at exit, after the processes whose pids are in the variables
# named in $tap_pids (those set and not empty) are killed and reaped.
tap_workdir() {
    workdir=$(mktemp -d "/tmp/$1.XXXXXX")
    trap tap_cleanup EXIT
}
tap_cleanup() {
    local name pid
    for name in ${tap_pids:-}; do
        pid=${!name:-}
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    rm -rf "$workdir"
}
