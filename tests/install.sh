#!/bin/bash
# install.sh SOURCE_ROOT BUILD_ROOT: what `make install DESTDIR=...` puts
# where, file by file (issue 17 item 1). It runs the install make install
# runs (meson install --tags runtime,man,doc) from the build tree into a
# temporary DESTDIR, with the tree's own prefix (make install sets the tree
# to PREFIX=/usr), and checks: exactly the expected files, their modes and
# contents, the unit's paths against the installed programs, the tmpfiles.d
# directories against the built-in defaults, and that a second install keeps
# an administrator's /etc/domauth/domauth.conf. No root, a few seconds. TAP.
set -u
src=${1:?source root}
build=${2:?build root}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/tap.sh"
tap_workdir domauth-install
dest=$workdir/dest

# The tree's directories, as meson install uses them.
eval "$(meson introspect --buildoptions "$build" | /usr/bin/python3 -c '
import json, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
for name in ("prefix", "bindir", "sbindir", "mandir", "datadir", "systemd_unit_dir",
             "tmpfiles_dir", "sysusers_dir"):
    print("opt_%s=%r" % (name, opts[name]))
')"
abs() { case $1 in /*) echo "$1" ;; *) echo "$opt_prefix/$1" ;; esac; }
sbindir=$(abs "$opt_sbindir")
bindir=$(abs "$opt_bindir")
mandir=$(abs "$opt_mandir")
docdir=$(abs "$opt_datadir")/doc/domauth
unitdir=$opt_systemd_unit_dir
if [ -z "$unitdir" ]; then
    if [ "$opt_prefix" = /usr ]; then unitdir=/lib/systemd/system; else unitdir=$opt_prefix/lib/systemd/system; fi
fi
tmpfilesdir=${opt_tmpfiles_dir:-$opt_prefix/lib/tmpfiles.d}
sysusersdir=${opt_sysusers_dir:-$opt_prefix/lib/sysusers.d}
echo "# prefix $opt_prefix, units in $unitdir"

run_install() {
    meson install -C "$build" --no-rebuild --tags runtime,man,doc --destdir "$dest" \
        > "$workdir/install.log" 2>&1
}
if ! run_install; then
    report 0 "meson install --destdir runs" "$(tail -20 "$workdir/install.log")"
    tap_done
    exit
fi
report 1 "meson install --destdir runs"

# Exactly these files (mode), nothing else; domauth-web's when it is built
# (the web option: libmicrohttpd and libargon2 present).
web_files=
if [ -x "$build/web/domauth-web" ]; then
    web_files="0644 $mandir/man8/domauth-web.8
0644 $unitdir/domauth-web.service
0755 $sbindir/domauth-web"
fi
expected=$(grep -v "^$" <<EOF | sort
0644 /etc/domauth/domauth.conf
0644 $docdir/examples/domauth.conf
0644 $mandir/man1/domauth.1
0644 $mandir/man5/domauth.conf.5
0644 $mandir/man8/domauthd.8
0644 $sysusersdir/domauth.conf
0644 $tmpfilesdir/domauth.conf
0644 $unitdir/domauthd.service
0755 $bindir/domauth
0755 $bindir/domauth-xmail-filter
0755 $sbindir/domauthd
$web_files
EOF
)
actual=$(cd "$dest" && find . -type f -printf '%#m %p\n' | sed 's| \./| /|; s|^0*\([0-7]\{3\}\) |0\1 |' | sort)
report "$(yes_if [ "$expected" = "$actual" ])" "the installed files and their modes are exactly the expected ones" \
    "$(diff <(echo "$expected") <(echo "$actual"))"

# Contents.
same_as() { cmp -s "$1" "$dest$2"; }
report "$(yes_if same_as "$src/examples/domauth.conf" /etc/domauth/domauth.conf)" \
    "/etc/domauth/domauth.conf is the sample configuration"
report "$(yes_if same_as "$src/examples/domauth.conf" "$docdir/examples/domauth.conf")" \
    "the sample is also in the doc examples"
for page in domauth.1 domauth.conf.5 domauthd.8; do
    section=${page##*.}
    report "$(yes_if same_as "$src/doc/$page" "$mandir/man$section/$page")" "man page $page installed"
done
version=$("$dest$sbindir/domauthd" --version 2>&1)
report "$(yes_if grep -q '^domauthd [0-9]' <<<"$version")" "the installed domauthd runs" "$version"
out=$("$dest$sbindir/domauthd" -t -c "$dest/etc/domauth/domauth.conf" 2>&1)
report "$(yes_if grep -q ': ok' <<<"$out")" "the installed domauthd accepts the installed configuration" "$out"

# The unit runs the programs where they are installed, as domauth.
unit=$dest$unitdir/domauthd.service
report "$(yes_if grep -qx "ExecStart=$sbindir/domauthd -f" "$unit")" "ExecStart runs $sbindir/domauthd -f" \
    "$(grep Exec "$unit")"
report "$(yes_if grep -qx "ExecStartPre=$sbindir/domauthd -t" "$unit")" "ExecStartPre checks with -t"
report "$(yes_if grep -qx "ExecReload=$bindir/domauth reload" "$unit")" "ExecReload runs $bindir/domauth reload"
missing=
for p in $(sed -n 's/^Exec[A-Za-z]*=\([^ ]*\).*/\1/p' "$unit"); do
    [ -x "$dest$p" ] || missing="$missing $p"
done
report "$(yes_if [ -z "$missing" ])" "every program the unit runs is installed" "missing:$missing"
no_placeholder() { ! grep -q '@[a-z]*@' "$unit"; }
report "$(yes_if no_placeholder)" "no @placeholder@ is left in the unit" "$(grep '@' "$unit")"
report "$(yes_if grep -qx 'User=domauth' "$unit")" "the unit runs as User=domauth"
report "$(yes_if grep -qx 'Group=domauth' "$unit")" "the unit runs as Group=domauth"

# tmpfiles.d makes the directories of the built-in control socket and
# database, owned by domauth; sysusers.d makes that user.
sample=$("$dest$sbindir/domauthd" --sample-config)
control_dir=$(sed -n 's/^;control = unix:\(.*\)\/[^/]*$/\1/p' <<<"$sample")
database_dir=$(sed -n 's/^;database = \(.*\)\/[^/]*$/\1/p' <<<"$sample")
tmpfiles=$dest$tmpfilesdir/domauth.conf
report "$(yes_if grep -Eq "^d $control_dir 0755 domauth domauth -\$" "$tmpfiles")" \
    "tmpfiles.d makes $control_dir (the control socket's) for domauth" "$(grep -v '^#' "$tmpfiles")"
report "$(yes_if grep -Eq "^d $database_dir 0750 domauth domauth -\$" "$tmpfiles")" \
    "tmpfiles.d makes $database_dir (the database's) for domauth, 0750"
report "$(yes_if grep -Eq '^u domauth - ' "$dest$sysusersdir/domauth.conf")" \
    "sysusers.d makes the domauth user"

# A second install keeps an administrator's file, and puts back a removed one.
echo "# the administrator's" >> "$dest/etc/domauth/domauth.conf"
cp "$dest/etc/domauth/domauth.conf" "$workdir/admin.conf"
run_install
report "$(yes_if cmp -s "$workdir/admin.conf" "$dest/etc/domauth/domauth.conf")" \
    "a second install keeps an edited /etc/domauth/domauth.conf"
rm "$dest/etc/domauth/domauth.conf"
run_install
report "$(yes_if same_as "$src/examples/domauth.conf" /etc/domauth/domauth.conf)" \
    "an install after it was removed puts the sample back"

tap_done
