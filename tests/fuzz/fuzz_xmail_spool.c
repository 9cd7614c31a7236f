/* fuzz_xmail_spool.c: libFuzzer target for the XMail spool codec. The
 * first byte picks the stage; the rest is the file. A file that parses has
 * its offsets in bounds and in order; at post-data it is rewritten with
 * every kind of edit, and the result must parse again with the envelope
 * byte for byte the same and the fields counted as the edits say. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/xmail_spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

static void check_offsets(const xmail_spool *s)
{
    size_t last = s->message;
    for (size_t i = 0; i < s->field_count; i++) {
        const xmail_field *f = &s->fields[i];
        CHECK(f->start >= last && f->start < f->end && f->end <= s->size);
        CHECK(f->value > f->start && f->value + f->value_len <= f->end);
        CHECK(f->name_len > 0 && f->start + f->name_len < f->value);
        last = f->end;
    }
    CHECK(s->header_end >= last && s->header_end <= s->body && s->body <= s->size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    xmail_stage stage = (xmail_stage)(data[0] % 3);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    xmail_spool s;
    xmail_spool_error e;
    if (xmail_spool_parse(text, len, stage, &s, &e) != 0) {
        CHECK(e.text[0] != '\0');
        CHECK(s.helo == NULL && s.rcpts == NULL && s.fields == NULL);
        return 0;
    }
    CHECK(s.client_ip && s.helo && s.mail_from && s.mail_params && s.smtp_domain);
    CHECK(stage == XMAIL_STAGE_POST_RCPT || s.rcpt_count > 0);
    CHECK(s.has_data == (stage == XMAIL_STAGE_POST_DATA));
    if (!s.has_data) {
        xmail_spool_free(&s);
        return 0;
    }
    check_offsets(&s);
    unsigned subjects = 0;
    for (size_t i = 0; i < s.field_count; i++)
        if (s.fields[i].name_len == 7 && strncasecmp(text + s.fields[i].start, "Subject", 7) == 0)
            subjects++;
    xmail_edit edits[] = {
        {XMAIL_EDIT_INSERT_TOP, "Received-SPF", 0, " pass (a\n\tb)"},
        {XMAIL_EDIT_INSERT_TOP, "Authentication-Results", 0, " x; spf=pass"},
        {XMAIL_EDIT_CHANGE, "Subject", 1, " [tag] s"},
        {XMAIL_EDIT_APPEND, "X-Score", 0, " 1.0"},
    };
    strbuf out;
    strbuf_init(&out);
    char err[200];
    CHECK(xmail_spool_rewrite(text, &s, edits, 4, NULL, 0, &out, err, sizeof err) == 0);
    CHECK(out.len >= s.message && memcmp(out.data, text, s.message) == 0);
    xmail_spool again;
    CHECK(xmail_spool_parse(out.data, out.len, XMAIL_STAGE_POST_DATA, &again, &e) == 0);
    CHECK(again.rcpt_count == s.rcpt_count && again.message == s.message);
    /* A changed Subject replaces one; a missing one is added. */
    size_t want = s.field_count + 3 + (subjects == 0 ? 1 : 0);
    /* The body may hold lines that parse as fields once the header ends
     * differently; only when the block ended with a blank line is the
     * count exact. */
    if (s.blank_line)
        CHECK(again.field_count == want);
    else
        CHECK(again.field_count >= want);
    xmail_spool_free(&again);
    strbuf_free(&out);
    /* A redirect keeps every envelope byte but the RCPT TO lines. */
    const char *to[] = {"spam@example.org"};
    strbuf_init(&out);
    CHECK(xmail_spool_rewrite(text, &s, NULL, 0, to, 1, &out, err, sizeof err) == 0);
    CHECK(out.len >= s.rcpt_lines && memcmp(out.data, text, s.rcpt_lines) == 0);
    CHECK(xmail_spool_parse(out.data, out.len, XMAIL_STAGE_POST_DATA, &again, &e) == 0);
    CHECK(again.rcpt_count == 1 && strcmp(again.rcpts[0].address, "spam@example.org") == 0);
    xmail_spool_free(&again);
    strbuf_free(&out);
    xmail_spool_free(&s);
    return 0;
}
