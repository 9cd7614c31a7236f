#!/bin/bash
# sample_config.sh: the committed examples/domauth.conf must be exactly what
# `domauthd --sample-config` prints, and domauthd -t must accept it. TAP.
set -u
bin=${DOMAUTHD_BIN:-build/daemon/domauthd}
sample=${1:-examples/domauth.conf}
man=${2:-$(dirname "$sample")/../doc/domauth.conf.5}
echo "1..3"
if diff -u "$sample" <("$bin" --sample-config) > /tmp/sample-config.diff.$$ 2>&1; then
    echo "ok 1 - $sample matches domauthd --sample-config"
else
    echo "not ok 1 - $sample differs from domauthd --sample-config (regenerate it)"
    sed 's/^/#   /' /tmp/sample-config.diff.$$ | head -20
fi
rm -f /tmp/sample-config.diff.$$
if out=$("$bin" -t -c "$sample" 2>&1); then
    echo "ok 2 - domauthd -t accepts $sample"
else
    echo "not ok 2 - domauthd -t rejects $sample"
    echo "#   $out"
fi
# Every [daemon] key of the sample is in domauth.conf(5) with its default,
# as '.BI "key = " "default"' (the man page escapes '-' as '\-').
printed=$("$bin" --sample-config 2>&1) || printed=
# Only the [daemon] section of the man page: other sections ([web]) have
# keys of the same name (user, group).
daemon_man=$(sed -n '/^\.SH THE \[daemon\] SECTION/,/^\.SH THE \[hosts\] SECTION/p' "$man")
missing=$(printf '%s\n' "$printed" | awk '/^\[/ { section = $0; next }
    section == "[daemon]" && /^;[a-z_]+ = / { print substr($0, 2) }' |
    while IFS= read -r line; do
        key=${line%% = *}
        value=${line#"$key = "}
        documented=$(printf '%s\n' "$daemon_man" | sed -n "s/^\.BI \"$key = \" \"\(.*\)\"\$/\1/p" | sed 's/\\-/-/g')
        [ "$(printf '%s\n' "$daemon_man" | grep -c "^\.BI \"$key = \"")" = 1 ] && [ "$documented" = "$value" ] ||
            echo "$key = $value"
    done)
if [ -z "$printed" ]; then
    echo "not ok 3 - $bin --sample-config printed nothing"
elif [ -z "$missing" ]; then
    echo "ok 3 - every [daemon] key is in $(basename "$man") with its default"
else
    echo "not ok 3 - [daemon] keys missing from $man or with another default there:"
    printf '%s\n' "$missing" | sed 's/^/#   /'
fi
