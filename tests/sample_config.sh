#!/bin/bash
# sample_config.sh: the committed examples/domauth.conf must be exactly what
# `domauthd --sample-config` prints, and domauthd -t must accept it. TAP.
set -u
bin=${DOMAUTHD_BIN:-build/daemon/domauthd}
sample=${1:-examples/domauth.conf}
echo "1..2"
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
