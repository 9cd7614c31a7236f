/* session.h: logins and what guards them. A session is a random id (the
 * cookie) with its user, role and CSRF token, held in a fixed table in
 * domauth-web's memory (a restart logs everyone out, which is fine for an
 * administrator's console). Throttling counts failed logins per client
 * address and per user name and makes each wait grow; the rate limit is
 * a token bucket per client address. All tables are bounded: when full,
 * the least recently used entry goes. Time is passed in, so tests set it. */
#ifndef DA_WEB_SESSION_H
#define DA_WEB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* base64url of 32 random bytes, without padding */
enum { WEB_TOKEN_LEN = 43, WEB_USER_MAX = 64 };

typedef enum web_role { WEB_ROLE_READ, WEB_ROLE_ADMIN } web_role;

typedef struct web_session {
    bool used;
    char id[WEB_TOKEN_LEN + 1];
    char csrf[WEB_TOKEN_LEN + 1];
    char user[WEB_USER_MAX];
    web_role role;
    int64_t created, last_used;
} web_session;

typedef struct web_sessions {
    web_session *slots;
    size_t cap;
    int64_t idle_seconds;
} web_sessions;

/* 32 bytes from getrandom(2) as base64url. Returns 0, -1 when the kernel
 * gives none (then there is no session: never a weak id). */
int web_random_token(char out[WEB_TOKEN_LEN + 1]);

int web_sessions_init(web_sessions *t, size_t cap, int64_t idle_seconds);
void web_sessions_free(web_sessions *t);
/* A new session for user (its own id and CSRF token); the least recently
 * used one makes room when the table is full. NULL when no random bytes. */
const web_session *web_session_create(web_sessions *t, const char *user, web_role role,
                                      int64_t now);
/* The live session with this id (compared in constant time), its idle
 * clock restarted; NULL when unknown or expired (an expired one is
 * removed). */
const web_session *web_session_find(web_sessions *t, const char *id, int64_t now);
void web_session_end(web_sessions *t, const char *id);

/* Whether token is the session's CSRF token (constant time; NULL: no). */
bool web_csrf_valid(const web_session *s, const char *token);

/* -------------------------------------------------------- login throttle */

enum { WEB_THROTTLE_FREE = 3, WEB_THROTTLE_MAX_WAIT = 900, WEB_THROTTLE_SLOTS = 1024 };

typedef struct web_throttle_entry {
    char key[80]; /* "ip:192.0.2.1" or "user:alice" */
    unsigned failures;
    int64_t until, last;
} web_throttle_entry;

typedef struct web_throttle {
    web_throttle_entry slots[WEB_THROTTLE_SLOTS];
} web_throttle;

/* Seconds key must still wait before its next attempt (0: now). */
int64_t web_throttle_wait(const web_throttle *t, const char *key, int64_t now);
/* A failed attempt: after WEB_THROTTLE_FREE failures each one doubles the
 * wait, 1 s, 2 s, 4 s ... up to WEB_THROTTLE_MAX_WAIT. */
void web_throttle_fail(web_throttle *t, const char *key, int64_t now);
void web_throttle_clear(web_throttle *t, const char *key);

/* -------------------------------------------------------- rate limit */

enum { WEB_RATE_SLOTS = 1024 };

typedef struct web_rate_entry {
    char key[64];
    double tokens, last;
    bool used;
} web_rate_entry;

typedef struct web_rate {
    double burst, per_second;
    web_rate_entry slots[WEB_RATE_SLOTS];
} web_rate;

void web_rate_init(web_rate *r, double burst, double per_second);
/* Whether key may make one more request at now (seconds, fractional). */
bool web_rate_allow(web_rate *r, const char *key, double now);

#endif
