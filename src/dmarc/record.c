/* record.c: the DMARC record grammar (RFC 9989 section 4.7, RFC 7489
 * section 6.4): a tag list that starts with v=DMARC1. Parses (pointer,
 * length) input, never trusts a NUL, and names the tag and the byte
 * position of every error. Not the tree walk: see eval.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc_internal.h"

/* A build fact, answered here (not in psl.c) so that what only reads the
 * configuration links no libpsl (domauth-xmail-filter). */
bool da_dmarc_have_psl(void)
{
#ifdef DA_HAVE_PSL
    return true;
#else
    return false;
#endif
}

const char *da_dmarc_result_name(da_dmarc_result result)
{
    switch (result) {
    case DA_DMARC_NONE: return "none";
    case DA_DMARC_PASS: return "pass";
    case DA_DMARC_FAIL: return "fail";
    case DA_DMARC_TEMPERROR: return "temperror";
    case DA_DMARC_PERMERROR: return "permerror";
    }
    return "none";
}

const char *da_dmarc_policy_name(da_dmarc_policy policy)
{
    switch (policy) {
    case DA_DMARC_POLICY_NONE: return "none";
    case DA_DMARC_POLICY_QUARANTINE: return "quarantine";
    case DA_DMARC_POLICY_REJECT: return "reject";
    }
    return "none";
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "v" *WSP "=" *WSP "DMARC1" *WSP, then ";" or the end. The value is
 * case-sensitive (RFC 7489 section 6.3: it must match precisely). */
bool da_dmarc_record_is_dmarc(const char *text, size_t len)
{
    size_t i = 0;
    if (len < 1 || (text[0] != 'v' && text[0] != 'V'))
        return false;
    i = 1;
    while (i < len && is_wsp(text[i]))
        i++;
    if (i >= len || text[i] != '=')
        return false;
    i++;
    while (i < len && is_wsp(text[i]))
        i++;
    if (len - i < 6 || memcmp(text + i, "DMARC1", 6) != 0)
        return false;
    i += 6;
    while (i < len && is_wsp(text[i]))
        i++;
    return i == len || text[i] == ';';
}

typedef struct parse_ctx {
    char *err;
    size_t err_size;
} parse_ctx;

/* Writes "position N: message" (N counted from 1), with every byte that is
 * not printable ASCII shown as '?'. Values are cut by the callers' "%.*s"
 * (at most SHOWN bytes of them). */
enum { SHOWN = 40 };
static int fail(parse_ctx *c, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(parse_ctx *c, size_t pos, const char *fmt, ...)
{
    if (c->err_size == 0)
        return -1;
    int n = snprintf(c->err, c->err_size, "position %zu: ", pos + 1);
    if (n < 0 || (size_t)n >= c->err_size)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->err_size - (size_t)n, fmt, ap);
    va_end(ap);
    for (char *e = c->err; *e; e++)
        if ((unsigned char)*e < 0x20 || (unsigned char)*e >= 0x7f)
            *e = '?';
    return -1;
}

static int shown(size_t n)
{
    return n < SHOWN ? (int)n : SHOWN;
}

static bool value_is(const char *v, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(v, word, n) == 0;
}

static int policy_value(const char *v, size_t n, da_dmarc_policy *out)
{
    if (value_is(v, n, "none"))
        *out = DA_DMARC_POLICY_NONE;
    else if (value_is(v, n, "quarantine"))
        *out = DA_DMARC_POLICY_QUARANTINE;
    else if (value_is(v, n, "reject"))
        *out = DA_DMARC_POLICY_REJECT;
    else
        return -1;
    return 0;
}

/* One DMARC URI: a scheme, ":", something; an optional "!size" suffix is
 * RFC 7489's and RFC 9989 ignores it. */
static bool uri_ok(const char *v, size_t n)
{
    while (n > 0 && is_wsp(v[0])) {
        v++;
        n--;
    }
    while (n > 0 && is_wsp(v[n - 1]))
        n--;
    if (n < 3 || !is_alpha(v[0]))
        return false;
    size_t i = 1;
    while (i < n && (is_alpha(v[i]) || is_digit(v[i]) || v[i] == '+' || v[i] == '-' || v[i] == '.'))
        i++;
    if (i >= n || v[i] != ':' || i + 1 >= n)
        return false;
    for (size_t j = i + 1; j < n; j++)
        if ((unsigned char)v[j] <= 0x20 || (unsigned char)v[j] >= 0x7f)
            return false;
    return true;
}

/* A comma-separated list of URIs; *any_ok says whether one is valid. */
static int uri_list(parse_ctx *c, size_t pos, const char *tag, const char *v, size_t n, char *out,
                    bool *any_ok)
{
    if (n > DA_DMARC_URI_LIST_MAX)
        return fail(c, pos, "%s: longer than 1024 bytes ('%.*s')", tag, shown(n), v);
    *any_ok = false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && v[i] != ',')
            continue;
        if (uri_ok(v + start, i - start))
            *any_ok = true;
        else
            return fail(c, pos, "%s: '%.*s' is not a URI list", tag, shown(n), v);
        start = i + 1;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

static int fo_value(parse_ctx *c, size_t pos, const char *v, size_t n, char *out, size_t out_size)
{
    if (n == 0 || n >= out_size)
        return fail(c, pos, "%s: '%.*s' is not a list of 0, 1, d, s", "fo", shown(n), v);
    for (size_t i = 0; i < n; i++) {
        bool opt = v[i] == '0' || v[i] == '1' || v[i] == 'd' || v[i] == 's';
        bool sep_ok = v[i] == ':' && i > 0 && i + 1 < n && v[i - 1] != ':';
        if (!(i % 2 == 0 ? opt : sep_ok))
            return fail(c, pos, "%s: '%.*s' is not a list of 0, 1, d, s", "fo", shown(n), v);
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

static int number_value(const char *v, size_t n, unsigned long max, unsigned long *out)
{
    if (n == 0 || n > 10)
        return -1;
    unsigned long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(v[i]))
            return -1;
        x = x * 10 + (unsigned long)(v[i] - '0');
    }
    if (x > max)
        return -1;
    *out = x;
    return 0;
}

/* The tags this parser reads, for "given twice". */
enum {
    T_V,
    T_P,
    T_SP,
    T_NP,
    T_PSD,
    T_T,
    T_ADKIM,
    T_ASPF,
    T_RUA,
    T_RUF,
    T_FO,
    T_PCT,
    T_RF,
    T_RI,
    T_COUNT
};
static const char *const tag_names[T_COUNT] = {"v",    "p",   "sp",  "np", "psd", "t",  "adkim",
                                               "aspf", "rua", "ruf", "fo", "pct", "rf", "ri"};

static int tag_index(const char *name, size_t n)
{
    for (int i = 0; i < T_COUNT; i++)
        if (strlen(tag_names[i]) == n && strncasecmp(tag_names[i], name, n) == 0)
            return i;
    return -1;
}

int da_dmarc_record_parse(const char *text, size_t len, da_dmarc_mode mode, da_dmarc_record *out,
                          char *err, size_t err_size)
{
    parse_ctx c = {err, err_size};
    memset(out, 0, sizeof *out);
    out->pct = 100;
    snprintf(out->fo, sizeof out->fo, "0");
    if (err_size > 0)
        err[0] = '\0';
    if (len > DA_DMARC_RECORD_MAX)
        return fail(&c, DA_DMARC_RECORD_MAX, "the record is longer than 4096 bytes");
    if (!da_dmarc_record_is_dmarc(text, len))
        return fail(&c, 0, "%s: the record does not start with v=DMARC1", "v");
    bool seen[T_COUNT] = {false};
    bool rua_ok = false;
    /* The first bad p=, sp= or np=, reported unless rua= saves the record. */
    const char *bad_tag = NULL, *bad_v = NULL;
    size_t bad_pos = 0, bad_n = 0;
    size_t i = 0;
    bool first = true;
    while (i < len) {
        while (i < len && is_wsp(text[i]))
            i++;
        if (i >= len)
            break;
        size_t name_pos = i;
        if (!is_alpha(text[i]))
            return fail(&c, i, "'%.*s' is not a tag name", shown(len - i), text + i);
        size_t ns = i;
        while (i < len && (is_alpha(text[i]) || is_digit(text[i]) || text[i] == '_'))
            i++;
        size_t nn = i - ns;
        while (i < len && is_wsp(text[i]))
            i++;
        if (i >= len || text[i] != '=') {
            char tag[32];
            snprintf(tag, sizeof tag, "%.*s", (int)(nn < 31 ? nn : 31), text + ns);
            return fail(&c, name_pos, "%s: '=' expected after the tag name", tag);
        }
        i++;
        while (i < len && is_wsp(text[i]))
            i++;
        size_t vs = i;
        while (i < len && text[i] != ';')
            i++;
        size_t ve = i;
        while (ve > vs && is_wsp(text[ve - 1]))
            ve--;
        if (i < len)
            i++; /* the ';' */
        const char *v = text + vs;
        size_t vn = ve - vs;
        for (size_t k = 0; k < vn; k++)
            if ((unsigned char)v[k] < 0x20 || (unsigned char)v[k] >= 0x7f) {
                char tag[32];
                snprintf(tag, sizeof tag, "%.*s", (int)(nn < 31 ? nn : 31), text + ns);
                return fail(&c, vs + k, "%s: a control or non-ASCII byte in '%.*s'", tag, shown(vn),
                            v);
            }
        int t = tag_index(text + ns, nn);
        if (first) {
            first = false; /* v=DMARC1, checked above */
            seen[T_V] = true;
            continue;
        }
        if (t < 0)
            continue; /* unknown tags are ignored (RFC 9989 section 4.7) */
        if (seen[t])
            return fail(&c, name_pos, "%s: given twice", tag_names[t]);
        seen[t] = true;
        const char *tn = tag_names[t];
        switch (t) {
        case T_P:
        case T_SP:
        case T_NP: {
            da_dmarc_policy *dst = t == T_P ? &out->p : t == T_SP ? &out->sp : &out->np;
            if (policy_value(v, vn, dst) != 0 && bad_tag == NULL) {
                bad_tag = tn;
                bad_pos = name_pos;
                bad_v = v;
                bad_n = vn;
            }
            if (t == T_P)
                out->has_p = true;
            else if (t == T_SP)
                out->has_sp = true;
            else
                out->has_np = true;
            break;
        }
        case T_PSD:
            if (value_is(v, vn, "y"))
                out->psd = DA_DMARC_PSD_Y;
            else if (value_is(v, vn, "n"))
                out->psd = DA_DMARC_PSD_N;
            else if (value_is(v, vn, "u"))
                out->psd = DA_DMARC_PSD_U;
            else
                return fail(&c, name_pos, "%s: '%.*s' is not y, n or u", tn, shown(vn), v);
            break;
        case T_T:
            if (value_is(v, vn, "y"))
                out->testing = true;
            else if (!value_is(v, vn, "n"))
                return fail(&c, name_pos, "%s: '%.*s' is not y or n", tn, shown(vn), v);
            break;
        case T_ADKIM:
        case T_ASPF: {
            bool strict;
            if (value_is(v, vn, "s"))
                strict = true;
            else if (value_is(v, vn, "r"))
                strict = false;
            else
                return fail(&c, name_pos, "%s: '%.*s' is not r or s", tn, shown(vn), v);
            if (t == T_ADKIM)
                out->adkim_strict = strict;
            else
                out->aspf_strict = strict;
            break;
        }
        case T_RUA: {
            bool ok;
            if (uri_list(&c, name_pos, tn, v, vn, out->rua, &ok) != 0)
                return -1;
            rua_ok = ok;
            break;
        }
        case T_RUF: {
            bool ok;
            if (uri_list(&c, name_pos, tn, v, vn, out->ruf, &ok) != 0)
                return -1;
            break;
        }
        case T_FO:
            if (fo_value(&c, name_pos, v, vn, out->fo, sizeof out->fo) != 0)
                return -1;
            break;
        case T_PCT:
            if (mode == DA_DMARC_RFC7489) {
                unsigned long x;
                if (number_value(v, vn, 100, &x) != 0)
                    return fail(&c, name_pos, "%s: '%.*s' is not a number 0..100", tn, shown(vn),
                                v);
                out->pct = (unsigned)x;
                out->has_pct = true;
            }
            break;
        case T_RI:
            if (mode == DA_DMARC_RFC7489) {
                unsigned long x;
                if (number_value(v, vn, 0xffffffffUL, &x) != 0)
                    return fail(&c, name_pos, "%s: '%.*s' is not a number of seconds", tn,
                                shown(vn), v);
            }
            break;
        case T_V:         /* seen from the start: a second one is "given twice" */
        case T_RF: break; /* a report format name; no report of that kind is sent here */
        }
    }
    if (bad_tag != NULL) {
        /* RFC 7489 section 6.6.3, kept by RFC 9989: a bad p= or sp= with a
         * usable rua= is read as p=none, so that reports still flow. */
        if (!rua_ok)
            return fail(&c, bad_pos, "%s: '%.*s' is not none, quarantine or reject", bad_tag,
                        shown(bad_n), bad_v);
        out->p = DA_DMARC_POLICY_NONE;
        out->has_p = true;
        out->has_sp = out->has_np = false;
        out->sp = out->np = DA_DMARC_POLICY_NONE;
    }
    return 0;
}
