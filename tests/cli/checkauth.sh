#!/bin/bash
# checkauth.sh: domauth checkauth, the check-auth responder (issue 12, item
# 4), run as an MTA runs a delivery command, offline (--zone) with a
# sendmail stand-in that records its arguments and the report: the summary
# (mail-from, PRA with a forged From:, DKIM per signature), the details,
# the Authentication-Results; the envelope from local(8)'s environment; no
# reply to the null sender, MAILER-DAEMON, automatic or list mail, our own
# reports or an address that would inject; the rate per sender; a sendmail
# that fails is a temporary failure; hostile text inert; the event. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
domauth_bin=${DOMAUTH_BIN:-$repo_root/build/cli/domauth}
[ -x "$domauth_bin" ] || { echo "Bail out! no domauth at $domauth_bin"; exit 1; }
. "$here/../lib/tap.sh"
tap_workdir domauth-checkauth
W=$workdir
py=/usr/bin/python3
t() { if eval "$1"; then echo 1; else echo 0; fi; } # a condition in shell words

"$domauth_bin" dkim keygen --domain sign.test --selector s1 --out "$W/s1.key" 2>/dev/null |
    sed -E 's/^([^\t]*)\.\tIN\tTXT\t/\1 TXT /' > "$W/s1.zone"
{
    echo 'example.com TXT "v=spf1 ip4:192.0.2.0/24 -all"'
    echo 'example.org TXT "v=spf1 ip4:203.0.113.0/24 -all"'
    echo '_dmarc.example.org TXT "v=DMARC1; p=reject"'
    echo '_dmarc.sign.test TXT "v=DMARC1; p=quarantine"'
    echo 'sign.test TXT "v=spf1 ip4:192.0.2.0/24 -all"'
    cat "$W/s1.zone"
} > "$W/zone"
cat > "$W/c.conf" <<EOF
[daemon]
event_log = $W/events.json
database =
syslog = no
authserv_id = mx.test
EOF
# The sendmail stand-in: its arguments, one a line, and the report.
cat > "$W/sendmail" <<EOF
#!/bin/sh
n=\$(ls "$W"/sent.* 2>/dev/null | wc -l)
printf '%s\n' "\$@" > "$W/args.\$n"
cat > "$W/sent.\$n"
exit \${FAKE_SENDMAIL_STATUS:-0}
EOF
chmod +x "$W/sendmail"
sent_count() { ls "$W"/sent.* 2>/dev/null | wc -l; }
last_sent() { ls -t "$W"/sent.* | head -1; }
ca() { # the responder; its log in $W/ca.log
    "$domauth_bin" checkauth --config "$W/c.conf" --zone "$W/zone" --sendmail "$W/sendmail" \
        --state "$W/state" --recipient check-auth@mx.test --stderr "$@" 2> "$W/ca.log"
}

printf 'From: Bob <bob@example.com>\nTo: check-auth@mx.test\nSubject: setup test\nMessage-ID: <m1@example.com>\n\nhello\n' > "$W/m1"
ca --sender bob@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/m1"
rc=$?
report "$(t '[ $rc = 0 ] && [ "$(sent_count)" = 1 ]')" "a message in: one report sent, exit 0" "exit $rc; $(cat "$W/ca.log")"
r=$(tr -d '\r' < "$(last_sent)")
report "$(t 'grep -qx -- "-i" "$W/args.0" && grep -qx -- "-f" "$W/args.0" && grep -qx -- "<>" "$W/args.0" && [ "$(tail -n 1 "$W/args.0")" = bob@example.com ]')" \
    "sendmail -i -f <> -- SENDER: the null envelope sender, the sender as recipient" "$(cat "$W/args.0")"
report "$(t 'grep -qx "To: <bob@example.com>" <<< "$r" && grep -qx "Auto-Submitted: auto-replied" <<< "$r" && grep -qx "In-Reply-To: <m1@example.com>" <<< "$r" && grep -qx "From: check-auth responder <check-auth@mx.test>" <<< "$r"')" \
    "the report: To the sender, From the responder's mailbox, Auto-Submitted, In-Reply-To" "$r"
report "$(t 'grep -q "^mail-from check:  *pass$" <<< "$r" && grep -q "^PRA check:  *pass$" <<< "$r" && grep -q "^DKIM check:  *none (message not signed)$" <<< "$r" && grep -q "^DMARC check:  *none (no DMARC record)$" <<< "$r"')" \
    "summary: mail-from pass, PRA pass, DKIM none (not signed), DMARC none" "$r"
report "$(t 'grep -q "^HELO hostname:  *mx.example.com$" <<< "$r" && grep -q "^Source IP:  *192.0.2.10$" <<< "$r" && grep -q "^PRA header:  *from$" <<< "$r" && grep -q "^PRA:  *bob@example.com$" <<< "$r"')" \
    "details: HELO, source IP, PRA header and PRA" "$r"
report "$(t 'grep -q "^Authentication-Results: mx.test;" <<< "$r" && grep -q "^ *spf=pass" <<< "$r" && grep -q "^ *sender-id=pass" <<< "$r"')" \
    "the full Authentication-Results, one result a line" "$r"
report "$(t '[ "$(tail -n 1 "$W/events.json" | "$py" -c "import json,sys; e=json.load(sys.stdin); print(e[\"listener\"], e[\"result\"])")" = "checkauth pass" ]')" \
    "the check is an event (listener checkauth)" "$(tail -n 1 "$W/events.json")"

# A forged From: (the source document's test): the PRA check fails.
printf 'From: Alice <alice@example.org>\nTo: check-auth@mx.test\nSubject: forged\n\nhello\n' > "$W/m2"
ca --sender bob@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/m2"
r=$(tr -d '\r' < "$(last_sent)")
report "$(t 'grep -q "^mail-from check:  *pass$" <<< "$r" && grep -q "^PRA check:  *fail (not permitted)$" <<< "$r" && grep -q "^PRA:  *alice@example.org$" <<< "$r"')" \
    "a forged From: gives 'PRA check: fail (not permitted)' with the PRA named" "$r"
report "$(t 'grep -q "^DMARC check:  *fail (no SPF or DKIM pass aligned" <<< "$r" && grep -q "dmarc=fail" <<< "$r"')" \
    "... and DMARC fail for the From: domain's p=reject (checked even where the site has it off)" "$r"

# Signed: DKIM per signature with d= and s=.
printf 'From: Carol <carol@sign.test>\nTo: check-auth@mx.test\nSubject: signed\n\nhello\n' |
    "$domauth_bin" dkim sign --key "$W/s1.key" --selector s1 --domain sign.test > "$W/m3"
# The envelope as Postfix local(8) gives it to a command: the environment.
SENDER=carol@sign.test CLIENT_ADDRESS=192.0.2.20 CLIENT_HELO=out.sign.test \
    "$domauth_bin" checkauth --config "$W/c.conf" --zone "$W/zone" --sendmail "$W/sendmail" \
    --state "$W/state" < "$W/m3" 2> "$W/ca.log"
rc=$?
r=$(tr -d '\r' < "$(last_sent)")
report "$(t '[ $rc = 0 ] && grep -qx "To: <carol@sign.test>" <<< "$r" && grep -q "^DKIM check:  *pass (d=sign.test s=s1)$" <<< "$r" && grep -q "^HELO hostname:  *out.sign.test$" <<< "$r" && grep -q "^DMARC check:  *pass$" <<< "$r"')" \
    "the envelope from local(8)'s environment; DKIM check: pass (d=sign.test s=s1)" "exit $rc; $r; $(cat "$W/ca.log")"
sed 's/^hello$/hello, changed/' "$W/m3" > "$W/m3b"
ca --sender carol@sign.test --client-ip 192.0.2.20 --helo out.sign.test < "$W/m3b"
r=$(tr -d '\r' < "$(last_sent)")
report "$(t 'grep -q "^DKIM check:  *fail (not permitted) (d=sign.test s=s1)$" <<< "$r"')" \
    "a body changed after signing: DKIM check: fail" "$r"

# Forwarded and sealed (ARC): the chain is reported with its sealer.
"$domauth_bin" arc seal --zone "$W/zone" --key "$W/s1.key" --selector s1 --domain sign.test \
    --authres 'mx.sign.test; spf=pass smtp.mailfrom=bob@example.com' < "$W/m1" > "$W/m5"
ca --rate 0 --sender bob@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/m5"
r=$(tr -d '\r' < "$(last_sent)")
report "$(t 'grep -q "^ARC check:  *pass (sealed by i=1 sign.test)$" <<< "$r" && grep -q "^ *arc=pass" <<< "$r"')" \
    "an ARC-sealed message: ARC check: pass, with the sealer" "$r"

# No reply: each of these is logged and exits 0, nothing sent.
no_reply() { # DESCRIPTION SENDER MESSAGE-TEXT
    local before after rc
    before=$(sent_count)
    printf "$3" > "$W/nr"
    ca --sender "$2" --client-ip 192.0.2.10 --helo mx.example.com < "$W/nr"
    rc=$?
    after=$(sent_count)
    report "$(t '[ $rc = 0 ] && [ "$before" = "$after" ] && grep -q "no report" "$W/ca.log"')" \
        "no reply to $1" "exit $rc; sent $before -> $after; $(cat "$W/ca.log")"
}
plain='From: bob@example.com\nSubject: x\n\nbody\n'
no_reply "the null sender" "" "$plain"
no_reply "the null sender given as <>" "<>" "$plain"
no_reply "MAILER-DAEMON" "MAILER-DAEMON@example.com" "$plain"
no_reply "Auto-Submitted: auto-generated" bob@example.com 'From: bob@example.com\nAuto-Submitted: auto-generated\n\nbody\n'
no_reply "Precedence: bulk" bob@example.com 'From: bob@example.com\nPrecedence: bulk\n\nbody\n'
no_reply "list mail (List-Id)" bob@example.com 'From: bob@example.com\nList-Id: <x.lists.example.com>\n\nbody\n'
no_reply "a report of this responder (loop)" bob@example.com 'From: bob@example.com\nX-Domauth-Checkauth: yes\n\nbody\n'
no_reply "a sender that would inject a recipient" 'bob@example.com>, evil@example.net' "$plain"
no_reply "a sender that starts like an option" '-oQ/tmp@example.com' "$plain"
before=$(sent_count)
printf 'From: bob@example.com\nAuto-Submitted: no\n\nbody\n' > "$W/nr"
ca --sender bob@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/nr"
report "$(t '[ "$(sent_count)" = $((before + 1)) ]')" "Auto-Submitted: no is answered"

# The rate: 2 an hour for this sender, then nothing (logged).
before=$(sent_count)
for i in 1 2 3; do
    ca --rate 2 --sender dave@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/m1"
done
report "$(t '[ "$(sent_count)" = $((before + 2)) ] && grep -q "more than 2 this hour" "$W/ca.log"')" \
    "--rate 2: two reports, the third not sent and logged" "sent $before -> $(sent_count); $(cat "$W/ca.log")"
ca --rate 2 --sender erin@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/m1"
report "$(t '[ "$(sent_count)" = $((before + 3)) ]')" "the rate is per sender"

# Hostile text from the message stays inert in the report.
printf 'From: bob@example.com\nSubject: hi \033[31mred\033[0m\nMessage-ID: <x y@example.com>\n\nbody\n' > "$W/m4"
ca --sender bob@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/m4"
raw=$(cat "$(last_sent)")
report "$(t '! grep -q $'"'"'\033'"'"' <<< "$raw" && grep -q "subject: hi \\\\x1b\[31mred" <<< "$raw" && ! grep -q "^In-Reply-To:" <<< "$raw"')" \
    "control bytes of the subject are escaped; a broken Message-ID is not quoted" "$raw"
report "$("$py" -c 'import sys; d=open(sys.argv[1],"rb").read(); print(1 if all(l.endswith(b"\r") or not l for l in d.split(b"\n")[:-1]) and max(len(l) for l in d.split(b"\n")) <= 1000 else 0)' "$(last_sent)")" \
    "the report's lines end in CRLF and none is over 998 characters"

# sendmail fails: a temporary failure, so that the MTA tries again.
FAKE_SENDMAIL_STATUS=75 ca --sender bob@example.com --client-ip 192.0.2.10 --helo mx.example.com < "$W/m1"
rc=$?
report "$(t '[ $rc = 75 ] && grep -q "not sent" "$W/ca.log"')" "a sendmail that fails: exit 75, logged" "exit $rc; $(cat "$W/ca.log")"
"$domauth_bin" checkauth --help > "$W/help" 2>&1
report "$(t 'grep -q "check-auth: \"|/usr/bin/domauth checkauth\"" "$W/help"')" "--help shows the aliases(5) line"
out=$("$domauth_bin" checkauth --config "$W/c.conf" < "$W/m1" 2>&1)
rc=$?
report "$(t '[ $rc = 64 ] && grep -q "sender is not known" <<< "$out"')" "no sender at all: a usage error" "exit $rc: $out"

tap_done
