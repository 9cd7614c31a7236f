/* safe_print.c: untrusted text (DNS answers, header fields, addresses) on
 * a terminal or in a log: every byte outside printable ASCII as \xHH, so
 * nothing a sender chose can move the cursor or forge a line. Shared by
 * domauth and domauth-xmail-filter. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

void cli_put_safe_n(FILE *out, const char *s, size_t len, bool lines)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        bool line_break =
            lines && (c == '\n' || c == '\t' || (c == '\r' && i + 1 < len && p[i + 1] == '\n'));
        if ((c >= 0x20 && c < 0x7f) || line_break)
            putc(c, out);
        else
            fprintf(out, "\\x%02x", c);
    }
}

void cli_put_safe(FILE *out, const char *s, bool lines)
{
    if (s != NULL)
        cli_put_safe_n(out, s, strlen(s), lines);
}
