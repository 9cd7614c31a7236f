/* namelist.c: see namelist.h. Lists are short (a site's partners and
 * relays), so a match is a linear scan. */
#include "namelist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { NAME_MAX_LEN = 253 };

void name_list_init(name_list *list)
{
    list->patterns = NULL;
    list->count = 0;
}

void name_list_free(name_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->patterns[i]);
    free(list->patterns);
    name_list_init(list);
}

int name_list_copy(name_list *dst, const name_list *src)
{
    name_list_init(dst);
    if (src->count == 0)
        return 0;
    dst->patterns = calloc(src->count, sizeof *dst->patterns);
    if (dst->patterns == NULL)
        return -1;
    for (size_t i = 0; i < src->count; i++) {
        if ((dst->patterns[i] = strdup(src->patterns[i])) == NULL) {
            dst->count = i;
            name_list_free(dst);
            return -1;
        }
    }
    dst->count = src->count;
    return 0;
}

/* A name of letters, digits, '-' and '_' labels (1..63 bytes each). */
static bool name_valid(const char *name, size_t len)
{
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

static bool is_separator(char c)
{
    return c == ' ' || c == '\t' || c == ',';
}

int name_list_add(name_list *list, const char *text, char *err, size_t err_size)
{
    size_t old_count = list->count;
    const char *p = text;
    for (;;) {
        while (is_separator(*p))
            p++;
        if (*p == '\0')
            return 0;
        const char *start = p;
        while (*p != '\0' && !is_separator(*p))
            p++;
        size_t len = (size_t)(p - start);
        size_t name_len = len;
        if (name_len > 1 && start[name_len - 1] == '.')
            name_len--;
        bool wildcard = name_len > 2 && start[0] == '*' && start[1] == '.';
        if (!name_valid(start + (wildcard ? 2 : 0), name_len - (wildcard ? 2 : 0))) {
            snprintf(err, err_size,
                     "'%.*s' is not a name or *.name (letters, digits, '-', '_' and dots)",
                     (int)(len > 80 ? 80 : len), start);
            goto undo;
        }
        char **n = realloc(list->patterns, (list->count + 1) * sizeof *n);
        if (n == NULL)
            goto oom;
        list->patterns = n;
        char *pattern = malloc(name_len + 1);
        if (pattern == NULL)
            goto oom;
        for (size_t i = 0; i < name_len; i++) {
            char c = start[i];
            pattern[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        pattern[name_len] = '\0';
        list->patterns[list->count++] = pattern;
    }
oom:
    snprintf(err, err_size, "out of memory");
undo:
    while (list->count > old_count)
        free(list->patterns[--list->count]);
    return -1;
}

const char *name_list_match(const name_list *list, const char *name, size_t len)
{
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0)
        return NULL;
    for (size_t i = 0; i < list->count; i++) {
        const char *pat = list->patterns[i];
        size_t plen = strlen(pat);
        if (pat[0] == '*') {
            /* "*.example.com" (plen) against "a.example.com": the name ends
             * with ".example.com" and has something before it. */
            size_t suffix = plen - 1;
            if (len > suffix && strncasecmp(name + len - suffix, pat + 1, suffix) == 0)
                return pat;
        } else if (len == plen && strncasecmp(name, pat, len) == 0) {
            return pat;
        }
    }
    return NULL;
}
