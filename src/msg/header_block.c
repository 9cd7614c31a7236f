/* header_block.c: cutting a header block into fields; see header_block.h.
 * A line scanner over (pointer, length): no NUL is trusted, no field is
 * copied, and the field count is bounded. */
#include "header_block.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"

/* Appends a field, growing the array; -1 when out of memory or too many. */
static int add_field(header_field **list, size_t *count, size_t *capacity, header_field f)
{
    if (*count == *capacity) {
        size_t cap = *capacity ? *capacity * 2 : 32;
        header_field *bigger = realloc(*list, cap * sizeof *bigger);
        if (bigger == NULL)
            return -1;
        *list = bigger;
        *capacity = cap;
    }
    (*list)[(*count)++] = f;
    return 0;
}

int header_block_split(const char *text, size_t len, header_field **out, size_t *body_offset,
                       char *err, size_t err_size)
{
    *out = NULL;
    header_field *list = NULL;
    size_t count = 0, capacity = 0, line_no = 0;
    const char *p = text, *end = text + len;
    header_field cur = {0};
    bool open = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        size_t line_len = (size_t)(line_end - p);
        if (line_len > 0 && p[line_len - 1] == '\r')
            line_len--;
        line_no++;
        if (line_len == 0) { /* the empty line that ends the header block */
            p = next;
            break;
        }
        if (p[0] == ' ' || p[0] == '\t') {
            if (!open) {
                free(list);
                return errbuf_set(err, err_size, "header line %zu: a continuation line with "
                                  "no field before it", line_no);
            }
            cur.value_len = (size_t)(p + line_len - cur.value);
            p = next;
            continue;
        }
        if (open && add_field(&list, &count, &capacity, cur) != 0) {
            free(list);
            return errbuf_set(err, err_size, "out of memory at header line %zu", line_no);
        }
        open = false;
        if (count >= HEADER_BLOCK_FIELDS_MAX) {
            free(list);
            return errbuf_set(err, err_size, "more than %d header fields", HEADER_BLOCK_FIELDS_MAX);
        }
        const char *colon = memchr(p, ':', line_len);
        if (colon == NULL) {
            free(list);
            return errbuf_set(err, err_size, "header line %zu has no colon: \"%.*s\"", line_no,
                              (int)(line_len < 40 ? line_len : 40), p);
        }
        size_t name_len = (size_t)(colon - p);
        while (name_len > 0 && (p[name_len - 1] == ' ' || p[name_len - 1] == '\t'))
            name_len--; /* RFC 5322 4.5: obsolete blanks before the colon */
        if (name_len == 0) {
            free(list);
            return errbuf_set(err, err_size, "header line %zu has an empty field name", line_no);
        }
        cur = (header_field){p, name_len, colon + 1, (size_t)(p + line_len - colon - 1)};
        open = true;
        p = next;
    }
    if (open && add_field(&list, &count, &capacity, cur) != 0) {
        free(list);
        return errbuf_set(err, err_size, "out of memory at header line %zu", line_no);
    }
    if (body_offset != NULL)
        *body_offset = (size_t)(p - text);
    *out = list;
    return (int)count;
}
