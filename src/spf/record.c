/* record.c: SPF record parsing (RFC 7208 sections 4.5, 4.6, 5 and 6).
 * The whole record is checked before any of it is used, so a syntax error
 * anywhere gives permerror even when an earlier term would have matched. */
#include "record.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "util/ip.h"

bool spf_record_is_spf(const char *text, size_t len)
{
    return len >= 6 && strncasecmp(text, "v=spf1", 6) == 0 && (len == 6 || text[6] == ' ');
}

static bool is_scope_char(char c, bool first)
{
    return isalpha((unsigned char)c) ||
           (!first && (isdigit((unsigned char)c) || c == '-' || c == '_' || c == '.'));
}

bool spf_record_is_senderid(const char *text, size_t len, unsigned *scopes, size_t *version_len)
{
    static const char prefix[] = "spf2.0/";
    size_t n = sizeof prefix - 1;
    *scopes = 0;
    if (len <= n || strncasecmp(text, prefix, n) != 0)
        return false;
    size_t pos = n;
    unsigned bits = 0;
    for (;;) {
        /* scope-id = "mfrom" / "pra" / name; name = ALPHA *(ALPHA / DIGIT / "-" / "_" / ".") */
        size_t start = pos;
        while (pos < len && is_scope_char(text[pos], pos == start))
            pos++;
        size_t word = pos - start;
        if (word == 0)
            return false;
        if (word == 5 && strncasecmp(text + start, "mfrom", 5) == 0)
            bits |= SPF_SCOPE_BIT_MFROM;
        else if (word == 3 && strncasecmp(text + start, "pra", 3) == 0)
            bits |= SPF_SCOPE_BIT_PRA;
        else
            bits |= SPF_SCOPE_BIT_OTHER;
        if (pos < len && text[pos] == ',') {
            pos++;
            continue;
        }
        break;
    }
    if (pos < len && text[pos] != ' ')
        return false;
    *scopes = bits;
    *version_len = pos;
    return true;
}

const char *spf_mechanism_name(spf_mechanism mechanism)
{
    static const char *const names[] = {"all", "include", "a",   "mx",
                                        "ptr", "ip4",     "ip6", "exists"};
    return names[mechanism];
}

bool spf_mechanism_queries_dns(spf_mechanism mechanism)
{
    return mechanism == SPF_INCLUDE || mechanism == SPF_A || mechanism == SPF_MX ||
           mechanism == SPF_PTR || mechanism == SPF_EXISTS;
}

static bool is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool is_toplabel(const char *s, size_t len)
{
    if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return false;
    bool has_alpha = false, has_hyphen = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-')
            has_hyphen = true;
        else if (isalpha((unsigned char)s[i]))
            has_alpha = true;
        else if (!isdigit((unsigned char)s[i]))
            return false;
    }
    return has_alpha || has_hyphen;
}

/* domain-spec = macro-string domain-end
 * domain-end  = ( "." toplabel [ "." ] ) / macro-expand */
static int check_domain_spec(const char *s, size_t len, char *err, size_t err_size)
{
    if (len == 0) {
        snprintf(err, err_size, "empty domain-spec");
        return -1;
    }
    if (spf_macro_check(s, len, SPF_MACRO_DOMAIN, err, err_size) != 0)
        return -1;
    if (s[len - 1] == '}')
        return 0; /* ends in %{...}; the macro check found its opening */
    if (len >= 2 && s[len - 2] == '%' && strchr("%_-", s[len - 1]) != NULL) {
        /* "%%", "%_" and "%-" are macro-expands too, unless the % is itself
         * the second half of a "%%". */
        size_t percents = 0;
        for (size_t i = len - 1; i > 0 && s[i - 1] == '%'; i--)
            percents++;
        if (percents % 2 == 1)
            return 0;
    }
    size_t end = len;
    if (s[end - 1] == '.')
        end--;
    size_t start = end;
    while (start > 0 && s[start - 1] != '.')
        start--;
    if (start == 0 || !is_toplabel(s + start, end - start)) {
        snprintf(err, err_size, "domain-spec '%.*s' does not end in a valid top-level label",
                 (int)len, s);
        return -1;
    }
    return 0;
}

/* Parses "/N" with no leading zeros and N <= max. */
static bool parse_cidr(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len < 2 || s[0] != '/' || len > 4)
        return false;
    unsigned v = 0;
    for (size_t i = 1; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (len > 2 && s[1] == '0')
        return false;
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* Splits a trailing dual-cidr-length off [s, s+*len): "/N", "//N" or "/N//M". */
static int split_dual_cidr(const char *s, size_t *len, spf_term *term, char *err,
                           size_t err_size)
{
    size_t n = *len;
    size_t d = n;
    while (d > 0 && isdigit((unsigned char)s[d - 1]))
        d--;
    if (d < n && d >= 2 && s[d - 1] == '/' && s[d - 2] == '/') {
        if (!parse_cidr(s + d - 1, n - d + 1, 128, &term->cidr6)) {
            snprintf(err, err_size, "invalid IPv6 prefix length '%.*s'", (int)(n - d + 2),
                     s + d - 2);
            return -1;
        }
        n = d - 2;
        d = n;
        while (d > 0 && isdigit((unsigned char)s[d - 1]))
            d--;
    }
    if (d < n && d >= 1 && s[d - 1] == '/') {
        if (!parse_cidr(s + d - 1, n - d + 1, 32, &term->cidr4)) {
            snprintf(err, err_size, "invalid IPv4 prefix length '%.*s'", (int)(n - d + 1),
                     s + d - 1);
            return -1;
        }
        n = d - 1;
    }
    *len = n;
    return 0;
}

static int parse_mechanism(arena *a, const char *t, size_t len, spf_term *term, char *err,
                           size_t err_size)
{
    term->qualifier = '+';
    if (len > 0 && strchr("+-~?", t[0]) != NULL) {
        term->qualifier = t[0];
        t++;
        len--;
    }
    size_t name_len = 0;
    while (name_len < len && t[name_len] != ':' && t[name_len] != '/')
        name_len++;
    static const struct {
        const char *name;
        spf_mechanism mechanism;
    } table[] = {{"all", SPF_ALL}, {"include", SPF_INCLUDE}, {"a", SPF_A},
                 {"mx", SPF_MX},   {"ptr", SPF_PTR},         {"ip4", SPF_IP4},
                 {"ip6", SPF_IP6}, {"exists", SPF_EXISTS}};
    bool known = false;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strlen(table[i].name) == name_len && strncasecmp(t, table[i].name, name_len) == 0) {
            term->mechanism = table[i].mechanism;
            known = true;
        }
    }
    if (!known) {
        snprintf(err, err_size, "unknown mechanism '%.*s'", (int)name_len, t);
        return -1;
    }
    const char *rest = t + name_len;
    size_t rest_len = len - name_len;
    term->cidr4 = 32;
    term->cidr6 = 128;

    switch (term->mechanism) {
    case SPF_ALL:
        if (rest_len != 0) {
            snprintf(err, err_size, "'all' takes no arguments");
            return -1;
        }
        return 0;
    case SPF_IP4:
    case SPF_IP6: {
        bool v4 = term->mechanism == SPF_IP4;
        if (rest_len < 2 || rest[0] != ':') {
            snprintf(err, err_size, "%s needs ':' and a network", v4 ? "ip4" : "ip6");
            return -1;
        }
        rest++;
        rest_len--;
        const char *slash = memchr(rest, '/', rest_len);
        size_t net_len = slash ? (size_t)(slash - rest) : rest_len;
        bool ok = v4 ? ip_parse4(rest, net_len, term->addr) : ip_parse6(rest, net_len, term->addr);
        if (!ok) {
            snprintf(err, err_size, "'%.*s' is not an %s network", (int)net_len, rest,
                     v4 ? "IPv4" : "IPv6");
            return -1;
        }
        if (slash != NULL) {
            unsigned *prefix = v4 ? &term->cidr4 : &term->cidr6;
            if (!parse_cidr(slash, rest_len - net_len, v4 ? 32 : 128, prefix)) {
                snprintf(err, err_size, "invalid prefix length '%.*s'", (int)(rest_len - net_len),
                         slash);
                return -1;
            }
        }
        return 0;
    }
    case SPF_A:
    case SPF_MX:
        if (split_dual_cidr(rest, &rest_len, term, err, err_size) != 0)
            return -1;
        break;
    default:
        break;
    }

    if (rest_len == 0) {
        if (term->mechanism == SPF_INCLUDE || term->mechanism == SPF_EXISTS) {
            snprintf(err, err_size, "%s needs ':' and a domain", spf_mechanism_name(term->mechanism));
            return -1;
        }
        return 0;
    }
    if (rest[0] != ':') {
        snprintf(err, err_size, "unexpected '%.*s' after %s", (int)rest_len, rest,
                 spf_mechanism_name(term->mechanism));
        return -1;
    }
    if (check_domain_spec(rest + 1, rest_len - 1, err, err_size) != 0)
        return -1;
    term->domain_spec = arena_strndup(a, rest + 1, rest_len - 1);
    return term->domain_spec ? 0 : -1;
}

static bool is_modifier_name_char(char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

/* The terms of a record whose version section is its first version_len bytes. */
static int parse_terms(arena *a, const char *text, size_t len, size_t version_len,
                       spf_record **out, char *err, size_t err_size)
{
    *out = NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c > 0x7e) {
            snprintf(err, err_size, "byte 0x%02x at offset %zu: records are printable ASCII "
                     "separated by spaces", c, i);
            return -1;
        }
    }
    spf_record *rec = arena_alloc(a, sizeof *rec);
    if (rec == NULL)
        return -1;
    /* Terms are at most len/2 (each needs a space before it). */
    rec->terms = arena_alloc(a, (len / 2 + 1) * sizeof *rec->terms);
    if (rec->terms == NULL)
        return -1;

    size_t pos = version_len;
    unsigned index = 0;
    while (pos < len) {
        while (pos < len && text[pos] == ' ')
            pos++;
        if (pos >= len)
            break;
        size_t start = pos;
        while (pos < len && text[pos] != ' ')
            pos++;
        const char *t = text + start;
        size_t tlen = pos - start;
        index++;
        char why[256];

        size_t name_len = 0;
        while (name_len < tlen && is_modifier_name_char(t[name_len]))
            name_len++;
        if (name_len > 0 && name_len < tlen && t[name_len] == '=' && isalpha((unsigned char)t[0])) {
            const char *value = t + name_len + 1;
            size_t value_len = tlen - name_len - 1;
            const char **slot = NULL;
            if (name_len == 8 && strncasecmp(t, "redirect", 8) == 0)
                slot = &rec->redirect;
            else if (name_len == 3 && strncasecmp(t, "exp", 3) == 0)
                slot = &rec->exp;
            int rc;
            if (slot != NULL) {
                if (*slot != NULL) {
                    snprintf(err, err_size, "term %u (%.*s): %.*s= given twice", index, (int)tlen,
                             t, (int)name_len, t);
                    return -1;
                }
                rc = check_domain_spec(value, value_len, why, sizeof why);
                if (rc == 0 && (*slot = arena_strndup(a, value, value_len)) == NULL)
                    return -1;
            } else {
                rc = spf_macro_check(value, value_len, SPF_MACRO_DOMAIN, why, sizeof why);
            }
            if (rc != 0) {
                snprintf(err, err_size, "term %u (%.*s): %s", index, (int)tlen, t, why);
                return -1;
            }
            continue;
        }

        spf_term *term = &rec->terms[rec->count];
        memset(term, 0, sizeof *term);
        if (parse_mechanism(a, t, tlen, term, why, sizeof why) != 0) {
            snprintf(err, err_size, "term %u (%.*s): %s", index, (int)tlen, t, why);
            return -1;
        }
        term->text = arena_strndup(a, t, tlen);
        if (term->text == NULL)
            return -1;
        rec->count++;
    }
    *out = rec;
    return 0;
}

int spf_record_parse(arena *a, const char *text, size_t len, spf_record **out, char *err,
                     size_t err_size)
{
    *out = NULL;
    if (!spf_record_is_spf(text, len)) {
        snprintf(err, err_size, "not an SPF record (must start with 'v=spf1')");
        return -1;
    }
    return parse_terms(a, text, len, 6, out, err, err_size);
}

int spf_record_parse_any(arena *a, const char *text, size_t len, spf_record **out, char *err,
                         size_t err_size)
{
    unsigned scopes;
    size_t version_len;
    if (spf_record_is_senderid(text, len, &scopes, &version_len))
        return parse_terms(a, text, len, version_len, out, err, err_size);
    return spf_record_parse(a, text, len, out, err, err_size);
}
