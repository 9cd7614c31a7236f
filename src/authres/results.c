/* results.c: the results vector and the Authentication-Results value
 * built from it; see results.h. */
#include "results.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "util/strbuf.h"

void auth_results_init(auth_results *r)
{
    memset(r, 0, sizeof *r);
    arena_init(&r->memory);
}

void auth_results_free(auth_results *r)
{
    free(r->items);
    arena_free(&r->memory);
    memset(r, 0, sizeof *r);
}

static const char *keep(auth_results *r, const char *s)
{
    if (s == NULL)
        return NULL;
    char *copy = arena_strdup(&r->memory, s);
    if (copy == NULL)
        r->failed = true;
    return copy;
}

auth_result *auth_results_add(auth_results *r, const char *method, const char *result,
                              const char *reason, const char *domain, const char *detail)
{
    if (r->count == r->capacity) {
        size_t cap = r->capacity ? r->capacity * 2 : 4;
        auth_result *bigger = realloc(r->items, cap * sizeof *bigger);
        if (bigger == NULL) {
            r->failed = true;
            return NULL;
        }
        r->items = bigger;
        r->capacity = cap;
    }
    auth_result *e = &r->items[r->count];
    memset(e, 0, sizeof *e);
    e->method = keep(r, method);
    e->result = keep(r, result);
    e->reason = keep(r, reason);
    e->domain = keep(r, domain);
    e->detail = keep(r, detail);
    if (e->method == NULL || e->result == NULL)
        return NULL;
    r->count++;
    return e;
}

void auth_result_prop(auth_results *r, auth_result *e, const char *name, const char *value)
{
    if (e == NULL || value == NULL || *value == '\0' || e->prop_count >= AUTH_RESULT_MAX_PROPS)
        return;
    auth_prop *p = &e->props[e->prop_count];
    p->name = keep(r, name);
    p->value = keep(r, value);
    if (p->name != NULL && p->value != NULL)
        e->prop_count++;
}

void auth_result_comment(auth_results *r, auth_result *e, const char *comment)
{
    if (e != NULL)
        e->comment = keep(r, comment);
}

void auth_result_explanation(auth_results *r, auth_result *e, const char *text)
{
    if (e != NULL)
        e->explanation = keep(r, text);
}

const auth_result *auth_results_find(const auth_results *r, const char *method)
{
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->items[i].method, method) == 0)
            return &r->items[i];
    return NULL;
}

static void append_clause(strbuf *sb, const auth_result *e)
{
    strbuf_puts(sb, "; ");
    header_append_token(sb, e->method);
    strbuf_putc(sb, '=');
    header_append_token(sb, e->result);
    if (e->comment != NULL && *e->comment) {
        strbuf_puts(sb, " (");
        header_append_comment_text(sb, e->comment);
        strbuf_putc(sb, ')');
    }
    if (e->reason != NULL && *e->reason) {
        strbuf_puts(sb, " reason=");
        header_append_value(sb, e->reason);
    }
    for (size_t i = 0; i < e->prop_count; i++) {
        strbuf_putc(sb, ' ');
        strbuf_puts(sb, e->props[i].name);
        strbuf_putc(sb, '=');
        header_append_token(sb, e->props[i].value);
    }
}

char *auth_results_header(const auth_results *r, const char *authserv_id, size_t max_clauses)
{
    if (max_clauses == 0)
        max_clauses = AUTH_RESULTS_HEADER_CLAUSES;
    strbuf sb;
    strbuf_init(&sb);
    header_append_token(&sb, authserv_id && *authserv_id ? authserv_id : "localhost");
    size_t shown = 0;
    for (size_t i = 0; i < r->count; i++) {
        const auth_result *e = &r->items[i];
        /* How many of this method came before, and how many there are. */
        size_t before = 0, total = 0;
        for (size_t j = 0; j < r->count; j++) {
            if (strcmp(r->items[j].method, e->method) != 0)
                continue;
            before += j < i;
            total++;
        }
        if (before < max_clauses) {
            append_clause(&sb, e);
            shown++;
        } else if (before == max_clauses) {
            strbuf_puts(&sb, " (");
            strbuf_printf(&sb, "%zu more ", total - max_clauses);
            header_append_comment_text(&sb, e->method);
            strbuf_puts(&sb, " results not shown)");
        }
    }
    if (shown == 0)
        strbuf_puts(&sb, "; none");
    return strbuf_take(&sb);
}
