/* tests/unit/srs/srs.c: the SRS engine (src/srs) with an injected clock:
 * round trips, SRS1, stamps and their wrap, hashes (wrong, case, alphabet),
 * separators, secret rotation, and bounds. The expected addresses were made
 * by Mail::SRS 0.31 (libmail-srs-perl) with the same secret and day. */
#include <stdlib.h>
#include <string.h>

#include "srs/srs.h"
#include "tap.h"

#define DAY 86400
/* 2026-11-30 12:01 UTC: day 20788, stamp 20788 % 1024 = 308 = "JU". */
static const int64_t now_ju = 1796126461;

static srs *make(const char *secrets, const char *domain)
{
    srs *s = srs_new();
    if (s == NULL)
        abort();
    if (secrets != NULL && srs_add_secret_lines(s, secrets, strlen(secrets)) < 0)
        abort();
    if (domain != NULL && srs_set_domain(s, domain) != 0)
        abort();
    return s;
}

static srs_status fwd(const srs *s, const char *in, int64_t now, char *out, size_t size)
{
    return srs_forward(s, in, strlen(in), now, out, size);
}

static srs_status rev(const srs *s, const char *in, int64_t now, char *out, size_t size)
{
    return srs_reverse(s, in, strlen(in), now, out, size);
}

static void test_known_answers(void)
{
    srs *s = make("sekrit\n", "fwd.example.net");
    char out[SRS_ADDRESS_MAX], back[SRS_ADDRESS_MAX];
    TAP_OK(fwd(s, "Alice.Smith@Example.COM", now_ju, out, sizeof out) == SRS_OK, "forward");
    TAP_STR_EQ(out, "SRS0=uoTY=JU=Example.COM=Alice.Smith@fwd.example.net",
               "SRS0 as Mail::SRS writes it (case kept, hash over lowercase)");
    TAP_OK(rev(s, out, now_ju, back, sizeof back) == SRS_OK, "reverse");
    TAP_STR_EQ(back, "Alice.Smith@Example.COM", "round trip gives the original");

    srs *second = make("sekrit\n", "second.example.org");
    char srs1[SRS_ADDRESS_MAX];
    TAP_OK(fwd(second, out, now_ju, srs1, sizeof srs1) == SRS_OK, "forward an SRS0 address");
    TAP_STR_EQ(srs1, "SRS1=MKVS=fwd.example.net==uoTY=JU=Example.COM=Alice.Smith@second.example.org",
               "SRS1 as Mail::SRS writes it");
    TAP_OK(rev(second, srs1, now_ju, back, sizeof back) == SRS_OK, "reverse SRS1");
    TAP_STR_EQ(back, out, "SRS1 reverses to the first forwarder's SRS0 address");

    /* Re-forwarding SRS1 keeps the first forwarder; the hash does not cover
     * the SRS domain, so with the same secret it is the same. */
    srs *third = make("sekrit\n", "third.example");
    char again[SRS_ADDRESS_MAX];
    TAP_OK(fwd(third, srs1, now_ju, again, sizeof again) == SRS_OK, "forward an SRS1 address");
    TAP_STR_EQ(again, "SRS1=MKVS=fwd.example.net==uoTY=JU=Example.COM=Alice.Smith@third.example",
               "SRS1 re-forwarded keeps the first forwarder");
    srs *other = make("different\n", "fourth.example");
    TAP_OK(fwd(other, srs1, now_ju, again, sizeof again) == SRS_OK &&
               strncmp(again, "SRS1=", 5) == 0 && strcmp(again + 9,
               "=fwd.example.net==uoTY=JU=Example.COM=Alice.Smith@fourth.example") == 0 &&
               rev(other, again, now_ju, back, sizeof back) == SRS_OK && strcmp(back, out) == 0,
           "SRS1 re-signed with another secret reverses to the same SRS0 (%s)", again);

    TAP_OK(fwd(s, "bob@fwd.example.net", now_ju, out, sizeof out) == SRS_UNCHANGED &&
               strcmp(out, "bob@fwd.example.net") == 0,
           "an address already under the SRS domain is left alone");
    TAP_OK(fwd(s, "bob@FWD.Example.Net", now_ju, out, sizeof out) == SRS_UNCHANGED,
           "the SRS domain compares without case");
    srs_free(s);
    srs_free(second);
    srs_free(third);
    srs_free(other);
}

static void test_separators(void)
{
    srs *s = make("sekrit", "fwd.example.net");
    char out[SRS_ADDRESS_MAX], back[SRS_ADDRESS_MAX];
    TAP_OK(srs_set_separator(s, '+') == 0, "separator +");
    TAP_OK(fwd(s, "bob@example.com", now_ju, out, sizeof out) == SRS_OK, "forward with +");
    TAP_STR_EQ(out, "SRS0+rkmb=JU=example.com=bob@fwd.example.net", "SRS0+ as Mail::SRS");
    srs *x = make("sekrit", "x.org");
    srs_set_separator(x, '+');
    char srs1[SRS_ADDRESS_MAX];
    TAP_OK(fwd(x, out, now_ju, srs1, sizeof srs1) == SRS_OK, "SRS1 of an SRS0+ address");
    TAP_STR_EQ(srs1, "SRS1+TRWO=fwd.example.net=+rkmb=JU=example.com=bob@x.org",
               "SRS1 keeps the SRS0 separator after its host");
    TAP_OK(srs_set_separator(s, '-') == 0, "separator -");
    TAP_OK(fwd(s, "bob@example.com", now_ju, out, sizeof out) == SRS_OK &&
               strcmp(out, "SRS0-rkmb=JU=example.com=bob@fwd.example.net") == 0,
           "SRS0- (%s)", out);
    const char *forms[] = {"SRS0=rkmb=JU=example.com=bob@fwd.example.net",
                           "SRS0+rkmb=JU=example.com=bob@fwd.example.net",
                           "SRS0-rkmb=JU=example.com=bob@fwd.example.net",
                           "srs0=rkmb=JU=example.com=bob@fwd.example.net"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        TAP_OK(rev(s, forms[i], now_ju, back, sizeof back) == SRS_OK &&
                   strcmp(back, "bob@example.com") == 0,
               "reverse accepts %s", forms[i]);
    TAP_OK(srs_set_separator(s, '/') != 0 && srs_set_separator(s, 0) != 0,
           "other separators are refused");
    srs_free(s);
    srs_free(x);
}

static void test_hashes(void)
{
    srs *s = make("sekrit", "fwd.example.net");
    char back[SRS_ADDRESS_MAX];
    TAP_OK(rev(s, "SRS0=UOTY=ju=Example.COM=Alice.Smith@fwd.example.net", now_ju, back,
               sizeof back) == SRS_OK && strcmp(back, "Alice.Smith@Example.COM") == 0,
           "hash and stamp compare without case");
    TAP_OK(rev(s, "SRS0=uoTY=JU=example.com=alice.smith@fwd.example.net", now_ju, back,
               sizeof back) == SRS_OK,
           "a case-smashed local part still verifies");
    TAP_OK(rev(s, "SRS0=uoTX=JU=Example.COM=Alice.Smith@fwd.example.net", now_ju, back,
               sizeof back) == SRS_BAD_HASH && back[0] == '\0',
           "a wrong hash is a bad hash, and nothing is written");
    TAP_OK(rev(s, "SRS0=uoTY=JU=Example.COM=Alice.Smithx@fwd.example.net", now_ju, back,
               sizeof back) == SRS_BAD_HASH, "a changed local part is a bad hash");
    TAP_OK(rev(s, "SRS0=uoTY=JV=Example.COM=Alice.Smith@fwd.example.net", now_ju, back,
               sizeof back) == SRS_BAD_HASH, "a changed stamp is a bad hash");
    TAP_OK(rev(s, "SRS0=uoT=JU=Example.COM=Alice.Smith@fwd.example.net", now_ju, back,
               sizeof back) == SRS_BAD_HASH, "a hash shorter than 4 is refused");
    TAP_OK(rev(s, "SRS1=MKVS=fwd.example.net=+uoTY=JU=Example.COM=Alice.Smith@x", now_ju,
               back, sizeof back) == SRS_BAD_HASH,
           "SRS1: the hash covers the SRS0 separator");

    /* The base64 alphabet: '+' '/' or '-' '_' (PostSRSd accepts both).
     * "u4@example.com" and "u12@example.com" give hashes with + and /. */
    char out[SRS_ADDRESS_MAX];
    TAP_OK(fwd(s, "u4@example.com", now_ju, out, sizeof out) == SRS_OK, "forward u4");
    TAP_STR_EQ(out, "SRS0=z+WW=JU=example.com=u4@fwd.example.net", "a hash with + (as PostSRSd)");
    TAP_OK(rev(s, "SRS0=z-WW=JU=example.com=u4@fwd.example.net", now_ju, back, sizeof back) ==
               SRS_OK, "'-' is accepted for '+'");
    TAP_OK(fwd(s, "u12@example.com", now_ju, out, sizeof out) == SRS_OK &&
               strcmp(out, "SRS0=eA/x=JU=example.com=u12@fwd.example.net") == 0,
           "a hash with / (%s)", out);
    TAP_OK(rev(s, "SRS0=eA_x=JU=example.com=u12@fwd.example.net", now_ju, back, sizeof back) ==
               SRS_OK, "'_' is accepted for '/'");

    /* Longer hashes: written when asked, and a prefix of the same MAC. */
    TAP_OK(srs_set_hash_length(s, 10, 6) == 0, "hash length 10, minimum 6");
    TAP_OK(fwd(s, "bob@example.com", now_ju, out, sizeof out) == SRS_OK &&
               strncmp(out, "SRS0=rkmb", 9) == 0 && out[15] == '=',
           "a 10-character hash starts with the 4-character one (%s)", out);
    TAP_OK(rev(s, out, now_ju, back, sizeof back) == SRS_OK, "and reverses");
    TAP_OK(rev(s, "SRS0=rkmb=JU=example.com=bob@fwd.example.net", now_ju, back, sizeof back) ==
               SRS_BAD_HASH, "a 4-character hash is refused below the minimum");
    TAP_OK(srs_set_hash_length(s, 3, 4) != 0 && srs_set_hash_length(s, 28, 4) != 0,
           "hash lengths out of 4..27 are refused");
    srs_free(s);
}

static void test_stamps(void)
{
    srs *s = make("sekrit", "fwd.example.net");
    char out[SRS_ADDRESS_MAX], back[SRS_ADDRESS_MAX];
    TAP_OK(fwd(s, "carol@example.org", now_ju, out, sizeof out) == SRS_OK, "forward today");
    TAP_OK(rev(s, out, now_ju + 21 * DAY, back, sizeof back) == SRS_OK,
           "valid 21 days later (the default max age)");
    TAP_OK(rev(s, out, now_ju + 22 * DAY, back, sizeof back) == SRS_EXPIRED,
           "expired 22 days later");
    TAP_OK(rev(s, out, now_ju - DAY, back, sizeof back) == SRS_EXPIRED,
           "a stamp from tomorrow is 1023 days old: expired");
    TAP_OK(srs_set_max_age(s, 30) == 0 && rev(s, out, now_ju + 30 * DAY, back, sizeof back) ==
               SRS_OK, "max age 30: valid 30 days later");
    srs_set_max_age(s, 21);

    /* Day 1023 is "77"; two days later the day is 1 ("AB") after the wrap. */
    int64_t day1023 = (int64_t)(20480 + 1023) * DAY + 3600;
    TAP_OK(fwd(s, "dave@example.net", day1023, out, sizeof out) == SRS_OK &&
               strstr(out, "=77=") != NULL, "day 1023 is stamped 77 (%s)", out);
    TAP_OK(rev(s, out, day1023 + 2 * DAY, back, sizeof back) == SRS_OK,
           "valid two days later across the wrap");
    TAP_OK(rev(s, out, day1023 + 22 * DAY, back, sizeof back) == SRS_EXPIRED,
           "expired 22 days later across the wrap");
    TAP_OK(rev(s, out, day1023 + 1024 * DAY, back, sizeof back) == SRS_OK,
           "1024 days later the stamp looks fresh again (the scheme's period)");
    TAP_OK(fwd(s, "dave@example.net", day1023 + DAY, out, sizeof out) == SRS_OK &&
               strstr(out, "=AA=") != NULL, "the day after is stamped AA");
    TAP_OK(fwd(s, "dave@example.net", 0, out, sizeof out) == SRS_OK &&
               strstr(out, "=AA=") != NULL, "the epoch is day 0, AA");

    TAP_OK(rev(s, "SRS0=rkmb=J1=example.com=bob@fwd.example.net", now_ju, back, sizeof back) ==
               SRS_NOT_SRS, "a stamp outside base32 is not SRS");
    TAP_OK(rev(s, "SRS0=rkmb=JUU=example.com=bob@fwd.example.net", now_ju, back, sizeof back) ==
               SRS_NOT_SRS, "a three-character stamp is not SRS");
    srs_free(s);
}

static void test_rotation(void)
{
    srs *old = make("old-secret\n", "fwd.example.net");
    srs *both = make("new-secret\r\n\nold-secret\n", "fwd.example.net");
    srs *fresh = make("new-secret\n", "fwd.example.net");
    TAP_OK(srs_secret_count(both) == 2, "CRLF and empty lines: two secrets");
    char by_old[SRS_ADDRESS_MAX], by_both[SRS_ADDRESS_MAX], by_new[SRS_ADDRESS_MAX],
        back[SRS_ADDRESS_MAX];
    fwd(old, "erin@example.com", now_ju, by_old, sizeof by_old);
    fwd(both, "erin@example.com", now_ju, by_both, sizeof by_both);
    fwd(fresh, "erin@example.com", now_ju, by_new, sizeof by_new);
    TAP_STR_EQ(by_both, by_new, "the first line signs");
    TAP_OK(strcmp(by_old, by_new) != 0, "the two secrets give different hashes");
    TAP_OK(rev(both, by_old, now_ju, back, sizeof back) == SRS_OK, "a later line verifies");
    TAP_OK(rev(both, by_new, now_ju, back, sizeof back) == SRS_OK, "the first line verifies");
    TAP_OK(rev(fresh, by_old, now_ju, back, sizeof back) == SRS_BAD_HASH,
           "a dropped secret no longer verifies");
    srs *none = make(NULL, "fwd.example.net");
    TAP_OK(fwd(none, "erin@example.com", now_ju, back, sizeof back) == SRS_NO_SECRET &&
               rev(none, by_new, now_ju, back, sizeof back) == SRS_NO_SECRET,
           "no secret: nothing forwarded or reversed");
    TAP_OK(srs_add_secret_lines(none, "\n\r\n", 3) == 0, "blank lines add no secret");
    srs_free(old);
    srs_free(both);
    srs_free(fresh);
    srs_free(none);
}

static void test_malformed_and_bounds(void)
{
    srs *s = make("sekrit", "fwd.example.net");
    char out[SRS_ADDRESS_MAX], back[SRS_ADDRESS_MAX];
    const char *not_srs[] = {"plain@example.com", "SRS0@x", "SRS0=@x", "SRS0=a=b=c@x",
                             "SRS0=aaaa=JU=dom=@x", "SRS2=aaaa=JU=d=u@x", "SRS0xaaaa=JU=d=u@x",
                             "SRS1=aaaa=host@x", "SRS1=aaaa=host=user@x", "noat", "",
                             "SRS0=aaaa=JU=d@e=u@x", "SRS1=aaaa=h@i==u@x"};
    for (size_t i = 0; i < sizeof not_srs / sizeof not_srs[0]; i++)
        TAP_OK(rev(s, not_srs[i], now_ju, back, sizeof back) == SRS_NOT_SRS,
               "not SRS: '%s'", not_srs[i]);
    const char *bad[] = {"noat", "@example.com", "user@", "a@b=c"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TAP_OK(fwd(s, bad[i], now_ju, out, sizeof out) == SRS_BAD_ADDRESS,
               "forward refuses '%s'", bad[i]);
    TAP_OK(fwd(s, "a=b@c.org", now_ju, out, sizeof out) == SRS_OK &&
               rev(s, out, now_ju, back, sizeof back) == SRS_OK && strcmp(back, "a=b@c.org") == 0,
           "a local part with '=' round-trips (%s)", out);
    TAP_OK(fwd(s, "x@y@example.com", now_ju, out, sizeof out) == SRS_OK &&
               rev(s, out, now_ju, back, sizeof back) == SRS_OK &&
               strcmp(back, "x@y@example.com") == 0, "the last @ splits the address");

    /* A 64-byte local part at a 190-byte domain: 256 bytes in, longer out. */
    char local[65], domain[191], addr[300];
    memset(local, 'l', 64);
    local[64] = '\0';
    memset(domain, 'd', 190);
    domain[186] = '.';
    domain[190] = '\0';
    snprintf(addr, sizeof addr, "%s@%s", local, domain);
    TAP_OK(strlen(addr) == 255, "a 255-byte address");
    TAP_OK(fwd(s, addr, now_ju, out, sizeof out) == SRS_OK && strlen(out) > 255 &&
               rev(s, out, now_ju, back, sizeof back) == SRS_OK && strcmp(back, addr) == 0,
           "forwards to %zu bytes and reverses", strlen(out));
    char small[64];
    TAP_OK(fwd(s, addr, now_ju, small, sizeof small) == SRS_TOO_LONG && small[0] == '\0',
           "a short output buffer is refused, not truncated");
    TAP_OK(fwd(s, "bob@example.com", now_ju, small, 45) == SRS_OK &&
               strlen(small) == 44, "an output that just fits is written");
    TAP_OK(fwd(s, "bob@example.com", now_ju, small, 44) == SRS_TOO_LONG,
           "one byte less is refused");

    char *huge = malloc(SRS_ADDRESS_MAX + 10);
    memset(huge, 'a', SRS_ADDRESS_MAX + 9);
    huge[5] = '@';
    huge[SRS_ADDRESS_MAX + 9] = '\0';
    TAP_OK(fwd(s, huge, now_ju, out, sizeof out) == SRS_TOO_LONG, "an over-long input: forward");
    memcpy(huge, "SRS0=", 5);
    TAP_OK(rev(s, huge, now_ju, back, sizeof back) == SRS_TOO_LONG,
           "an over-long input: reverse");
    free(huge);

    static const char with_nul[] = "bob\0x@example.com";
    TAP_OK(srs_forward(s, with_nul, sizeof with_nul - 1, now_ju, out, sizeof out) ==
               SRS_BAD_ADDRESS, "forward refuses a NUL byte");
    TAP_OK(fwd(s, "bob\r\n@example.com", now_ju, out, sizeof out) == SRS_BAD_ADDRESS,
           "forward refuses CR LF");
    TAP_OK(rev(s, "SRS0=rkmb=JU=example.com=bob\n@fwd.example.net", now_ju, back, sizeof back) ==
               SRS_NOT_SRS, "reverse refuses LF");

    /* Reverse never reads past len: the address is not NUL-terminated. */
    const char *whole = "SRS0=uoTY=JU=Example.COM=Alice.Smith@fwd.example.netGARBAGE";
    TAP_OK(srs_reverse(s, whole, strlen(whole) - 7, now_ju, back, sizeof back) == SRS_OK &&
               strcmp(back, "Alice.Smith@Example.COM") == 0, "input is (pointer, length)");

    TAP_OK(srs_set_domain(s, "") != 0 && srs_set_domain(s, "a@b") != 0 &&
               srs_set_domain(s, "a=b") != 0, "bad SRS domains are refused");
    srs_free(s);
    srs *nodomain = make("sekrit", NULL);
    TAP_OK(fwd(nodomain, "bob@example.com", now_ju, out, sizeof out) == SRS_NO_SECRET,
           "forward without an SRS domain is refused");
    TAP_OK(rev(nodomain, "SRS0=rkmb=JU=example.com=bob@fwd.example.net", now_ju, back,
               sizeof back) == SRS_OK, "reverse needs no SRS domain");
    srs_free(nodomain);
    TAP_OK(strcmp(srs_status_text(SRS_EXPIRED), "expired") == 0 &&
               strcmp(srs_status_text(SRS_BAD_HASH), "bad hash") == 0, "status texts");
}

/* The envelope rewrite for bounce forwarding (BNC addresses). */
static void test_bounce(void)
{
    srs *s = make("sekrit\n", "fwd.example.net");
    char out[SRS_ADDRESS_MAX], back[SRS_ADDRESS_MAX], via[300];
    const char *a = "Alice.Smith@Example.COM";
    TAP_OK(srs_bounce_forward(s, "bounce.example.net", a, strlen(a), now_ju, out, sizeof out) ==
                   SRS_OK &&
               strncmp(out, "BNC=", 4) == 0 &&
               strcmp(out + 8, "=JU=Example.COM=Alice.Smith@bounce.example.net") == 0,
           "bounce forward: BNC=HASH=JU=domain=user@bounce-domain (%s)", out);
    TAP_OK(srs_bounce_reverse(s, out, strlen(out), now_ju, back, sizeof back, via, sizeof via) ==
                   SRS_OK &&
               strcmp(back, a) == 0 && strcmp(via, "bounce.example.net") == 0,
           "bounce reverse gives the original sender and the bounce domain");
    /* Signed under its own tag: the same fields as SRS0 are no SRS0 hash. */
    char srs0[SRS_ADDRESS_MAX];
    TAP_OK(fwd(s, a, now_ju, srs0, sizeof srs0) == SRS_OK &&
               strncmp(srs0 + 5, out + 4, 4) != 0,
           "a BNC hash is not the SRS0 hash of the same fields (%.9s, %.8s)", srs0, out);
    char forged[SRS_ADDRESS_MAX];
    snprintf(forged, sizeof forged, "BNC=%.4s=JU=Example.COM=Alice.Smith@bounce.example.net",
             srs0 + 5);
    TAP_OK(srs_bounce_reverse(s, forged, strlen(forged), now_ju, back, sizeof back, NULL, 0) ==
               SRS_BAD_HASH,
           "an SRS0 hash moved into a BNC address does not verify");
    TAP_OK(rev(s, out, now_ju, back, sizeof back) == SRS_NOT_SRS,
           "SRS reverse does not take a BNC address");
    char lower_case[SRS_ADDRESS_MAX];
    for (size_t i = 0; out[i]; i++)
        lower_case[i] = (char)(out[i] >= 'A' && out[i] <= 'Z' ? out[i] - 'A' + 'a' : out[i]);
    lower_case[strlen(out)] = '\0';
    TAP_OK(srs_bounce_reverse(s, lower_case, strlen(lower_case), now_ju, back, sizeof back, NULL,
                              0) == SRS_OK,
           "a bounce address whose case an MTA smashed still reverses");
    TAP_OK(srs_bounce_reverse(s, out, strlen(out), now_ju + 22 * DAY, back, sizeof back, NULL,
                              0) == SRS_EXPIRED,
           "a bounce older than max_age is refused");
    TAP_OK(srs_bounce_forward(s, "bounce.example.net", out, strlen(out), now_ju, back,
                              sizeof back) == SRS_UNCHANGED &&
               strcmp(back, out) == 0,
           "an address already under the bounce domain is left alone");
    const char *plain = "someone@elsewhere.example";
    TAP_OK(srs_bounce_reverse(s, plain, strlen(plain), now_ju, back, sizeof back, NULL, 0) ==
               SRS_NOT_SRS,
           "an ordinary recipient is not a bounce address");
    TAP_OK(srs_bounce_forward(s, "", a, strlen(a), now_ju, back, sizeof back) == SRS_NO_SECRET,
           "no bounce domain: nothing to rewrite to");
    srs *other = make("different", "fwd.example.net");
    TAP_OK(srs_bounce_reverse(other, out, strlen(out), now_ju, back, sizeof back, NULL, 0) ==
               SRS_BAD_HASH,
           "another secret does not verify it");
    srs_free(s);
    srs_free(other);
}

int main(void)
{
    test_known_answers();
    test_bounce();
    test_separators();
    test_hashes();
    test_stamps();
    test_rotation();
    test_malformed_and_bounds();
    return tap_done();
}
