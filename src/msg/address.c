/* address.c: the first addr-spec of a From: header field; see address.h.
 * A small scanner: it skips comments and quoted strings, prefers an
 * angle-addr, and otherwise takes the first word that holds an '@'. */
#include "address.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Copies the addr-spec in [s, e), dropping comments and whitespace. */
static int copy_spec(const char *s, const char *e, char *out, size_t out_size)
{
    size_t n = 0;
    int depth = 0;
    bool in_quote = false;
    for (const char *p = s; p < e; p++) {
        char c = *p;
        if (!in_quote && c == '(') {
            depth++;
            continue;
        }
        if (!in_quote && c == ')' && depth > 0) {
            depth--;
            continue;
        }
        if (depth > 0)
            continue;
        if (c == '"')
            in_quote = !in_quote;
        if (!in_quote && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
            continue;
        if ((unsigned char)c < 0x20 || (unsigned char)c == 0x7f)
            return -1;
        if (n + 1 >= out_size)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    const char *at = strrchr(out, '@');
    return n > 2 && at != NULL && at != out && at[1] != '\0' ? 0 : -1;
}

/* Whether [s, e) holds an '@' outside quoted strings and comments. */
static bool has_bare_at(const char *s, const char *e)
{
    int depth = 0;
    bool in_quote = false;
    for (const char *p = s; p < e; p++) {
        if (in_quote || depth > 0) {
            if (*p == '\\' && p + 1 < e)
                p++;
            else if (in_quote && *p == '"')
                in_quote = false;
            else if (!in_quote && *p == '(')
                depth++;
            else if (!in_quote && *p == ')')
                depth--;
        } else if (*p == '"') {
            in_quote = true;
        } else if (*p == '(') {
            depth++;
        } else if (*p == '@') {
            return true;
        }
    }
    return false;
}

/* Without angle brackets: the one word (outside comments and quotes) that
 * holds an '@', so "John Doe john@x.example" gives john@x.example. An '@'
 * inside a comment or a quoted display name does not count, and two such
 * words ("a@x.example b@y.example") are not one mailbox. */
static int copy_word_with_at(const char *s, const char *e, char *out, size_t out_size)
{
    const char *word = s, *found = NULL, *found_end = NULL;
    int depth = 0;
    bool in_quote = false;
    for (const char *p = s; p <= e; p++) {
        bool boundary = p == e || (!in_quote && depth == 0 &&
                                   (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'));
        if (boundary) {
            if (p > word && has_bare_at(word, p)) {
                if (found != NULL)
                    return -1;
                found = word;
                found_end = p;
            }
            word = p + 1;
            continue;
        }
        if (*p == '"' && depth == 0)
            in_quote = !in_quote;
        else if (!in_quote && *p == '(')
            depth++;
        else if (!in_quote && *p == ')' && depth > 0)
            depth--;
    }
    return found != NULL ? copy_spec(found, found_end, out, out_size) : -1;
}

int header_from_address(const char *value, size_t len, char *out, size_t out_size)
{
    const char *end = value + len;
    const char *word_start = value;
    int depth = 0;
    bool in_quote = false;
    for (const char *p = value; p < end; p++) {
        char c = *p;
        if (in_quote) {
            if (c == '\\' && p + 1 < end)
                p++;
            else if (c == '"')
                in_quote = false;
            continue;
        }
        if (depth > 0) {
            if (c == '\\' && p + 1 < end)
                p++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            continue;
        }
        if (c == '"') {
            in_quote = true;
        } else if (c == '(') {
            depth++;
        } else if (c == '<') {
            const char *close = memchr(p + 1, '>', (size_t)(end - p - 1));
            if (close == NULL)
                return -1;
            /* An obsolete route "@a,@b:" before the addr-spec is dropped. */
            const char *spec = p + 1;
            const char *colon = memchr(spec, ':', (size_t)(close - spec));
            if (colon != NULL && *spec == '@')
                spec = colon + 1;
            return copy_spec(spec, close, out, out_size);
        } else if (c == ':') {
            word_start = p + 1; /* "group: a@b, c@d;" */
        } else if (c == ',' || c == ';') {
            /* The end of a mailbox without angle brackets. */
            if (copy_word_with_at(word_start, p, out, out_size) == 0)
                return 0;
            word_start = p + 1;
        }
    }
    return copy_word_with_at(word_start, end, out, out_size);
}

const char *address_domain(const char *address)
{
    const char *at = address ? strrchr(address, '@') : NULL;
    return at ? at + 1 : NULL;
}

void address_list_free(char **list)
{
    if (list == NULL)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

static bool blank(const char *s, const char *e)
{
    int depth = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')' && depth > 0)
            depth--;
        else if (depth == 0 && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return false;
    }
    return true;
}

/* One mailbox in [s, e): checked, and its addr-spec appended to list while
 * the list holds fewer than keep. */
static int add_mailbox(const char *s, const char *e, char ***list, size_t *count, size_t keep)
{
    size_t len = (size_t)(e - s);
    char *spec = malloc(len + 1);
    if (spec == NULL || header_from_address(s, len, spec, len + 1) != 0) {
        free(spec);
        return -1;
    }
    if (*count >= keep) {
        free(spec); /* a mailbox all the same: the rest must parse too */
        return 0;
    }
    char **bigger = realloc(*list, (*count + 2) * sizeof *bigger);
    if (bigger == NULL) {
        free(spec);
        return -1;
    }
    *list = bigger;
    bigger[(*count)++] = spec;
    bigger[*count] = NULL;
    return 0;
}

int header_mailboxes(const char *value, size_t len, size_t max, char ***out)
{
    *out = NULL;
    char **list = NULL;
    size_t count = 0, keep = max < INT_MAX ? max + 1 : INT_MAX;
    const char *end = value + len, *start = value;
    int depth = 0;
    bool in_quote = false, in_angle = false;
    for (const char *p = value; p <= end; p++) {
        bool at_end = p == end;
        char c = at_end ? ',' : *p;
        if (!at_end && in_quote) {
            if (c == '\\' && p + 1 < end)
                p++;
            else if (c == '"')
                in_quote = false;
            continue;
        }
        if (!at_end && depth > 0) {
            if (c == '\\' && p + 1 < end)
                p++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            continue;
        }
        if (!at_end && in_angle) {
            if (c == '>')
                in_angle = false;
            continue;
        }
        if (c == '"') {
            in_quote = true;
        } else if (c == '(') {
            depth++;
        } else if (c == '<') {
            in_angle = true;
        } else if (c == ':') {
            /* A group's display name: its members follow. */
            if (!blank(start, p) && memchr(start, '@', (size_t)(p - start)) == NULL)
                start = p + 1;
        } else if (c == ',' || c == ';') {
            if (!blank(start, p) && add_mailbox(start, p, &list, &count, keep) != 0) {
                address_list_free(list);
                return -1;
            }
            start = p + 1;
        }
    }
    if (in_quote || in_angle || depth > 0) {
        address_list_free(list);
        return -1;
    }
    *out = list;
    return (int)count;
}
