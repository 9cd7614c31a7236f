/* wizard.c: an SPF record from answers, and its zone-file line. Every
 * answer is checked where it arrives (addresses, prefix lengths, names),
 * and the whole record is parsed once more before it is returned, so what
 * the wizard prints always passes domauth's own syntax check. */
#include "wizard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/lint.h"
#include "spf/record.h"
#include "util/arena.h"
#include "util/ip.h"
#include "util/strbuf.h"

enum { TXT_STRING_MAX = 255 };

/* "ADDR" or "ADDR/N" for one family. */
static bool valid_network(const char *net, bool v4)
{
    const char *slash = strchr(net, '/');
    size_t len = slash ? (size_t)(slash - net) : strlen(net);
    uint8_t addr[16];
    if (!(v4 ? ip_parse4(net, len, addr) : ip_parse6(net, len, addr)))
        return false;
    if (slash == NULL)
        return true;
    const char *p = slash + 1;
    unsigned bits = 0, max = v4 ? 32 : 128;
    if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        bits = bits * 10 + (unsigned)(*p - '0');
        if (bits > max)
            return false;
    }
    return true;
}

/* A literal host name: letters, digits, '-', '.', '_' (for _spf names). */
static bool valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 253 || name[0] == '.' || strstr(name, "..") != NULL)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
            return false;
    return strchr(name, '.') != NULL;
}

static bool add_list(strbuf *sb, const char *prefix, const char *const *items, size_t count,
                     bool (*valid)(const char *), const char *what, char *err, size_t err_size)
{
    for (size_t i = 0; i < count; i++) {
        if (!valid(items[i])) {
            snprintf(err, err_size, "'%s' is not %s", items[i], what);
            return false;
        }
        strbuf_printf(sb, " %s%s", prefix, items[i]);
    }
    return true;
}

static bool valid_ip4(const char *s) { return valid_network(s, true); }
static bool valid_ip6(const char *s) { return valid_network(s, false); }

char *spf_wizard_record(const spf_wizard_answers *w, char *err, size_t err_size)
{
    strbuf sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "v=spf1");
    char all = w->all ? w->all : '~';
    if (all != '-' && all != '~' && all != '?') {
        snprintf(err, err_size, "the default must be fail (-), softfail (~) or neutral (?)");
        strbuf_free(&sb);
        return NULL;
    }
    if (w->no_mail) {
        if (w->mx || w->a || w->ptr || w->ip4_count || w->ip6_count || w->host_count ||
            w->include_count) {
            snprintf(err, err_size, "a domain that sends no mail lists no senders");
            strbuf_free(&sb);
            return NULL;
        }
        strbuf_puts(&sb, " -all");
        return strbuf_take(&sb);
    }
    if (w->a)
        strbuf_puts(&sb, " a");
    if (w->mx)
        strbuf_puts(&sb, " mx");
    if (!add_list(&sb, "ip4:", w->ip4, w->ip4_count, valid_ip4, "an IPv4 network", err,
                  err_size) ||
        !add_list(&sb, "ip6:", w->ip6, w->ip6_count, valid_ip6, "an IPv6 network", err,
                  err_size) ||
        !add_list(&sb, "a:", w->hosts, w->host_count, valid_name, "a host name", err,
                  err_size) ||
        !add_list(&sb, "include:", w->includes, w->include_count, valid_name, "a domain",
                  err, err_size)) {
        strbuf_free(&sb);
        return NULL;
    }
    if (w->ptr)
        strbuf_puts(&sb, " ptr");
    strbuf_printf(&sb, " %call", all);
    char *record = strbuf_take(&sb);
    if (record == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    arena a;
    arena_init(&a);
    spf_record *parsed;
    char why[300];
    int rc = spf_record_parse(&a, record, strlen(record), &parsed, why, sizeof why);
    arena_free(&a);
    if (rc != 0) {
        snprintf(err, err_size, "%s", why);
        free(record);
        return NULL;
    }
    return record;
}

char *spf_wizard_zone_line(const char *domain, const char *record)
{
    strbuf sb;
    strbuf_init(&sb);
    size_t dlen = strlen(domain);
    strbuf_printf(&sb, "%s%s\tIN\tTXT\t", domain,
                  dlen > 0 && domain[dlen - 1] == '.' ? "" : ".");
    size_t len = strlen(record);
    for (size_t off = 0; off < len || off == 0; off += TXT_STRING_MAX) {
        size_t n = len - off < TXT_STRING_MAX ? len - off : TXT_STRING_MAX;
        strbuf_printf(&sb, "%s\"%.*s\"", off ? " " : "", (int)n, record + off);
        if (len == 0)
            break;
    }
    return strbuf_take(&sb);
}

size_t spf_wizard_answer_size(const char *domain, const char *record)
{
    size_t len = strlen(record);
    return spf_txt_answer_size(domain, &len, 1);
}
