/* message.c: reads a message as it arrives, for the signer and the
 * verifier. Bare LF becomes CRLF; the header block is kept (bounded) and
 * split into fields; body bytes are passed on at once and not kept. Also the
 * header hash of section 3.7, which both sides compute the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "dkim_internal.h"
#include "vec16.h"

enum { MAX_FIELDS = 5000 };

void dkim_message_init(dkim_message *m, size_t max_header_bytes, dkim_body_fn body,
                       void *body_arg)
{
    memset(m, 0, sizeof *m);
    strbuf_init(&m->header);
    m->max_header_bytes = max_header_bytes ? max_header_bytes : (size_t)1 << 20;
    m->body = body;
    m->body_arg = body_arg;
}

void dkim_message_free(dkim_message *m)
{
    strbuf_free(&m->header);
    free(m->fields);
    m->fields = NULL;
}

static int message_fail(dkim_message *m, const char *why)
{
    if (!m->failed)
        snprintf(m->problem, sizeof m->problem, "%s", why);
    m->failed = true;
    return -1;
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static int add_field(dkim_message *m, size_t start, size_t end)
{
    if (m->field_count == MAX_FIELDS)
        return message_fail(m, "more than 5000 header fields");
    if (m->field_count % 64 == 0) {
        dkim_field *f = realloc(m->fields, (m->field_count + 64) * sizeof *f);
        if (f == NULL)
            return message_fail(m, "out of memory");
        m->fields = f;
    }
    const char *text = m->header.data + start;
    size_t len = end - start;
    const char *colon = memchr(text, ':', len);
    size_t name_len = colon ? (size_t)(colon - text) : len;
    while (name_len > 0 && is_wsp(text[name_len - 1]))
        name_len--;
    m->fields[m->field_count++] = (dkim_field){
        .start = start,
        .len = len,
        .name_len = name_len,
        .value_offset = colon ? (size_t)(colon - text) + 1 : len,
    };
    return 0;
}

/* Splits the header block (every line ends with CRLF) into fields: a line
 * that starts with whitespace continues the field before it. */
static int split_fields(dkim_message *m)
{
    const char *h = m->header.data;
    size_t len = m->header.len, field_start = 0;
    bool have_field = false;
    for (size_t i = 0; i < len;) {
        const char *eol = memchr(h + i, '\n', len - i);
        size_t next = eol ? (size_t)(eol - h) + 1 : len;
        bool continues = is_wsp(h[i]) && have_field;
        if (!continues) {
            if (have_field && add_field(m, field_start, i - 2) != 0)
                return -1;
            field_start = i;
            have_field = true;
        }
        i = next;
    }
    if (have_field && add_field(m, field_start, len >= 2 ? len - 2 : len) != 0)
        return -1;
    return 0;
}

static int end_headers(dkim_message *m)
{
    m->headers_done = true;
    if (m->header.failed)
        return message_fail(m, "out of memory");
    return split_fields(m);
}

/* Appends one header byte; notices the blank line that ends the block. */
static int header_byte(dkim_message *m, char c)
{
    if (m->header.len >= m->max_header_bytes)
        return message_fail(m, "the header block is too large");
    strbuf_putc(&m->header, c);
    if (m->header.failed)
        return message_fail(m, "out of memory");
    size_t n = m->header.len;
    const char *d = m->header.data;
    if (c != '\n')
        return 0;
    if (n == 2 && d[0] == '\r') { /* no header fields at all */
        m->header.len = 0;
        return end_headers(m);
    }
    if (n >= 4 && memcmp(d + n - 4, "\r\n\r\n", 4) == 0) {
        m->header.len -= 2; /* keep the CRLF that ends the last field */
        m->header.data[m->header.len] = '\0';
        return end_headers(m);
    }
    return 0;
}

/* The offset of the first bare LF (one not after a CR) in p[0..n), or n;
 * prev_cr: the byte before p[0] was a CR. Sixteen bytes at a time where
 * the compiler can: memchr per line took a tenth of a 1 MB verification
 * (perf, bench/dkim/README.md). */
static size_t bare_lf(const unsigned char *p, size_t n, bool prev_cr)
{
    if (n == 0)
        return 0;
    if (p[0] == '\n' && !prev_cr)
        return 0;
    size_t i = 1;
#ifdef DKIM_VEC16
    /* Sixty-four bytes a test: a line end in almost every block, but a bare
     * one almost never. */
    for (; i + 64 <= n; i += 64) {
        v16 bare = {0};
        for (size_t k = 0; k < 64; k += 16)
            bare |= is16(load16(p + i + k), '\n') & ~is16(load16(p + i + k - 1), '\r');
        if (first_set16(bare) < 16)
            break;
    }
    for (; i + 16 <= n; i += 16) {
        size_t at = first_set16(is16(load16(p + i), '\n') & ~is16(load16(p + i - 1), '\r'));
        if (at < 16)
            return i + at;
    }
#endif
    for (; i < n; i++)
        if (p[i] == '\n' && p[i - 1] != '\r')
            return i;
    return n;
}

/* The body, passed on in runs: a CR is added only before a bare LF (mail
 * read from a file), everything else goes through untouched, as one span
 * up to the next bare LF (a span a line cost a call chain per line, more
 * than the line's canonicalization). */
static void body_runs(dkim_message *m, const unsigned char *p, size_t n)
{
    size_t start = 0;
    while (start < n) {
        size_t at = start + bare_lf(p + start, n - start, start > 0 ? false : m->prev_cr);
        if (at == n)
            break;
        if (at > start)
            m->body(m->body_arg, p + start, at - start);
        m->body(m->body_arg, (const unsigned char *)"\r\n", 2);
        start = at + 1;
    }
    if (n > start)
        m->body(m->body_arg, p + start, n - start);
    if (n > 0)
        m->prev_cr = p[n - 1] == '\r';
}

int dkim_message_feed(dkim_message *m, const unsigned char *data, size_t len)
{
    if (m->failed)
        return -1;
    size_t i = 0;
    /* Header lines a run at a time: everything up to a LF is appended as it
     * is; only the LF needs a look (a bare one gets its CR, and a blank line
     * ends the block). */
    while (i < len && !m->headers_done) {
        const unsigned char *nl = memchr(data + i, '\n', len - i);
        size_t seg = nl ? (size_t)(nl - (data + i)) : len - i;
        if (seg > 0) {
            if (m->header.len + seg > m->max_header_bytes)
                return message_fail(m, "the header block is too large");
            strbuf_append(&m->header, (const char *)data + i, seg);
            if (m->header.failed)
                return message_fail(m, "out of memory");
            m->prev_cr = data[i + seg - 1] == '\r';
            i += seg;
        }
        if (nl == NULL)
            break;
        if (!m->prev_cr && header_byte(m, '\r') != 0)
            return -1;
        if (header_byte(m, '\n') != 0)
            return -1;
        m->prev_cr = false;
        i++;
    }
    if (i < len)
        body_runs(m, data + i, len - i);
    return 0;
}

int dkim_message_finish(dkim_message *m)
{
    if (m->failed)
        return -1;
    if (m->headers_done)
        return 0;
    /* No blank line: everything was header; end the last line if needed. */
    if (m->header.len > 0 &&
        (m->header.len < 2 || memcmp(m->header.data + m->header.len - 2, "\r\n", 2) != 0))
        strbuf_append(&m->header, "\r\n", 2);
    return end_headers(m);
}

bool dkim_field_is(const dkim_message *m, const dkim_field *f, const char *name,
                   size_t name_len)
{
    return f->name_len == name_len &&
           strncasecmp(m->header.data + f->start, name, name_len) == 0;
}

/* ---------------------------------------------------------- header hash */

const EVP_MD *dkim_algorithm_md(da_dkim_algorithm algorithm)
{
    return algorithm == DA_DKIM_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

void dkim_digests_fetch(dkim_digests *d)
{
    d->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    d->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    ERR_clear_error();
}

void dkim_digests_free(dkim_digests *d)
{
    EVP_MD_free(d->sha1);
    EVP_MD_free(d->sha256);
    d->sha1 = d->sha256 = NULL;
}

const EVP_MD *dkim_digests_md(const dkim_digests *d, da_dkim_algorithm algorithm)
{
    const EVP_MD *md = d == NULL ? NULL : algorithm == DA_DKIM_RSA_SHA1 ? d->sha1 : d->sha256;
    return md != NULL ? md : dkim_algorithm_md(algorithm);
}

/* Section 5.4.2: each name takes the last instance not yet taken; a name
 * with no instance left contributes nothing. */
static void append_selected_fields(strbuf *data, const dkim_message *m, bool *used,
                                   const char *const *names, const size_t *name_lens,
                                   size_t name_count, da_dkim_canon canon)
{
    for (size_t n = 0; n < name_count; n++) {
        for (size_t i = m->field_count; i-- > 0;) {
            const dkim_field *f = &m->fields[i];
            if (used[i] || !dkim_field_is(m, f, names[n], name_lens[n]))
                continue;
            used[i] = true;
            dkim_canon_header(data, canon, m->header.data + f->start, f->len, true);
            break;
        }
    }
}

size_t dkim_header_digest(const dkim_message *m, const char *const *names,
                          const size_t *name_lens, size_t name_count, da_dkim_canon canon,
                          const EVP_MD *md, const char *sig_field, size_t sig_len,
                          size_t b_start, size_t b_end, unsigned char *digest)
{
    bool *used = calloc(m->field_count ? m->field_count : 1, sizeof *used);
    if (used == NULL)
        return 0;
    strbuf data, own;
    strbuf_init(&data);
    strbuf_init(&own);
    append_selected_fields(&data, m, used, names, name_lens, name_count, canon);
    free(used);
    /* The signature field itself, with b='s value emptied and no CRLF. */
    strbuf_append(&own, sig_field, b_start);
    strbuf_append(&own, sig_field + b_end, sig_len - b_end);
    if (own.data != NULL)
        dkim_canon_header(&data, canon, own.data, own.len, false);
    unsigned int digest_len = 0;
    bool ok = !data.failed && !own.failed && data.data != NULL &&
              EVP_Digest(data.data, data.len, digest, &digest_len, md, NULL) == 1;
    strbuf_free(&data);
    strbuf_free(&own);
    return ok ? digest_len : 0;
}
