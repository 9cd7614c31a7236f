/* fuzz_mime_text.c: libFuzzer target for the text part of a MIME message
 * (msg/mime.h), the quarantine view's decoder of untrusted mail. The first
 * byte picks the size cap, the rest is the message. Checks what the API
 * promises: the text never exceeds the cap, nothing is found without a
 * text type, a converted latin-1 text is valid UTF-8, every note kept is
 * a non-empty string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80 ? 1 : s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : s[i] >= 0xc2 ? 2 : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max = 1 + (size_t)data[0] * 8;
    mime_text t;
    if (mime_text_extract((const char *)data + 1, size - 1, max, &t) != 0)
        abort(); /* only out of memory fails, and these inputs are small */
    if (t.text.len > max || (!t.found && t.text.len != 0))
        abort();
    if (t.found && strcmp(t.type, "text/plain") != 0 && strcmp(t.type, "text/html") != 0)
        abort();
    if (t.found && t.converted && strcmp(t.charset, "iso-8859-1") == 0 &&
        !valid_utf8((const unsigned char *)t.text.data, t.text.len))
        abort();
    for (size_t i = 0; i < t.note_count && i < MIME_NOTES_MAX; i++)
        if (t.notes[i][0] == '\0' || strnlen(t.notes[i], sizeof t.notes[i]) == sizeof t.notes[i])
            abort();
    mime_text_free(&t);
    return 0;
}
