/* headers.c: Received-SPF (RFC 7208 section 9.1) and the spf= clause of
 * Authentication-Results (RFC 8601) from an evaluation, every value quoted
 * by src/authres so hostile envelope values stay inside their field. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "authres/authres.h"
#include "domauth.h"
#include "spf_internal.h"

/* The comment's text, each value from the evaluation through put: escaped
 * for a (comment), or only made printable for a caller that quotes it. */
static void append_comment_text(strbuf *out, const da_spf_eval *eval,
                                void (*put)(strbuf *out, const char *text))
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
    put(out, receiver);
    strbuf_puts(out, ": domain of ");
    put(out, sender);
    strbuf_putc(out, ' ');
    const char *mark = strstr(what, "%s");
    strbuf_append(out, what, (size_t)(mark - what));
    strbuf_puts(out, ip);
    strbuf_puts(out, mark + 2);
}

static void append_comment(strbuf *out, const da_spf_eval *eval)
{
    strbuf_putc(out, '(');
    append_comment_text(out, eval, header_append_comment_text);
    strbuf_putc(out, ')');
}

char *spf_result_comment(const da_spf_eval *eval)
{
    strbuf out;
    strbuf_init(&out);
    append_comment_text(&out, eval, header_append_printable);
    return strbuf_take(&out);
}

char *spf_received_spf_as(const da_spf_eval *eval, const char *identity,
                          const char *envelope_from)
{
    strbuf out;
    strbuf_init(&out);
    strbuf_puts(&out, da_spf_result_name(da_spf_eval_result(eval)));
    strbuf_putc(&out, ' ');
    append_comment(&out, eval);
    strbuf_puts(&out, " client-ip=");
    strbuf_puts(&out, spf_eval_client_ip_text(eval));
    strbuf_puts(&out, "; envelope-from=");
    header_append_value(&out, envelope_from);
    strbuf_puts(&out, "; helo=");
    header_append_value(&out, spf_eval_helo(eval));
    strbuf_puts(&out, "; receiver=");
    header_append_value(&out, spf_eval_receiver(eval));
    strbuf_puts(&out, "; identity=");
    strbuf_puts(&out, identity);
    if (strcmp(identity, "mailfrom") != 0 && strcmp(identity, "helo") != 0) {
        /* The checked address is not the envelope's: say which it was. */
        strbuf_puts(&out, "; x-checked=");
        header_append_value(&out, da_spf_eval_sender(eval));
    }
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

char *da_spf_received_spf(const da_spf_eval *eval)
{
    return spf_received_spf_as(eval, da_spf_eval_identity(eval), da_spf_eval_sender(eval));
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

char *da_senderid_authres_clause(const da_spf_eval *eval, const char *field)
{
    strbuf out;
    strbuf_init(&out);
    strbuf_puts(&out, DA_SENDERID_AUTHRES_METHOD "=");
    strbuf_puts(&out, da_spf_result_name(da_spf_eval_result(eval)));
    strbuf_putc(&out, ' ');
    append_comment(&out, eval);
    if (da_spf_eval_scope(eval) == DA_SPF_SCOPE_PRA) {
        /* RFC 8601: ptype header, the property being the field's name. */
        strbuf_puts(&out, " header.");
        const char *name = field && *field ? field : "from";
        for (const char *p = name; *p; p++) {
            char c = *p;
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            strbuf_putc(&out, ok ? (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) : '-');
        }
        strbuf_putc(&out, '=');
        header_append_token(&out, da_spf_eval_sender(eval));
    } else {
        bool helo = strcmp(da_spf_eval_identity(eval), "helo") == 0;
        strbuf_puts(&out, helo ? " smtp.helo=" : " smtp.mailfrom=");
        header_append_token(&out, helo ? da_spf_eval_domain(eval) : da_spf_eval_sender(eval));
    }
    return strbuf_take(&out);
}
