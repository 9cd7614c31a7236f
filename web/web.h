/* web.h: domauth-web's application, apart from HTTP. server.c turns each
 * libmicrohttpd request into a web_request and sends the web_response
 * back; everything between (sessions, CSRF, roles, pages) is web_handle,
 * which the tests call directly. One thread calls web_handle at a time
 * (libmicrohttpd's single polling thread), so the tables need no lock. */
#ifndef DA_WEB_WEB_H
#define DA_WEB_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "session.h"
#include "store/event_store.h"
#include "users.h"
#include "util/strbuf.h"

enum { WEB_BODY_MAX = 64 * 1024, WEB_PAGE_ROWS = 50, WEB_SESSIONS_MAX = 256 };

typedef struct web_request {
    const char *method;      /* "GET", "POST", ... */
    const char *path;        /* without the query */
    const char *query;       /* raw, without '?'; "" when none */
    const char *body;        /* raw form body (POST), may be NULL */
    size_t body_len;
    const char *cookie;      /* the Cookie header, or NULL */
    const char *content_type;
    const char *client_ip;
    int64_t now;
    double now_precise;      /* for the rate limit */
} web_request;

typedef struct web_response {
    int status;
    const char *content_type; /* a static string */
    strbuf body;
    char set_cookie[2][160];
    char location[1024];
} web_response;

typedef struct web_app {
    const domauth_config *cfg; /* not owned */
    bool tls;
    web_users users;
    web_sessions sessions;
    web_throttle throttle;
    web_rate rate;
    event_store *store;        /* opened at first use, read only */
    /* The status page's charts, recomputed at most once a minute. */
    strbuf charts;
    int64_t charts_time;
} web_app;

int web_app_init(web_app *app, const domauth_config *cfg, bool tls, char *why, size_t why_size);
void web_app_free(web_app *app);
/* Re-reads the users file (SIGHUP); the old list stays when it fails. */
int web_app_reload_users(web_app *app, char *why, size_t why_size);

void web_response_init(web_response *r);
void web_response_free(web_response *r);

/* Answers one request. */
void web_handle(web_app *app, const web_request *req, web_response *resp);

#endif
