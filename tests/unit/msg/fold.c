/* fold.c: header values the verdict adds are folded, and a word too long
 * for any line is cut with a marker, never the field dropped (issue 18
 * item 7: a 1,000-byte word made Received-SPF disappear). TAP. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "msg/mailtext.h"
#include "tap.h"
#include "util/strbuf.h"

static bool lines_fit(const char *name, const char *v)
{
    size_t first = strlen(name) + 2;
    for (const char *line = v; line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (first + len > MAILTEXT_HEADER_LINE_MAX)
            return false;
        first = 0;
        line = nl ? nl + 1 : NULL;
    }
    return true;
}

int main(void)
{
    strbuf out;
    bool cut;

    strbuf_init(&out);
    const char *plain = "pass (mx.example: domain of a@b.example designates 192.0.2.1 as "
                        "permitted sender) client-ip=192.0.2.1; envelope-from=a@b.example;";
    TAP_OK(mailtext_header_fold_or_cut(&out, 12, plain, strlen(plain), &cut) == 0 && !cut &&
               strstr(out.data, "\n\t") != NULL && lines_fit("Received-SPF", out.data),
           "an ordinary value is folded, not cut");
    strbuf_free(&out);

    /* envelope-from= with a 1,100-byte local-part: one word too long. */
    strbuf v;
    strbuf_init(&v);
    strbuf_puts(&v, "fail (mx.example: domain of x@fail.test does not designate) envelope-from=");
    for (int i = 0; i < 1100; i++)
        strbuf_putc(&v, 'a');
    strbuf_puts(&v, "@fail.test; identity=mailfrom;");
    char err[128];
    strbuf_init(&out);
    TAP_OK(mailtext_header_fold(&out, 12, v.data, v.len, err, sizeof err) != 0,
           "plain folding refuses the 1,100-byte word (what used to drop the field)");
    strbuf_free(&out);
    strbuf_init(&out);
    TAP_OK(mailtext_header_fold_or_cut(&out, 12, v.data, v.len, &cut) == 0 && cut,
           "fold_or_cut keeps the field and says it cut");
    TAP_OK(out.data && strstr(out.data, "[...]") != NULL && lines_fit("Received-SPF", out.data),
           "the long word is cut to fit a line, with the marker");
    TAP_OK(out.data && strstr(out.data, "identity=mailfrom;") != NULL &&
               strncmp(out.data, "fail (mx.example:", 17) == 0,
           "the rest of the value is kept whole");
    strbuf_free(&out);
    strbuf_free(&v);

    /* Bytes that may not reach a header or a reply: control bytes become
     * '?' everywhere, 8-bit bytes in SMTP replies (ASCII only), and '%' is
     * doubled where the reply is a template (milter setreply). */
    strbuf_init(&out);
    const char hostile[] = "a\x01" "b \x7f%c\xc3\xa9" "d";
    TAP_OK(mailtext_header_one_line(&out, 4, hostile, strlen(hostile), err, sizeof err) == 0 &&
               strcmp(out.data, "a?b ?%c\xc3\xa9" "d") == 0,
           "a header keeps UTF-8 and '%%', control bytes become '?' (%s)", out.data);
    strbuf_free(&out);
    strbuf_init(&out);
    mailtext_reply_text(&out, hostile, true);
    TAP_OK(out.data && strcmp(out.data, " a?b ?%%c??d") == 0,
           "a reply is ASCII with '%%' doubled, in runs around the replaced bytes (%s)", out.data);
    strbuf_free(&out);
    strbuf_init(&out);
    mailtext_reply_text(&out, "100% plain%", false);
    TAP_OK(out.data && strcmp(out.data, " 100% plain%") == 0, "'%%' kept when not a template");
    strbuf_free(&out);
    return tap_done();
}
