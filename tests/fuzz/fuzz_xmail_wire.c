/* fuzz_xmail_wire.c: libFuzzer target for the codec between the XMail
 * filter and domauthd's control socket. The first byte picks the side:
 * even, the request line domauthd reads from any local process that can
 * open the socket; odd, the answer the filter reads. What parses must be
 * consistent (bounded lengths, a known stage, NUL-free texts), and an
 * answer written from what was parsed must parse back to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/xmail_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char err[200];
    if (data[0] % 2 == 0) {
        xmail_wire_request r;
        if (xmail_wire_parse_request(text, len, &r, err, sizeof err) != 0) {
            CHECK(err[0] != '\0');
            return 0;
        }
        CHECK(r.length > 0 && r.length <= XMAIL_WIRE_FILE_MAX);
        CHECK(r.stage <= XMAIL_STAGE_POST_DATA);
        CHECK(strlen(r.rcpt) < sizeof r.rcpt && strlen(r.auth) < sizeof r.auth);
        /* Written again, it parses to the same request. */
        strbuf out;
        strbuf_init(&out);
        if (xmail_wire_put_request(&out, r.stage, r.length, r.rcpt, r.auth) == 0) {
            xmail_wire_request again;
            CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
            CHECK(xmail_wire_parse_request(out.data, out.len - 1, &again, err, sizeof err) == 0);
            CHECK(again.stage == r.stage && again.length == r.length);
            CHECK(strcmp(again.rcpt, r.rcpt) == 0 || (strcmp(r.rcpt, "-") == 0 && !again.rcpt[0]));
            CHECK(strcmp(again.auth, r.auth) == 0 || (strcmp(r.auth, "-") == 0 && !again.auth[0]));
        }
        strbuf_free(&out);
        return 0;
    }
    xmail_wire_answer a;
    int rc = xmail_wire_parse_answer(text, len, &a, err, sizeof err);
    if (rc != 0) {
        CHECK(rc == 1 || err[0] != '\0');
        return 0;
    }
    if (a.error != NULL) {
        CHECK(strlen(a.error) <= XMAIL_WIRE_LINE_MAX);
        xmail_wire_answer_free(&a);
        return 0;
    }
    CHECK(a.action[0] != '\0' && a.edit_count <= XMAIL_WIRE_EDITS_MAX);
    strbuf out;
    strbuf_init(&out);
    xmail_wire_put_ok(&out, a.action, a.hold);
    for (size_t i = 0; i < a.edit_count; i++) {
        CHECK(a.edits[i].name != NULL);
        CHECK(a.edits[i].op == XMAIL_EDIT_DELETE || a.edits[i].value != NULL);
        CHECK(xmail_wire_put_edit(&out, a.edits[i].op, a.edits[i].index, a.edits[i].name,
                                  a.edits[i].value) == 0);
    }
    xmail_wire_put_end(&out);
    xmail_wire_answer b;
    CHECK(xmail_wire_parse_answer(out.data, out.len, &b, err, sizeof err) == 0);
    CHECK(strcmp(a.action, b.action) == 0 && a.hold == b.hold && a.edit_count == b.edit_count);
    for (size_t i = 0; i < a.edit_count; i++) {
        CHECK(strcmp(a.edits[i].name, b.edits[i].name) == 0);
        CHECK((a.edits[i].value == NULL) == (b.edits[i].value == NULL));
        CHECK(a.edits[i].value == NULL || strcmp(a.edits[i].value, b.edits[i].value) == 0);
    }
    xmail_wire_answer_free(&b);
    xmail_wire_answer_free(&a);
    strbuf_free(&out);
    return 0;
}
