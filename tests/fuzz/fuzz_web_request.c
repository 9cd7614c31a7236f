/* fuzz_web_request.c: libFuzzer target for the request parsing that is
 * domauth-web's own (web/form.c, web/escape.c): the input's first byte
 * chooses a query string or form body, or a Cookie header, the rest is the
 * text. Checks: a parsed form's fields are NUL-free and no longer than the
 * input; a refused one is empty; a cookie found fits its buffer and holds
 * only cookie-octets; and every decoded value, escaped for HTML, carries no
 * '<', '>', '"' or '\'' and no control byte but tab and newline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

static void check_escaped(const char *s, size_t len)
{
    strbuf b;
    strbuf_init(&b);
    html_escape(&b, s, len);
    for (size_t i = 0; i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        CHECK(c != '<' && c != '>' && c != '"' && c != '\'');
        CHECK(c >= 0x20 || c == '\t' || c == '\n');
        CHECK(c != 0x7f);
    }
    strbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char why[200];
    if (data[0] & 1) {
        char out[64];
        static const char *const names[] = {"da_session", "da_login", "a"};
        for (size_t n = 0; n < 3; n++) {
            int rc = web_cookie_get(text, len, names[n], out, sizeof out);
            CHECK(rc >= -1 && rc <= 1);
            if (rc == 1) {
                size_t l = strlen(out);
                CHECK(l < sizeof out && l <= len);
                for (size_t i = 0; i < l; i++)
                    CHECK(out[i] > 0x20 && out[i] < 0x7f && out[i] != ',' && out[i] != '\\');
            }
        }
        check_escaped(text, len);
        return 0;
    }
    web_form f;
    int rc = web_form_parse(&f, text, len, why, sizeof why);
    if (rc != 0) {
        CHECK(f.count == 0 && f.fields == NULL && why[0] != '\0');
    } else {
        CHECK(f.count <= WEB_FORM_MAX_FIELDS);
        for (size_t i = 0; i < f.count; i++) {
            size_t nl = strlen(f.fields[i].name), vl = strlen(f.fields[i].value);
            CHECK(nl + vl <= len);
            check_escaped(f.fields[i].value, vl);
            check_escaped(f.fields[i].name, nl);
            /* The first field of a name is what web_form_get finds. */
            const char *first = web_form_get(&f, f.fields[i].name);
            CHECK(first != NULL);
        }
    }
    web_form_free(&f);
    return 0;
}
