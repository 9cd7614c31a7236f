/* session.c: sessions, CSRF tokens, login throttling and rate limits
 * (session.h). The tables are small arrays searched in full: a console
 * has a handful of users, and a full scan keeps the id comparison free of
 * early exits. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int web_random_token(char out[WEB_TOKEN_LEN + 1])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33];
    size_t have = 0;
    while (have < 32) {
        ssize_t n = getrandom(raw + have, 32 - have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    raw[32] = 0;
    size_t o = 0;
    for (size_t i = 0; i < 33 && o < WEB_TOKEN_LEN; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)(i + 1 < 33 ? raw[i + 1] : 0) << 8 |
                     (i + 2 < 33 ? raw[i + 2] : 0);
        for (int k = 3; k >= 0 && o < WEB_TOKEN_LEN; k--)
            out[o++] = b64[(v >> (6 * k)) & 63];
    }
    out[WEB_TOKEN_LEN] = '\0';
    return 0;
}

/* Constant time over the token's length; a wrong length is a mismatch. */
static bool token_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL || strlen(b) != WEB_TOKEN_LEN || strlen(a) != WEB_TOKEN_LEN)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < WEB_TOKEN_LEN; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int web_sessions_init(web_sessions *t, size_t cap, int64_t idle_seconds)
{
    t->slots = calloc(cap, sizeof *t->slots);
    t->cap = t->slots ? cap : 0;
    t->idle_seconds = idle_seconds;
    return t->slots ? 0 : -1;
}

void web_sessions_free(web_sessions *t)
{
    if (t->slots != NULL)
        memset(t->slots, 0, t->cap * sizeof *t->slots); /* no ids left in freed memory */
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
}

const web_session *web_session_create(web_sessions *t, const char *user, web_role role,
                                      int64_t now)
{
    if (t->cap == 0 || strlen(user) >= WEB_USER_MAX)
        return NULL;
    size_t pick = 0;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].used || t->slots[i].last_used + t->idle_seconds <= now) {
            pick = i;
            break;
        }
        if (t->slots[i].last_used < t->slots[pick].last_used)
            pick = i;
    }
    web_session *s = &t->slots[pick];
    memset(s, 0, sizeof *s);
    if (web_random_token(s->id) != 0 || web_random_token(s->csrf) != 0) {
        memset(s, 0, sizeof *s);
        return NULL;
    }
    snprintf(s->user, sizeof s->user, "%s", user);
    s->role = role;
    s->created = s->last_used = now;
    s->used = true;
    return s;
}

const web_session *web_session_find(web_sessions *t, const char *id, int64_t now)
{
    web_session *found = NULL;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].used && token_equal(t->slots[i].id, id))
            found = &t->slots[i];
    }
    if (found == NULL)
        return NULL;
    if (found->last_used + t->idle_seconds <= now) {
        memset(found, 0, sizeof *found);
        return NULL;
    }
    found->last_used = now;
    return found;
}

void web_session_end(web_sessions *t, const char *id)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used && token_equal(t->slots[i].id, id))
            memset(&t->slots[i], 0, sizeof t->slots[i]);
}

bool web_csrf_valid(const web_session *s, const char *token)
{
    return s != NULL && token_equal(s->csrf, token);
}

/* ------------------------------------------------------------ throttle */

static const web_throttle_entry *throttle_find(const web_throttle *t, const char *key)
{
    for (size_t i = 0; i < WEB_THROTTLE_SLOTS; i++)
        if (t->slots[i].failures > 0 && strcmp(t->slots[i].key, key) == 0)
            return &t->slots[i];
    return NULL;
}

int64_t web_throttle_wait(const web_throttle *t, const char *key, int64_t now)
{
    const web_throttle_entry *e = throttle_find(t, key);
    return e != NULL && e->until > now ? e->until - now : 0;
}

void web_throttle_fail(web_throttle *t, const char *key, int64_t now)
{
    web_throttle_entry *e = (web_throttle_entry *)throttle_find(t, key);
    if (e == NULL) {
        /* A free slot, else the one idle longest. */
        e = &t->slots[0];
        for (size_t i = 0; i < WEB_THROTTLE_SLOTS; i++) {
            if (t->slots[i].failures == 0) {
                e = &t->slots[i];
                break;
            }
            if (t->slots[i].last < e->last)
                e = &t->slots[i];
        }
        memset(e, 0, sizeof *e);
        snprintf(e->key, sizeof e->key, "%s", key);
    }
    /* A quiet day forgives. */
    if (e->last + 86400 < now)
        e->failures = 0;
    e->failures++;
    e->last = now;
    if (e->failures > WEB_THROTTLE_FREE) {
        unsigned shift = e->failures - WEB_THROTTLE_FREE - 1;
        int64_t wait = shift >= 10 ? WEB_THROTTLE_MAX_WAIT : (int64_t)1 << shift;
        e->until = now + (wait > WEB_THROTTLE_MAX_WAIT ? WEB_THROTTLE_MAX_WAIT : wait);
    }
}

void web_throttle_clear(web_throttle *t, const char *key)
{
    web_throttle_entry *e = (web_throttle_entry *)throttle_find(t, key);
    if (e != NULL)
        memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------ rate */

void web_rate_init(web_rate *r, double burst, double per_second)
{
    memset(r, 0, sizeof *r);
    r->burst = burst;
    r->per_second = per_second;
}

bool web_rate_allow(web_rate *r, const char *key, double now)
{
    web_rate_entry *e = NULL, *oldest = &r->slots[0];
    for (size_t i = 0; i < WEB_RATE_SLOTS; i++) {
        web_rate_entry *x = &r->slots[i];
        if (x->used && strcmp(x->key, key) == 0) {
            e = x;
            break;
        }
        if (!x->used || (oldest->used && x->last < oldest->last))
            oldest = x;
    }
    if (e == NULL) {
        e = oldest;
        memset(e, 0, sizeof *e);
        e->used = true;
        snprintf(e->key, sizeof e->key, "%s", key);
        e->tokens = r->burst;
        e->last = now;
    }
    double refill = (now - e->last) * r->per_second;
    if (refill > 0)
        e->tokens = e->tokens + refill > r->burst ? r->burst : e->tokens + refill;
    e->last = now;
    if (e->tokens < 1)
        return false;
    e->tokens -= 1;
    return true;
}
