/* Unit tests for SPF macro expansion (RFC 7208 section 7), including every
 * example of section 7.4 and the hostile inputs a fuzzer would try. */
#include <string.h>

#include "spf/macro.h"
#include "tap.h"

static arena mem;
static ip_addr ip4, ip6;

static spf_macro_context context(const ip_addr *ip)
{
    return (spf_macro_context){
        .sender = "strong-bad@email.example.com",
        .local_part = "strong-bad",
        .sender_domain = "email.example.com",
        .domain = "email.example.com",
        .ip = ip,
        .helo = "mx.example.org",
        .receiver = "mx.receiver.example",
        .ptr_name = NULL,
        .now = 1700000000,
    };
}

static void expands(const char *in, const ip_addr *ip, spf_macro_use use, const char *want)
{
    spf_macro_context ctx = context(ip);
    char *out = NULL, err[256] = "";
    int rc = spf_macro_expand(&mem, in, strlen(in), use, &ctx, &out, err, sizeof err);
    if (rc != 0)
        printf("# error: %s\n", err);
    TAP_STR_EQ(rc == 0 ? out : NULL, want, "%s", in);
}

static void rejects(const char *in, spf_macro_use use)
{
    char err[256] = "";
    TAP_OK(spf_macro_check(in, strlen(in), use, err, sizeof err) != 0, "rejects %s", in);
}

int main(void)
{
    arena_init(&mem);
    ip_parse("192.0.2.3", 9, &ip4);
    ip_parse("2001:db8::cb01", 14, &ip6);
    const spf_macro_use D = SPF_MACRO_DOMAIN, X = SPF_MACRO_EXPLANATION;

    /* RFC 7208 section 7.4 examples. */
    expands("%{s}", &ip4, D, "strong-bad@email.example.com");
    expands("%{o}", &ip4, D, "email.example.com");
    expands("%{d}", &ip4, D, "email.example.com");
    expands("%{d4}", &ip4, D, "email.example.com");
    expands("%{d3}", &ip4, D, "email.example.com");
    expands("%{d2}", &ip4, D, "example.com");
    expands("%{d1}", &ip4, D, "com");
    expands("%{dr}", &ip4, D, "com.example.email");
    expands("%{d2r}", &ip4, D, "example.email");
    expands("%{l}", &ip4, D, "strong-bad");
    expands("%{l-}", &ip4, D, "strong.bad");
    expands("%{lr}", &ip4, D, "strong-bad");
    expands("%{lr-}", &ip4, D, "bad.strong");
    expands("%{l1r-}", &ip4, D, "strong");
    expands("%{ir}.%{v}._spf.%{d2}", &ip4, D, "3.2.0.192.in-addr._spf.example.com");
    expands("%{lr-}.lp._spf.%{d2}", &ip4, D, "bad.strong.lp._spf.example.com");
    expands("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", &ip4, D,
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
    expands("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", &ip4, D,
            "3.2.0.192.in-addr.strong.lp._spf.example.com");
    expands("%{d2}.trusted-domains.example.net", &ip4, D,
            "example.com.trusted-domains.example.net");
    expands("%{ir}.%{v}._spf.%{d2}", &ip6, D,
            "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");

    /* Escapes, URL encoding, letters by use. */
    expands("%%%_%-", &ip4, X, "% %20");
    expands("%{S}", &ip4, D, "strong-bad%40email.example.com");
    expands("%{L}", &ip4, D, "strong-bad");
    expands("%{c} %{r} %{t}", &ip4, X, "192.0.2.3 mx.receiver.example 1700000000");
    expands("%{c}", &ip6, X, "2001:db8::cb01");
    expands("%{p}", &ip4, D, "unknown");
    expands("%{h}", &ip4, D, "mx.example.org");
    expands("%{d100}", &ip4, D, "email.example.com");
    expands("%{d2r.-}", &ip4, D, "example.email");
    expands("%{l+}", &ip4, D, "strong-bad");
    expands("", &ip4, D, "");
    expands("plain.text", &ip4, D, "plain.text");

    rejects("%{c}", D);
    rejects("%{r}", D);
    rejects("%{t}", D);
    rejects("%{x}", X);
    rejects("%{d0}", D);
    rejects("%{d2", D);
    rejects("%{", D);
    rejects("%", D);
    rejects("%a", D);
    rejects("%{d*}", D);
    rejects("with space", D);
    rejects("tab\there", X);
    rejects("caf\xc3\xa9", X);

    /* Domain results are cut from the left to 253 characters (7.3). */
    {
        spf_macro_context ctx = context(&ip4);
        char long_local[300];
        for (size_t i = 0; i < 200; i++)
            long_local[i] = (i % 10 == 9) ? '.' : 'a';
        long_local[200] = '\0';
        ctx.local_part = long_local;
        char *out = NULL, err[256];
        const char *in = "%{l}.%{l}.example.com";
        int rc = spf_macro_expand(&mem, in, strlen(in), D, &ctx, &out, err, sizeof err);
        TAP_OK(rc == 0 && strlen(out) <= 253, "long expansion is cut to 253 characters");
        TAP_OK(rc == 0 && strcmp(out + strlen(out) - 12, ".example.com") == 0 && out[0] != '.',
               "cut on a label boundary, keeping the right-hand labels");
    }

    /* Many delimiters: more parts than the expander splits must not crash. */
    {
        spf_macro_context ctx = context(&ip4);
        char many[1001];
        for (size_t i = 0; i < 1000; i++)
            many[i] = (i % 2) ? '.' : 'x';
        many[1000] = '\0';
        ctx.local_part = many;
        char *out = NULL, err[256];
        int rc = spf_macro_expand(&mem, "%{l2r}", 6, X, &ctx, &out, err, sizeof err);
        TAP_OK(rc == 0 && out != NULL, "500 parts expand without overflow");
    }

    TAP_OK(spf_macro_uses_ptr("%{p}.example.com", 16), "uses %%{p}");
    TAP_OK(spf_macro_uses_ptr("%{P2r}.example.com", 18), "uses %%{P2r}");
    TAP_OK(!spf_macro_uses_ptr("%%{p}", 5), "escaped %%%% is not %%{p}");
    arena_free(&mem);
    return tap_done();
}
