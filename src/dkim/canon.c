/* canon.c: the "simple" and "relaxed" canonicalizations of RFC 6376
 * section 3.4, for one header field at a time and for a body that arrives
 * in pieces. The body side keeps a count of held-back line ends instead of
 * the lines themselves, so its memory does not depend on the message. */
#include <stdint.h>
#include <string.h>

#include "dkim_internal.h"
#include "vec16.h"

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ------------------------------------------------------------- headers */

/* Output goes through a small stack buffer, appended a run at a time: one
 * strbuf_putc per byte cost some 45,000 instructions a 2 KB message's
 * verify (callgrind, bench/README.md). */
typedef struct run_buf {
    strbuf *out;
    size_t n;
    char buf[256];
} run_buf;

static void run_put(run_buf *r, char c)
{
    if (r->n == sizeof r->buf) {
        strbuf_append(r->out, r->buf, r->n);
        r->n = 0;
    }
    r->buf[r->n++] = c;
}

static void relaxed_header(strbuf *out, const char *field, size_t len)
{
    run_buf r = {.out = out, .n = 0};
    const char *colon = memchr(field, ':', len);
    size_t name_end = colon ? (size_t)(colon - field) : len;
    size_t trimmed = name_end;
    while (trimmed > 0 && (is_wsp(field[trimmed - 1]) || field[trimmed - 1] == '\r' ||
                           field[trimmed - 1] == '\n'))
        trimmed--;
    /* A name cannot hold a line break, but a broken field can: unfold it
     * like the value. */
    for (size_t i = 0; i < trimmed; i++)
        if (field[i] != '\r' && field[i] != '\n')
            run_put(&r, lower(field[i]));
    run_put(&r, ':');
    /* Unfold (drop CR and LF), squeeze whitespace runs to one space, and
     * drop the whitespace at both ends of the value. */
    bool pending_space = false, started = false;
    for (size_t i = name_end + 1; i < len; i++) {
        char c = field[i];
        if (c == '\r' || c == '\n')
            continue;
        if (is_wsp(c)) {
            pending_space = started;
            continue;
        }
        if (pending_space)
            run_put(&r, ' ');
        pending_space = false;
        started = true;
        run_put(&r, c);
    }
    if (r.n > 0)
        strbuf_append(out, r.buf, r.n);
}

void dkim_canon_header(strbuf *out, da_dkim_canon canon, const char *field, size_t len,
                       bool with_crlf)
{
    if (canon == DA_DKIM_RELAXED)
        relaxed_header(out, field, len);
    else
        strbuf_append(out, field, len);
    if (with_crlf)
        strbuf_append(out, "\r\n", 2);
}

/* ---------------------------------------------------------------- body */

void dkim_body_canon_init(dkim_body_canon *bc, da_dkim_canon canon, int64_t limit,
                          dkim_emit_fn emit, void *emit_arg)
{
    memset(bc, 0, sizeof *bc);
    bc->canon = canon;
    bc->limit = limit;
    bc->emit = emit;
    bc->emit_arg = emit_arg;
}

static void flush_buffer(dkim_body_canon *bc)
{
    if (bc->buf_len > 0)
        bc->emit(bc->emit_arg, bc->buf, bc->buf_len);
    bc->buf_len = 0;
}

/* Every canonical byte goes through here: counted always, passed on only
 * while under the l= limit. */
static void put_byte(dkim_body_canon *bc, unsigned char c)
{
    bc->total++;
    if (bc->limit >= 0 && bc->emitted >= (uint64_t)bc->limit)
        return;
    bc->emitted++;
    bc->buf[bc->buf_len++] = c;
    if (bc->buf_len == sizeof bc->buf)
        flush_buffer(bc);
}

static void put_held_line_ends(dkim_body_canon *bc)
{
    for (; bc->held_crlf > 0; bc->held_crlf--) {
        put_byte(bc, '\r');
        put_byte(bc, '\n');
    }
}

/* A byte that is neither part of a line end nor (relaxed) whitespace: the
 * held line ends were not trailing after all. */
static void put_content(dkim_body_canon *bc, unsigned char c)
{
    put_held_line_ends(bc);
    if (bc->held_space)
        put_byte(bc, ' ');
    bc->held_space = false;
    bc->any_content = true;
    put_byte(bc, c);
}

static void feed_byte(dkim_body_canon *bc, unsigned char c)
{
    if (bc->held_cr) {
        bc->held_cr = false;
        if (c == '\n') {
            bc->held_space = false; /* relaxed: whitespace at a line end goes */
            bc->held_crlf++;
            return;
        }
        put_content(bc, '\r'); /* a bare CR is ordinary text */
    }
    if (c == '\r') {
        bc->held_cr = true;
    } else if (bc->canon == DA_DKIM_RELAXED && (c == ' ' || c == '\t')) {
        bc->held_space = true;
    } else {
        put_content(bc, c);
    }
}

/* Like put_byte for a run of bytes: counted, passed on up to the limit,
 * large runs straight to emit without the copy. */
static void put_bytes(dkim_body_canon *bc, const unsigned char *p, size_t n)
{
    bc->total += n;
    size_t take = n;
    if (bc->limit >= 0) {
        uint64_t room = bc->emitted >= (uint64_t)bc->limit ? 0 : (uint64_t)bc->limit - bc->emitted;
        if (take > room)
            take = (size_t)room;
    }
    bc->emitted += take;
    if (take >= sizeof bc->buf) {
        flush_buffer(bc);
        bc->emit(bc->emit_arg, p, take);
        return;
    }
    while (take > 0) {
        size_t space = sizeof bc->buf - bc->buf_len;
        size_t now = take < space ? take : space;
        memcpy(bc->buf + bc->buf_len, p, now);
        bc->buf_len += now;
        p += now;
        take -= now;
        if (bc->buf_len == sizeof bc->buf)
            flush_buffer(bc);
    }
}

/* 0x80 in each byte of w that is zero, 0 elsewhere (exact: no false
 * positives from borrows). */
#define BYTES(b) (UINT64_C(0x0101010101010101) * (b))
static uint64_t zero_bytes(uint64_t w)
{
    uint64_t low7 = BYTES(0x7f);
    return ~(((w & low7) + low7) | w | low7);
}

#ifdef DKIM_VEC16
#define RELAXED_VECTOR_SCAN 1
static v16 word16(v16 v)
{
    return ~(is16(v, ' ') | is16(v, '\t') | is16(v, '\r') | is16(v, '\n'));
}

/* The offset of the first byte of p[0..15] that a relaxed run must stop
 * at, or 16. Reads p[-1] to p[20]. A byte goes through as it is when the
 * output would be that same byte: a word byte; a SP before a word byte;
 * a CR LF that ends a line with content (a stop would have come at a
 * trailing blank) and starts one whose first byte, or a single SP before
 * it, is a word byte, so it is neither trailing nor an empty line, or
 * starts one empty line (a paragraph break) before such a line; the LF of
 * such a pair. The SWAR loop of plain_run cost about 8 instructions a
 * byte on a 1 MB body, more than SHA-256 itself (bench/dkim/README.md). */
static size_t relaxed_stop16(const unsigned char *p)
{
    v16 b0 = load16(p), b1 = load16(p + 1);
    v16 sp0 = is16(b0, ' ');
    /* Most blocks hold words and single spaces only: no byte at or below
     * SP but a space, and no space before one. Three comparisons say so. */
    v16 low0 = at_most16(b0, ' '), low1 = at_most16(b1, ' ');
    if (first_set16((low0 & ~sp0) | (sp0 & low1)) == 16)
        return 16;
    v16 prev = load16(p - 1), b2 = load16(p + 2), b3 = load16(p + 3), b4 = load16(p + 4),
        b5 = load16(p + 5);
    v16 sp1 = is16(b1, ' '), sp2 = is16(b2, ' '), sp4 = is16(b4, ' ');
    v16 special1 = sp1 | is16(b1, '\t') | is16(b1, '\r');
    v16 word2 = word16(b2), word3 = word16(b3), word4 = word16(b4), word5 = word16(b5);
    v16 line_goes_on =
        is16(b1, '\n') & (word2 | (sp2 & word3) |
                          (is16(b2, '\r') & is16(b3, '\n') & (word4 | (sp4 & word5))));
    v16 stop = is16(b0, '\t') | (sp0 & special1) | (is16(b0, '\r') & ~line_goes_on) |
               (is16(b0, '\n') & ~is16(prev, '\r'));
    return first_set16(stop);
}

static bool is_word_byte(unsigned char c)
{
    return c != ' ' && c != '\t' && c != '\r' && c != '\n';
}
#endif

/* Bytes that need no decision (not CR; for relaxed, not SP or TAB either)
 * are handled a run at a time: that is almost all of a body. */
static size_t plain_run(const dkim_body_canon *bc, const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (bc->canon == DA_DKIM_RELAXED) {
        /* One SP between two non-blank bytes is already canonical, so runs
         * go on through words; a run never starts with a space (one may be
         * held already) and stops before a tab, a second blank or a CR. */
        if (n > 0 && p[0] == ' ')
            return 0;
#ifdef RELAXED_VECTOR_SCAN
        /* From a word byte on, whole lines go through while their output
         * is their input; the loops below take the last bytes. */
        if (n >= 22 && is_word_byte(p[0])) {
            i = 1;
            while (i + 21 <= n) {
                size_t stop = relaxed_stop16(p + i);
                if (stop < 16)
                    return i + stop;
                i += 16;
            }
        }
#endif
        /* Eight bytes at a time while a word holds no CR, no TAB and no
         * two blanks in a row (a space in its last byte is checked
         * against the byte after it); the byte loop below decides the
         * rest. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            uint64_t stop = zero_bytes(w ^ BYTES(0x0d)) | zero_bytes(w ^ BYTES(0x09));
            uint64_t sp = zero_bytes(w ^ BYTES(0x20));
            if (stop != 0 || (sp & (sp >> 8)) != 0)
                break;
            if (p[i + 7] == ' ') { /* the last byte is a space: look at the next */
                if (i + 8 >= n)
                    break;
                unsigned char next = p[i + 8];
                if (next == ' ' || next == '\t' || next == '\r')
                    break;
            }
            i += 8;
        }
        while (i < n) {
            unsigned char ch = p[i];
            if (ch == '\r' || ch == '\t')
                break;
            if (ch == ' ' && (i + 1 >= n || p[i + 1] == ' ' || p[i + 1] == '\t' ||
                              p[i + 1] == '\r'))
                break;
            i++;
        }
    } else {
        const unsigned char *cr = memchr(p, '\r', n);
        i = cr ? (size_t)(cr - p) : n;
    }
    return i;
}

void dkim_body_canon_feed(dkim_body_canon *bc, const unsigned char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (!bc->held_cr) {
            size_t run = plain_run(bc, data + i, len - i);
            if (run > 0) {
                put_held_line_ends(bc);
                if (bc->held_space)
                    put_byte(bc, ' ');
                bc->held_space = false;
                bc->any_content = true;
                put_bytes(bc, data + i, run);
                i += run;
                continue;
            }
            /* What feed_byte would do, a pair or a run at a time: blanks
             * (relaxed) become one held space; a CRLF is one held line end. */
            if (bc->canon == DA_DKIM_RELAXED && (data[i] == ' ' || data[i] == '\t')) {
                do
                    i++;
                while (i < len && (data[i] == ' ' || data[i] == '\t'));
                bc->held_space = true;
                continue;
            }
            if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
                bc->held_space = false;
                bc->held_crlf++;
                i += 2;
                continue;
            }
        }
        feed_byte(bc, data[i]);
        i++;
    }
}

/* Trailing empty lines are dropped and the body ends with exactly one CRLF;
 * the exception is relaxed's empty body, which stays empty (section 3.4.4;
 * simple makes an empty body one CRLF, section 3.4.3). */
void dkim_body_canon_finish(dkim_body_canon *bc)
{
    if (bc->held_cr) {
        bc->held_cr = false;
        put_content(bc, '\r');
    }
    bc->held_crlf = 0;
    bc->held_space = false;
    if (bc->canon == DA_DKIM_SIMPLE || bc->any_content) {
        put_byte(bc, '\r');
        put_byte(bc, '\n');
    }
    flush_buffer(bc);
}
