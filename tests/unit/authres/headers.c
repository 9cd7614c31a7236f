/* Unit tests for header output: hostile envelope values must never add a
 * line, end a quoted-string early, or escape a comment. */
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "tap.h"

static da_spf_eval *evaluate(const char *from, const char *helo, const char *receiver)
{
    da_zone *z = da_zone_new();
    const char *zt = "example.com TXT \"v=spf1 -all\"\n";
    char err[256];
    da_zone_load_text(z, zt, strlen(zt), err, sizeof err);
    da_spf_request req = {.client_ip = "192.0.2.1", .mail_from = from, .helo = helo,
                          .receiver = receiver};
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    da_resolver *r = da_resolver_new_zone(z);
    da_spf_eval_run(ev, r);
    da_resolver_free(r);
    da_zone_free(z);
    return ev;
}

static bool clean(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return true;
}

/* Every '"' that is not escaped toggles quoting; a value must end outside. */
static bool quotes_balanced(const char *s)
{
    bool in = false;
    for (const char *p = s; *p; p++) {
        if (*p == '\\' && in && p[1]) {
            p++;
            continue;
        }
        if (*p == '"')
            in = !in;
    }
    return !in;
}

int main(void)
{
    const char *hostile_from[] = {
        "evil\r\nX-Injected: yes@example.com",
        "\"quoted\\\"\r\n\"@example.com",
        "a(b)c\\@example.com",
        "caf\xc3\xa9@example.com",
        "x@example.com\r\n\r\nbody",
    };
    for (size_t i = 0; i < sizeof hostile_from / sizeof hostile_from[0]; i++) {
        da_spf_eval *ev = evaluate(hostile_from[i], "helo\r\nX-Evil: 1", "mx\n.example");
        char *rs = da_spf_received_spf(ev);
        char *ar = da_spf_authres_clause(ev);
        TAP_OK(rs && clean(rs) && quotes_balanced(rs), "Received-SPF stays one clean line (%zu)", i);
        TAP_OK(ar && clean(ar) && quotes_balanced(ar), "Authentication-Results clause stays clean (%zu)", i);
        if (rs && !clean(rs))
            printf("#   %s\n", rs);
        free(rs);
        free(ar);
        da_spf_eval_free(ev);
    }

    da_spf_eval *ev = evaluate("user@example.com", "mail.example.com", "mx.example.net");
    char *rs = da_spf_received_spf(ev);
    char *ar = da_spf_authres_clause(ev);
    TAP_OK(rs && strncmp(rs, "fail (mx.example.net: domain of user@example.com ", 49) == 0,
           "Received-SPF begins with result and comment");
    TAP_OK(rs && strstr(rs, " client-ip=192.0.2.1; envelope-from=\"user@example.com\"; "
                            "helo=mail.example.com; receiver=mx.example.net; identity=mailfrom; "
                            "mechanism=-all;") != NULL,
           "Received-SPF key-value pairs per RFC 7208 9.1");
    TAP_OK(ar && strncmp(ar, "spf=fail (", 10) == 0 && strstr(ar, " smtp.mailfrom=user@example.com"),
           "Authentication-Results spf= clause per RFC 8601");
    if (rs)
        printf("# %s\n# %s\n", rs, ar ? ar : "");
    free(rs);
    free(ar);
    da_spf_eval_free(ev);
    return tap_done();
}
