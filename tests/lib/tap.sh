# tests/lib/tap.sh: TAP for the shell tests (source it). report OK DESC
# [DIAGNOSTICS] prints one test line; tap_done prints the plan and returns
# non-zero when a test failed.
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
