/* authres.c: Received-SPF (RFC 7208 section 9.1) and the spf= clause of
 * Authentication-Results (RFC 8601), built so that hostile envelope values
 * cannot break out of their field or add header lines. */
#include "authres.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "spf/spf_internal.h"

static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_dot_atom(const char *s)
{
    if (*s == '\0' || *s == '.')
        return false;
    bool last_dot = false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '.') {
            if (last_dot)
                return false;
            last_dot = true;
        } else if (is_atext(*p)) {
            last_dot = false;
        } else {
            return false;
        }
    }
    return !last_dot;
}

/* Printable ASCII passes; anything else (CR, LF, NUL, 8-bit) becomes '?'. */
static char printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e ? (char)c : '?';
}

static void append_quoted(strbuf *out, const char *value)
{
    strbuf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\')
            strbuf_putc(out, '\\');
        strbuf_putc(out, printable(*p));
    }
    strbuf_putc(out, '"');
}

void header_append_value(strbuf *out, const char *value)
{
    if (is_dot_atom(value))
        strbuf_puts(out, value);
    else
        append_quoted(out, value);
}

void header_append_comment_text(strbuf *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '(' || *p == ')' || *p == '\\')
            strbuf_putc(out, '\\');
        strbuf_putc(out, printable(*p));
    }
}

/* RFC 2045 token: printable ASCII except space and tspecials. */
static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p > 0x7e || strchr("()<>@,;:\\\"/[]?=", *p) != NULL)
            return false;
    return true;
}

/* RFC 8601 pvalue: [local-part "@"] domain-name, or a token / quoted-string. */
static bool is_plain_address(const char *s)
{
    const char *at = strrchr(s, '@');
    if (at == NULL || at == s)
        return false;
    size_t local_len = (size_t)(at - s);
    char local[256];
    if (local_len >= sizeof local)
        return false;
    memcpy(local, s, local_len);
    local[local_len] = '\0';
    return is_dot_atom(local) && is_dot_atom(at + 1);
}

void header_append_token(strbuf *out, const char *value)
{
    if (is_token(value) || is_plain_address(value))
        strbuf_puts(out, value);
    else
        append_quoted(out, value);
}

static void append_comment(strbuf *out, const da_spf_eval *eval)
{
    const char *receiver = spf_eval_receiver(eval);
    const char *sender = da_spf_eval_sender(eval);
    const char *ip = spf_eval_client_ip_text(eval);
    const char *what;
    switch (da_spf_eval_result(eval)) {
    case DA_SPF_PASS: what = "designates %s as permitted sender"; break;
    case DA_SPF_FAIL: what = "does not designate %s as permitted sender"; break;
    case DA_SPF_SOFTFAIL: what = "does not designate %s as permitted sender (softfail)"; break;
    case DA_SPF_NEUTRAL: what = "neither permits nor denies %s"; break;
    case DA_SPF_NONE: what = "does not publish SPF, so says nothing of %s"; break;
    case DA_SPF_TEMPERROR: what = "could not be checked for %s: temporary DNS error"; break;
    default: what = "has an SPF record with errors, so %s could not be checked"; break;
    }
    strbuf_putc(out, '(');
    header_append_comment_text(out, receiver);
    strbuf_puts(out, ": domain of ");
    header_append_comment_text(out, sender);
    strbuf_putc(out, ' ');
    const char *mark = strstr(what, "%s");
    strbuf_append(out, what, (size_t)(mark - what));
    strbuf_puts(out, ip);
    strbuf_puts(out, mark + 2);
    strbuf_putc(out, ')');
}

char *da_spf_received_spf(const da_spf_eval *eval)
{
    strbuf out;
    strbuf_init(&out);
    strbuf_puts(&out, da_spf_result_name(da_spf_eval_result(eval)));
    strbuf_putc(&out, ' ');
    append_comment(&out, eval);
    strbuf_puts(&out, " client-ip=");
    strbuf_puts(&out, spf_eval_client_ip_text(eval));
    strbuf_puts(&out, "; envelope-from=");
    header_append_value(&out, da_spf_eval_sender(eval));
    strbuf_puts(&out, "; helo=");
    header_append_value(&out, spf_eval_helo(eval));
    strbuf_puts(&out, "; receiver=");
    header_append_value(&out, spf_eval_receiver(eval));
    strbuf_puts(&out, "; identity=");
    strbuf_puts(&out, da_spf_eval_identity(eval));
    const char *mechanism = da_spf_eval_mechanism(eval);
    if (mechanism != NULL) {
        strbuf_puts(&out, "; mechanism=");
        header_append_value(&out, mechanism);
    }
    const char *problem = da_spf_eval_problem(eval);
    if (problem != NULL) {
        strbuf_puts(&out, "; problem=");
        header_append_value(&out, problem);
    }
    strbuf_putc(&out, ';');
    return strbuf_take(&out);
}

char *da_spf_authres_clause(const da_spf_eval *eval)
{
    strbuf out;
    strbuf_init(&out);
    strbuf_puts(&out, "spf=");
    strbuf_puts(&out, da_spf_result_name(da_spf_eval_result(eval)));
    strbuf_putc(&out, ' ');
    append_comment(&out, eval);
    bool helo = strcmp(da_spf_eval_identity(eval), "helo") == 0;
    strbuf_puts(&out, helo ? " smtp.helo=" : " smtp.mailfrom=");
    header_append_token(&out, helo ? da_spf_eval_domain(eval) : da_spf_eval_sender(eval));
    return strbuf_take(&out);
}

char *da_spf_authres_value(const da_spf_eval *eval, const char *authserv_id)
{
    char *clause = da_spf_authres_clause(eval);
    if (clause == NULL)
        return NULL;
    strbuf sb;
    strbuf_init(&sb);
    header_append_token(&sb, authserv_id && *authserv_id ? authserv_id : "localhost");
    strbuf_puts(&sb, "; ");
    strbuf_puts(&sb, clause);
    free(clause);
    return strbuf_take(&sb);
}
