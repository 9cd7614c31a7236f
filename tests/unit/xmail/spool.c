/* Unit tests for the XMail spool codec: each stage's file decoded (IPv4
 * and IPv6 clients, the null sender, ESMTP parameters, several recipients
 * with ra=, a HELO that tries to forge the client address), every refusal
 * naming its line, and rewrites checked byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "proto/xmail_spool.h"
#include "tap.h"

#define ENV1 "mx.example.net;[192.0.2.10]:4025;mail.example.org;[198.51.100.1]:25;" \
             "Mon, 2 Dec 2026 10:00:00 +0000;[XMail 1.27 ESMTP Server]\r\n"         \
             "mail.example.org\r\n"                                                 \
             "S1234567@mail.example.org\r\n"

static int parse(const char *text, xmail_stage stage, xmail_spool *s, xmail_spool_error *e)
{
    return xmail_spool_parse(text, strlen(text), stage, s, e);
}

static void test_post_rcpt(void)
{
    const char *f = ENV1 "MAIL FROM:<alice@example.com> SIZE=1234 BODY=8BITMIME\r\n";
    xmail_spool s;
    xmail_spool_error e;
    TAP_OK(parse(f, XMAIL_STAGE_POST_RCPT, &s, &e) == 0, "post-rcpt file parses (%s)", e.text);
    TAP_STR_EQ(s.helo, "mx.example.net", "HELO");
    TAP_STR_EQ(s.client_ip, "192.0.2.10", "client address without brackets");
    TAP_OK(s.client_port == 4025 && s.server_port == 25, "ports");
    TAP_STR_EQ(s.server_ip, "198.51.100.1", "server address");
    TAP_STR_EQ(s.server_name, "mail.example.org", "server name of line 1");
    TAP_STR_EQ(s.date, "Mon, 2 Dec 2026 10:00:00 +0000", "date");
    TAP_STR_EQ(s.logo, "[XMail 1.27 ESMTP Server]", "logo");
    TAP_STR_EQ(s.smtp_domain, "mail.example.org", "line 2");
    TAP_STR_EQ(s.message_id, "S1234567@mail.example.org", "line 3");
    TAP_STR_EQ(s.mail_from, "alice@example.com", "MAIL FROM address");
    TAP_STR_EQ(s.mail_params, "SIZE=1234 BODY=8BITMIME", "ESMTP parameters kept");
    TAP_OK(s.rcpt_count == 0 && !s.has_data, "no recipient yet at post-rcpt");
    xmail_spool_free(&s);
}

static void test_ipv6_null_sender_rcpts(void)
{
    const char *f = "client.example;[2001:db8::1]:25;mx;[2001:db8::25]:25;date;logo\r\n"
                    "mx.example.org\r\nID1\r\n"
                    "mail from: <>\r\n"
                    "RCPT TO:<bob@example.org> {ra=bob@example.org}\r\n"
                    "RCPT TO:<@relay.example:carol@example.org> {ra=carol.real@example.org}\r\n"
                    "RCPT TO:<\"d>q\"@example.org>\r\n";
    xmail_spool s;
    xmail_spool_error e;
    TAP_OK(parse(f, XMAIL_STAGE_PRE_DATA, &s, &e) == 0, "pre-data, IPv6, null sender (%s)",
           e.text);
    TAP_STR_EQ(s.client_ip, "2001:db8::1", "IPv6 client");
    TAP_STR_EQ(s.mail_from, "", "null sender");
    TAP_STR_EQ(s.mail_params, "", "no parameters");
    TAP_OK(s.rcpt_count == 3, "three recipients");
    if (s.rcpt_count == 3) {
        TAP_STR_EQ(s.rcpts[0].address, "bob@example.org", "first recipient");
        TAP_STR_EQ(s.rcpts[1].address, "carol@example.org", "source route dropped");
        TAP_STR_EQ(s.rcpts[1].real, "carol.real@example.org", "ra= value");
        TAP_STR_EQ(s.rcpts[2].address, "\"d>q\"@example.org", "'>' inside quotes");
        TAP_OK(s.rcpts[2].real == NULL, "no ra=");
    }
    xmail_spool_free(&s);
}

static void test_helo_cannot_forge(void)
{
    const char *f = "x;[127.0.0.1]:25;y;[127.0.0.1]:25;d;l;[203.0.113.9]:999;mx;"
                    "[198.51.100.1]:25;date;logo\r\nmx\r\nid\r\nMAIL FROM:<a@b.example>\r\n";
    xmail_spool s;
    xmail_spool_error e;
    TAP_OK(parse(f, XMAIL_STAGE_POST_RCPT, &s, &e) == 0, "a HELO with ';' parses");
    TAP_STR_EQ(s.client_ip, "203.0.113.9", "the client address is XMail's, not the HELO's");
    TAP_STR_EQ(s.helo, "x;[127.0.0.1]:25;y;[127.0.0.1]:25;d;l", "the HELO keeps its ';'");
    xmail_spool_free(&s);
}

static void test_post_data(void)
{
    const char *f = ENV1 "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org> {ra=b@example.org}\r\n"
                         "<<MAIL-DATA>>\r\n"
                         "Received: from x\r\n\tby y\r\n"
                         "From: A <a@example.com>\r\n"
                         "Subject : hi\r\n"
                         "\r\n"
                         "body line\r\nno end";
    xmail_spool s;
    xmail_spool_error e;
    TAP_OK(parse(f, XMAIL_STAGE_POST_DATA, &s, &e) == 0, "post-data parses (%s)", e.text);
    TAP_OK(s.has_data && s.field_count == 3, "three header fields");
    if (s.field_count == 3) {
        const xmail_field *r = &s.fields[0];
        TAP_OK(r->name_len == 8 && memcmp(f + r->start, "Received", 8) == 0, "field name");
        TAP_OK(r->value_len == strlen(" from x\r\n\tby y") &&
                   memcmp(f + r->value, " from x\r\n\tby y", r->value_len) == 0,
               "folded value kept with its CRLF");
        TAP_OK(s.fields[2].name_len == 7, "\"Subject :\": the name without the space");
    }
    TAP_OK(s.blank_line && strcmp(f + s.body, "body line\r\nno end") == 0, "body offset");
    TAP_OK(strncmp(f + s.data_marker, "<<MAIL-DATA>>\r\n", 15) == 0, "marker offset");
    xmail_spool_free(&s);

    const char *g = ENV1 "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n<<MAIL-DATA>>\r\n"
                         "From: a@example.com\r\nthis is no field\r\nmore\r\n";
    TAP_OK(parse(g, XMAIL_STAGE_POST_DATA, &s, &e) == 0 && s.field_count == 1 && !s.blank_line &&
               strcmp(g + s.body, "this is no field\r\nmore\r\n") == 0,
           "a line that is no field starts the body");
    xmail_spool_free(&s);
}

typedef struct bad_case {
    const char *name;
    const char *text;
    size_t len; /* 0: strlen */
    xmail_stage stage;
    unsigned line;
    const char *words; /* in the error text */
} bad_case;

static void test_refusals(void)
{
    static const char nul_file[] = ENV1 "MAIL FROM:<a@b\0c>\r\n";
    static const bad_case cases[] = {
        {"empty file", "", 0, XMAIL_STAGE_POST_RCPT, 1, "missing"},
        {"missing line 3", "h;[192.0.2.1]:1;s;[192.0.2.2]:2;d;l\r\nmx\r\n", 0,
         XMAIL_STAGE_POST_RCPT, 3, "message id"},
        {"missing MAIL FROM", ENV1, 0, XMAIL_STAGE_POST_RCPT, 4, "MAIL FROM"},
        {"LF-only line", "h;[192.0.2.1]:1;s;[192.0.2.2]:2;d;l\nmx\r\n", 0,
         XMAIL_STAGE_POST_RCPT, 1, "LF without CR"},
        {"cut short", ENV1 "MAIL FROM:<a@b>", 0, XMAIL_STAGE_POST_RCPT, 4, "cut short"},
        {"NUL byte", nul_file, sizeof nul_file - 1, XMAIL_STAGE_POST_RCPT, 4, "NUL"},
        {"too few fields", "h;[192.0.2.1]:1;s\r\nmx\r\nid\r\nMAIL FROM:<>\r\n", 0,
         XMAIL_STAGE_POST_RCPT, 1, "separators"},
        {"bad client address", "h;[192.0.2.300]:1;s;[192.0.2.2]:2;d;l\r\nmx\r\nid\r\nMAIL FROM:<>\r\n",
         0, XMAIL_STAGE_POST_RCPT, 1, "not an IP address"},
        {"bad port", "h;[192.0.2.1]:99999;s;[192.0.2.2]:2;d;l\r\nmx\r\nid\r\nMAIL FROM:<>\r\n", 0,
         XMAIL_STAGE_POST_RCPT, 1, "65535"},
        {"no brackets", "h;192.0.2.1:25;s;[192.0.2.2]:2;d;l\r\nmx\r\nid\r\nMAIL FROM:<>\r\n", 0,
         XMAIL_STAGE_POST_RCPT, 1, "[address]:port"},
        {"not MAIL FROM", ENV1 "HELO x\r\n", 0, XMAIL_STAGE_POST_RCPT, 4, "MAIL FROM"},
        {"no '>'", ENV1 "MAIL FROM:<a@b\r\n", 0, XMAIL_STAGE_POST_RCPT, 4, "'>'"},
        {"not RCPT TO", ENV1 "MAIL FROM:<a@b>\r\nDATA\r\n", 0, XMAIL_STAGE_POST_RCPT, 5,
         "RCPT TO"},
        {"RCPT TO:<>", ENV1 "MAIL FROM:<a@b>\r\nRCPT TO:<>\r\n", 0, XMAIL_STAGE_PRE_DATA, 5,
         "no recipient"},
        {"pre-data without recipients", ENV1 "MAIL FROM:<a@b>\r\n", 0, XMAIL_STAGE_PRE_DATA, 5,
         "no RCPT TO"},
        {"no marker at post-data", ENV1 "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 0,
         XMAIL_STAGE_POST_DATA, 6, "<<MAIL-DATA>>"},
        {"marker at pre-data", ENV1 "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n<<MAIL-DATA>>\r\n", 0,
         XMAIL_STAGE_PRE_DATA, 6, "only post-data"},
        {"LF-only message line",
         ENV1 "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n<<MAIL-DATA>>\r\nFrom: x\r\n\r\nbody\nmore\r\n",
         0, XMAIL_STAGE_POST_DATA, 9, "LF without CR"},
        {"bare CR", ENV1 "MAIL FROM:<a@b>\rx\r\n", 0, XMAIL_STAGE_POST_RCPT, 4, "CR without LF"},
        {"control byte", ENV1 "MAIL FROM:<a\x01@b>\r\n", 0, XMAIL_STAGE_POST_RCPT, 4,
         "control byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        xmail_spool s;
        xmail_spool_error e;
        size_t len = c->len ? c->len : strlen(c->text);
        int rc = xmail_spool_parse(c->text, len, c->stage, &s, &e);
        TAP_OK(rc == -1 && e.line == c->line && strstr(e.text, c->words) != NULL,
               "refused: %s (line %u: %s)", c->name, e.line, e.text);
        TAP_OK(s.helo == NULL && s.rcpts == NULL, "%s: nothing left allocated", c->name);
    }
}

static void test_huge_line(void)
{
    size_t n = XMAIL_SPOOL_LINE_MAX + 100;
    char *f = malloc(strlen(ENV1) + n + 20);
    strcpy(f, ENV1 "MAIL FROM:<");
    size_t at = strlen(f);
    memset(f + at, 'a', n);
    strcpy(f + at + n, ">\r\n");
    xmail_spool s;
    xmail_spool_error e;
    TAP_OK(xmail_spool_parse(f, strlen(f), XMAIL_STAGE_POST_RCPT, &s, &e) == -1 && e.line == 4 &&
               strstr(e.text, "longer than") != NULL,
           "a huge envelope line is refused at its line (%s)", e.text);
    free(f);
}

static void test_rewrite(void)
{
    const char *f = ENV1 "MAIL FROM:<a@example.com> SIZE=10\r\nRCPT TO:<b@example.org> {ra=b@example.org}\r\n"
                         "<<MAIL-DATA>>\r\n"
                         "Received: from x\r\n\tby y\r\n"
                         "Authentication-Results: mail.example.org; spf=pass\r\n"
                         "Subject: hi\r\n"
                         "Authentication-Results: mail.example.org; forged\r\n"
                         "\r\n"
                         "body\r\n";
    xmail_spool s;
    xmail_spool_error e;
    TAP_OK(parse(f, XMAIL_STAGE_POST_DATA, &s, &e) == 0, "file to rewrite parses");
    xmail_edit edits[] = {
        {XMAIL_EDIT_INSERT_TOP, "Received-SPF", 0, " pass (mailfrom)"},
        {XMAIL_EDIT_INSERT_TOP, "Authentication-Results", 0, " mail.example.org;\n\tspf=fail"},
        {XMAIL_EDIT_CHANGE, "Subject", 1, " [SPF] hi"},
        {XMAIL_EDIT_DELETE, "authentication-results", 2, NULL},
        {XMAIL_EDIT_DELETE, "X-None", 1, NULL},
        {XMAIL_EDIT_CHANGE, "X-Score", 1, " 5.0"},
        {XMAIL_EDIT_APPEND, "X-Tail", 0, " end"},
    };
    strbuf out;
    strbuf_init(&out);
    char err[200];
    int rc = xmail_spool_rewrite(f, &s, edits, sizeof edits / sizeof edits[0], NULL, 0, &out, err,
                                 sizeof err);
    const char *want = ENV1 "MAIL FROM:<a@example.com> SIZE=10\r\nRCPT TO:<b@example.org> {ra=b@example.org}\r\n"
                            "<<MAIL-DATA>>\r\n"
                            "Authentication-Results: mail.example.org;\r\n\tspf=fail\r\n"
                            "Received-SPF: pass (mailfrom)\r\n"
                            "Received: from x\r\n\tby y\r\n"
                            "Authentication-Results: mail.example.org; spf=pass\r\n"
                            "Subject: [SPF] hi\r\n"
                            "X-Score: 5.0\r\n"
                            "X-Tail: end\r\n"
                            "\r\n"
                            "body\r\n";
    TAP_OK(rc == 0 && out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
           "rewritten byte for byte: inserts above (each above the last), change, delete of "
           "the 2nd A-R, change of a missing field appended, append");
    if (rc != 0 || out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
        printf("# got:\n%.*s\n", (int)out.len, out.data ? out.data : "");
    strbuf_free(&out);

    xmail_edit inject[] = {{XMAIL_EDIT_INSERT_TOP, "X-A", 0, " a\nX-Forged: yes"}};
    strbuf_init(&out);
    TAP_OK(xmail_spool_rewrite(f, &s, inject, 1, NULL, 0, &out, err, sizeof err) == -1 &&
               strstr(err, "folding") != NULL,
           "a value that would start a field of its own is refused (%s)", err);
    strbuf_free(&out);
    xmail_edit bad_name[] = {{XMAIL_EDIT_APPEND, "Bad Name", 0, " a"}};
    strbuf_init(&out);
    TAP_OK(xmail_spool_rewrite(f, &s, bad_name, 1, NULL, 0, &out, err, sizeof err) == -1,
           "a bad field name is refused");
    strbuf_free(&out);
    xmail_spool_free(&s);

    /* No blank line, the last field without its line end. */
    const char *g = ENV1 "MAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\n<<MAIL-DATA>>\r\nFrom: a@b";
    TAP_OK(parse(g, XMAIL_STAGE_POST_DATA, &s, &e) == 0, "an open last field parses");
    xmail_edit add[] = {{XMAIL_EDIT_APPEND, "X-A", 0, " 1"}};
    strbuf_init(&out);
    rc = xmail_spool_rewrite(g, &s, add, 1, NULL, 0, &out, err, sizeof err);
    const char *want2 = ENV1 "MAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\n<<MAIL-DATA>>\r\n"
                             "From: a@b\r\nX-A: 1\r\n";
    TAP_OK(rc == 0 && out.len == strlen(want2) && memcmp(out.data, want2, out.len) == 0,
           "a field appended after an open last field gets its own line");
    strbuf_free(&out);
    xmail_spool_free(&s);
}

static void test_rewrite_rcpts(void)
{
    const char *f = ENV1 "MAIL FROM:<a@example.com> SIZE=10\r\n"
                         "RCPT TO:<b@example.org> {ra=b@example.org}\r\n"
                         "RCPT TO:<c@example.org> {ra=real-c@example.org}\r\n"
                         "<<MAIL-DATA>>\r\nFrom: a@example.com\r\n\r\nbody\r\n";
    xmail_spool s;
    xmail_spool_error e;
    TAP_OK(parse(f, XMAIL_STAGE_POST_DATA, &s, &e) == 0, "file with two recipients parses");
    xmail_edit add[] = {{XMAIL_EDIT_APPEND, "X-Domauth-Original-Recipients", 0,
                         " <b@example.org>, <c@example.org>"}};
    const char *to[] = {"spam@example.org"};
    strbuf out;
    strbuf_init(&out);
    char err[200];
    int rc = xmail_spool_rewrite(f, &s, add, 1, to, 1, &out, err, sizeof err);
    const char *want = ENV1 "MAIL FROM:<a@example.com> SIZE=10\r\n"
                            "RCPT TO:<spam@example.org> {ra=spam@example.org}\r\n"
                            "<<MAIL-DATA>>\r\nFrom: a@example.com\r\n"
                            "X-Domauth-Original-Recipients: <b@example.org>, <c@example.org>\r\n"
                            "\r\nbody\r\n";
    TAP_OK(rc == 0 && out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
           "a redirect replaces every RCPT TO line with one for the new recipient, the rest "
           "of the envelope byte for byte");
    if (rc != 0 || out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
        printf("# got (%s):\n%.*s\n", rc ? err : "", (int)out.len, out.data ? out.data : "");
    strbuf_free(&out);
    const char *bad[] = {"spam@example.org> {ra=x@evil.test}"};
    strbuf_init(&out);
    TAP_OK(xmail_spool_rewrite(f, &s, NULL, 0, bad, 1, &out, err, sizeof err) == -1 &&
               strstr(err, "recipient 1") != NULL,
           "an address that would forge a RCPT TO line is refused (%s)", err);
    strbuf_free(&out);
    strbuf_init(&out);
    TAP_OK(xmail_spool_rewrite(f, &s, NULL, 0, to, 0, &out, err, sizeof err) == -1,
           "no recipient at all is refused");
    strbuf_free(&out);
    xmail_spool_free(&s);
}

static void test_stage_names(void)
{
    TAP_OK(xmail_stage_parse("post-rcpt") == XMAIL_STAGE_POST_RCPT &&
               xmail_stage_parse("pre-data") == XMAIL_STAGE_PRE_DATA &&
               xmail_stage_parse("post-data") == XMAIL_STAGE_POST_DATA &&
               xmail_stage_parse("data") == -1,
           "stage names");
}

int main(void)
{
    test_post_rcpt();
    test_ipv6_null_sender_rcpts();
    test_helo_cannot_forge();
    test_post_data();
    test_refusals();
    test_huge_line();
    test_rewrite();
    test_rewrite_rcpts();
    test_stage_names();
    return tap_done();
}
