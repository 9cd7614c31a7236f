#!/bin/sh
# install-config.sh DIR SAMPLE: meson's install script for the sample
# configuration: DIR/domauth.conf (under $DESTDIR) gets SAMPLE only when it
# does not exist, so that a reinstall never overwrites an administrator's
# file.
set -eu
dir=${DESTDIR:-}$1
sample=$2
if [ -e "$dir/domauth.conf" ]; then
    echo "Keeping $dir/domauth.conf (exists; the sample is in the doc examples)"
else
    install -d -m 0755 "$dir"
    install -m 0644 "$sample" "$dir/domauth.conf"
    echo "Installing $sample to $dir/domauth.conf"
fi
