/* Unit tests for the text part of a MIME message (msg/mime.h), as the
 * quarantine view shows it: the decoders (quoted-printable soft breaks and
 * escapes, base64 with bad characters), the choice of the part (nested
 * multipart, text/html as the fallback, message/rfc822), the charsets,
 * the caps (size, depth, parts) and what a broken message is noted for
 * (no boundary, a boundary never found, no closing boundary). TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/mime.h"
#include "tap.h"

static char *qp(const char *in, size_t *bad)
{
    strbuf b;
    strbuf_init(&b);
    *bad = mime_decode_qp(in, strlen(in), &b);
    strbuf_putc(&b, '\0');
    return strbuf_take(&b);
}

static char *b64(const char *in, size_t *bad)
{
    strbuf b;
    strbuf_init(&b);
    *bad = mime_decode_base64(in, strlen(in), &b);
    strbuf_putc(&b, '\0');
    return strbuf_take(&b);
}

static void test_decoders(void)
{
    size_t bad;
    char *s = qp("caf=C3=A9 soft=\nbreak, crlf=\r\nsoft, blanks= \t\nend=3d=3D", &bad);
    TAP_STR_EQ(s, "caf\xc3\xa9 softbreak, crlfsoft, blanksend==", "quoted-printable: escapes "
               "(either case) and soft breaks (LF, CRLF, blanks before the break)");
    TAP_OK(bad == 0, "nothing bad in it");
    free(s);
    s = qp("a=ZZb=4", &bad);
    TAP_STR_EQ(s, "a=ZZb=4", "a '=' that starts no escape is kept");
    TAP_OK(bad == 2, "and counted (%zu)", bad);
    free(s);
    s = qp("trailing=", &bad);
    TAP_STR_EQ(s, "trailing", "a '=' at the very end is a soft break");
    free(s);
    s = b64("aGVs\r\nbG8g d29y bGQ=", &bad);
    TAP_STR_EQ(s, "hello world", "base64 across lines and blanks");
    TAP_OK(bad == 0, "nothing bad");
    free(s);
    s = b64("aGVs*bG8!", &bad);
    TAP_STR_EQ(s, "hello", "bad characters skipped");
    TAP_OK(bad == 2, "and counted (%zu)", bad);
    free(s);
    s = b64("YQ==YmM=", &bad);
    TAP_STR_EQ(s, "abc", "padding ends a quantum; the next starts afresh");
    free(s);
    s = b64("Y", &bad);
    TAP_STR_EQ(s, "", "a lone sextet makes no byte");
    free(s);
}

static mime_text extract(const char *m, size_t max)
{
    mime_text t;
    if (mime_text_extract(m, strlen(m), max, &t) != 0)
        printf("# out of memory\n");
    strbuf_putc(&t.text, '\0');
    t.text.len--;
    return t;
}

static bool noted(const mime_text *t, const char *what)
{
    for (size_t i = 0; i < t->note_count && i < MIME_NOTES_MAX; i++)
        if (strstr(t->notes[i], what))
            return true;
    return false;
}

static void test_plain(void)
{
    mime_text t = extract("From: a@example.org\nSubject: hi\n\nplain body\n", 1000);
    TAP_OK(t.found && strcmp(t.text.data, "plain body\n") == 0 &&
               strcmp(t.type, "text/plain") == 0 && strcmp(t.charset, "us-ascii") == 0 &&
               t.converted && t.note_count == 0,
           "a message without MIME: its body, us-ascii");
    mime_text_free(&t);
    t = extract("Content-Type: text/plain; charset=\"ISO-8859-1\"\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 cre=\r\nme\r\n",
                1000);
    TAP_STR_EQ(t.text.data, "caf\xc3\xa9 creme\r\n", "quoted-printable iso-8859-1 made UTF-8");
    TAP_OK(t.converted && strcmp(t.charset, "iso-8859-1") == 0 &&
               strcmp(t.encoding, "quoted-printable") == 0,
           "its charset and encoding are said");
    mime_text_free(&t);
    t = extract("Content-Type: text/plain; charset=koi8-r\n\nab\xc1\n", 1000);
    TAP_OK(!t.converted && strcmp(t.text.data, "ab\\xC1\n") == 0 && noted(&t, "koi8-r"),
           "another charset: bytes as \\xNN, with a note");
    mime_text_free(&t);
    t = extract("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
                "w6kgYWJj\n!!\n", 1000);
    TAP_OK(strcmp(t.text.data, "\xc3\xa9 abc") == 0 && noted(&t, "not base64"),
           "bad base64 in a part: decoded around, noted");
    mime_text_free(&t);
    t = extract("Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n",
                1000);
    TAP_OK(strcmp(t.text.data, "begin\n") == 0 && noted(&t, "x-uuencode"),
           "an unknown transfer encoding: undecoded, noted");
    mime_text_free(&t);
}

static void test_multipart(void)
{
    const char *m =
        "Content-Type: multipart/mixed; boundary=\"outer b\"\n\n"
        "preamble, not shown\n"
        "--outer b\n"
        "Content-Type: multipart/alternative; boundary=inner\n\n"
        "--inner\n"
        "Content-Type: text/html; charset=utf-8\n\n"
        "<p>html first</p>\n"
        "--inner\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "the plain=20text\n"
        "--inner--\n"
        "--outer b\n"
        "Content-Type: text/plain; name=attachment.txt\n\n"
        "an attachment\n"
        "--outer b--\n"
        "epilogue\n";
    mime_text t = extract(m, 1000);
    TAP_STR_EQ(t.text.data, "the plain text", "nested multipart: the first text/plain, "
               "its line end before the boundary not part of it");
    TAP_OK(t.part == 4 && t.note_count == 0, "the fourth entity in walk order (%zu), no notes",
           t.part);
    mime_text_free(&t);

    const char *html =
        "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<b>only html</b><script>x</script>\r\n--b--\r\n";
    t = extract(html, 1000);
    TAP_OK(t.found && strcmp(t.type, "text/html") == 0 &&
               strcmp(t.text.data, "<b>only html</b><script>x</script>") == 0,
           "no text/plain: the text/html part, as its text (CRLF message)");
    mime_text_free(&t);

    t = extract("Content-Type: multipart/mixed\n\n--x\n\nbody without boundary param\n", 1000);
    TAP_OK(t.found && strstr(t.text.data, "body without boundary param") &&
               noted(&t, "without a boundary"),
           "a multipart without a boundary: its body as text, noted");
    mime_text_free(&t);

    t = extract("Content-Type: multipart/mixed; boundary=zz\n\nno delimiter here\n", 1000);
    TAP_OK(!t.found && noted(&t, "never occurs"), "a boundary that never occurs: noted");
    mime_text_free(&t);

    t = extract("Content-Type: multipart/mixed; boundary=zz\n\n--zz\n"
                "Content-Type: image/gif\n\nGIF\n--zz\nContent-Type: text/plain\n\nlast part\n",
                1000);
    TAP_OK(t.found && strcmp(t.text.data, "last part\n") == 0 && noted(&t, "no closing"),
           "no closing boundary: the last part runs to the end, noted");
    mime_text_free(&t);

    t = extract("Content-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: message/rfc822"
                "\n\nSubject: inner\nContent-Type: text/plain\n\nforwarded text\n--zz--\n",
                1000);
    TAP_STR_EQ(t.text.data, "forwarded text", "a message/rfc822 part is walked into");
    mime_text_free(&t);

    t = extract("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\n"
                "digest entry\n--d--\n", 1000);
    TAP_STR_EQ(t.text.data, "digest entry", "in a digest a part is a message by default");
    mime_text_free(&t);

    t = extract("Content-Type: multipart/mixed; boundary=b\n\n--b \n\nblank after the "
                "delimiter\n--b--  \n", 1000);
    TAP_STR_EQ(t.text.data, "blank after the delimiter",
               "blanks after a delimiter; a part without header fields is text/plain");
    mime_text_free(&t);
    t = extract("Content-Type: multipart/mixed; boundary=b\n\n--bc\nContent-Type: text/plain\n\n"
                "not a delimiter\n--b\n\nreal\n--b--\n", 1000);
    TAP_STR_EQ(t.text.data, "real", "--bc is not the delimiter of b");
    mime_text_free(&t);
}

static void test_bounds(void)
{
    mime_text t = extract("Subject: x\n\n0123456789abcdef", 10);
    TAP_OK(t.truncated && strcmp(t.text.data, "0123456789") == 0,
           "cut at max_bytes, and said so");
    mime_text_free(&t);
    t = extract("Content-Type: text/plain; charset=latin1\n\n\xe9\xe9\xe9\xe9\xe9\xe9", 5);
    TAP_OK(t.truncated && t.text.len == 4, "the cap counts converted bytes, never a cut "
           "sequence (%zu)", t.text.len);
    mime_text_free(&t);
    t = extract("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
                "MDEyMzQ1Njc4OWFiY2RlZg==", 4);
    TAP_OK(t.truncated && strcmp(t.text.data, "0123") == 0, "a base64 part is cut too");
    mime_text_free(&t);

    /* Nesting deeper than MIME_DEPTH_MAX: not followed. */
    strbuf m;
    strbuf_init(&m);
    for (int i = 0; i < MIME_DEPTH_MAX + 4; i++)
        strbuf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    strbuf_puts(&m, "Content-Type: text/plain\n\ndeep\n");
    t = extract(m.data, 1000);
    TAP_OK(!t.found && noted(&t, "deeper than"), "nesting beyond the depth cap: noted, not read");
    mime_text_free(&t);
    strbuf_clear(&m);

    strbuf_puts(&m, "Content-Type: multipart/mixed; boundary=b\n\n");
    for (int i = 0; i < MIME_PARTS_MAX + 10; i++)
        strbuf_puts(&m, "--b\nContent-Type: image/gif\n\nx\n");
    strbuf_puts(&m, "--b\nContent-Type: text/plain\n\nafter many\n--b--\n");
    t = extract(m.data, 1000);
    TAP_OK(!t.found && noted(&t, "more than"), "more parts than the cap: the rest not looked at");
    mime_text_free(&t);
    strbuf_clear(&m);

    strbuf_puts(&m, "Content-Type: text/plain; x=\"");
    for (int i = 0; i < MIME_FIELD_MAX; i++)
        strbuf_putc(&m, 'a');
    strbuf_puts(&m, "\"; charset=latin1\n\nbody\n");
    t = extract(m.data, 1000);
    TAP_OK(t.found && strcmp(t.text.data, "body\n") == 0 && noted(&t, "longer than"),
           "an overlong Content-Type is read up to the cap, noted");
    mime_text_free(&t);
    strbuf_free(&m);

    t = extract("", 100);
    TAP_OK(!t.found || t.text.len == 0, "an empty message");
    mime_text_free(&t);
    t = extract("Content-Type: text/plain; boundary=\"\n", 100);
    TAP_OK(t.found && t.text.len == 0, "a header block only, an open quote");
    mime_text_free(&t);
}

int main(void)
{
    test_decoders();
    test_plain();
    test_multipart();
    test_bounds();
    return tap_done();
}
