/* app.c: the request path of domauth-web (web.h): rate limit, session,
 * CSRF, role, then the page. Refusals are decided here, before any page
 * code runs, so a page cannot forget one. */
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "escape.h"
#include "form.h"
#include "pages.h"

static const char session_cookie[] = "da_session";
static const char login_cookie[] = "da_login";

void web_response_init(web_response *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->content_type = "text/html; charset=utf-8";
    strbuf_init(&r->body);
}

void web_response_free(web_response *r)
{
    strbuf_free(&r->body);
}

int web_app_init(web_app *app, const domauth_config *cfg, bool tls, char *why, size_t why_size)
{
    memset(app, 0, sizeof *app);
    app->cfg = cfg;
    app->tls = tls;
    strbuf_init(&app->charts);
    /* Browsing is a few requests a second; a burst covers a page and its
     * stylesheet, several tabs, a bulk action. */
    web_rate_init(&app->rate, 60, 10);
    if (web_sessions_init(&app->sessions, WEB_SESSIONS_MAX,
                          (int64_t)cfg->web_session_minutes * 60) != 0) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (web_users_load(&app->users, cfg->web_users, why, why_size) != 0) {
        web_sessions_free(&app->sessions);
        return -1;
    }
    return 0;
}

void web_app_free(web_app *app)
{
    web_users_free(&app->users);
    web_sessions_free(&app->sessions);
    if (app->store != NULL)
        event_store_close(app->store);
    strbuf_free(&app->charts);
}

int web_app_reload_users(web_app *app, char *why, size_t why_size)
{
    web_users fresh;
    if (web_users_load(&fresh, app->cfg->web_users, why, why_size) != 0)
        return -1;
    web_users_free(&app->users);
    app->users = fresh;
    return 0;
}

static void set_cookie(web_response *r, const web_app *app, const char *name, const char *value,
                       bool clear)
{
    char *slot = r->set_cookie[0][0] ? r->set_cookie[1] : r->set_cookie[0];
    snprintf(slot, sizeof r->set_cookie[0], "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
             name, value, app->tls ? "; Secure" : "", clear ? "; Max-Age=0" : "");
}

static void redirect(web_response *r, const char *to)
{
    r->status = 303;
    snprintf(r->location, sizeof r->location, "%s", to);
    strbuf_puts(&r->body, "<!DOCTYPE html><title>See other</title><a href=\"");
    html_puts(&r->body, to);
    strbuf_puts(&r->body, "\">continue</a>");
}

/* The login form's token: the one the browser already holds (several
 * tabs, or a request that followed a redirect to /login, must not
 * invalidate the form on screen), else a new one. */
static void login_page(web_app *app, const web_request *req, web_response *r, const char *error,
                       const char *user)
{
    char token[WEB_TOKEN_LEN + 1];
    if (req->cookie != NULL &&
        web_cookie_get(req->cookie, strlen(req->cookie), login_cookie, token, sizeof token) == 1 &&
        strlen(token) == WEB_TOKEN_LEN) {
        /* kept */
    } else if (web_random_token(token) != 0) {
        page_message(r, 503, "No randomness", "The kernel gave no random bytes; try again.",
                     NULL);
        return;
    }
    set_cookie(r, app, login_cookie, token, false);
    page_begin(r, "Log in", NULL);
    if (error != NULL) {
        strbuf_puts(&r->body, "<p class=\"error\" id=\"login-error\">");
        html_puts(&r->body, error);
        strbuf_puts(&r->body, "</p>");
    }
    if (app->users.count == 0)
        strbuf_puts(&r->body, "<p class=\"error\">No users yet: add one with "
                              "<code>domauth-web passwd NAME --role admin</code>.</p>");
    strbuf_puts(&r->body, "<form method=\"post\" action=\"/login\" class=\"login\">"
                          "<input type=\"hidden\" name=\"login_token\" value=\"");
    html_puts(&r->body, token);
    strbuf_puts(&r->body, "\"><label>User <input name=\"user\" id=\"user\" autocomplete=\"username\" "
                          "required value=\"");
    html_puts(&r->body, user ? user : "");
    strbuf_puts(&r->body, "\"></label><label>Password <input type=\"password\" id=\"password\" "
                          "name=\"password\" autocomplete=\"current-password\" required></label>"
                          "<button type=\"submit\" id=\"login\">Log in</button></form>");
    page_end(r);
}

static void do_login(web_app *app, const web_request *req, const web_form *f, web_response *r)
{
    char cookie[WEB_TOKEN_LEN + 1];
    const char *token = web_form_get(f, "login_token");
    const char *user = web_form_get(f, "user");
    const char *password = web_form_get(f, "password");
    if (req->cookie == NULL ||
        web_cookie_get(req->cookie, strlen(req->cookie), login_cookie, cookie, sizeof cookie) != 1 ||
        token == NULL || strlen(token) != WEB_TOKEN_LEN || strcmp(token, cookie) != 0) {
        r->status = 403;
        login_page(app, req, r, "The login form expired; please try again.", NULL);
        return;
    }
    if (user == NULL || password == NULL || !web_user_name_valid(user)) {
        r->status = 400;
        login_page(app, req, r, "Give a user name and a password.", NULL);
        return;
    }
    char addr_key[80], user_key[80];
    snprintf(addr_key, sizeof addr_key, "ip:%s", req->client_ip);
    snprintf(user_key, sizeof user_key, "user:%s", user);
    int64_t wait = web_throttle_wait(&app->throttle, addr_key, req->now);
    int64_t wait_user = web_throttle_wait(&app->throttle, user_key, req->now);
    if (wait_user > wait)
        wait = wait_user;
    if (wait > 0) {
        char text[160];
        snprintf(text, sizeof text, "Too many failed logins: wait %lld seconds.", (long long)wait);
        r->status = 429;
        login_page(app, req, r, text, user);
        return;
    }
    web_role role;
    if (!web_users_check(&app->users, user, password, &role)) {
        web_throttle_fail(&app->throttle, addr_key, req->now);
        web_throttle_fail(&app->throttle, user_key, req->now);
        syslog(LOG_NOTICE, "login failed for %s from %s", user, req->client_ip);
        r->status = 401;
        login_page(app, req, r, "Wrong user name or password.", user);
        return;
    }
    web_throttle_clear(&app->throttle, addr_key);
    web_throttle_clear(&app->throttle, user_key);
    const web_session *s = web_session_create(&app->sessions, user, role, req->now);
    if (s == NULL) {
        page_message(r, 503, "No session", "No random bytes for a session id; try again.",
                     NULL);
        return;
    }
    syslog(LOG_INFO, "login %s (%s) from %s", user, role == WEB_ROLE_ADMIN ? "admin" : "read",
           req->client_ip);
    set_cookie(r, app, session_cookie, s->id, false);
    set_cookie(r, app, login_cookie, "", true);
    redirect(r, "/");
}

void web_handle(web_app *app, const web_request *req, web_response *r)
{
    if (!web_rate_allow(&app->rate, req->client_ip, req->now_precise)) {
        page_message(r, 429, "Slow down", "Too many requests from your address; wait a moment.",
                     NULL);
        return;
    }
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (!get && !post) {
        page_message(r, 405, "Method not allowed", "GET and POST only.", NULL);
        return;
    }
    if (strcmp(req->path, "/favicon.ico") == 0) {
        page_message(r, 404, "Not found", "No icon.", NULL);
        return;
    }
    if (strcmp(req->path, "/style.css") == 0) {
        r->content_type = "text/css; charset=utf-8";
        strbuf_puts(&r->body, web_style_css);
        return;
    }
    char why[200];
    web_form q, f = {0};
    if (web_form_parse(&q, req->query, strlen(req->query), why, sizeof why) != 0) {
        page_message(r, 400, "Bad request", why, NULL);
        web_form_free(&q);
        return;
    }
    if (post) {
        if (req->content_type == NULL ||
            strncmp(req->content_type, "application/x-www-form-urlencoded", 33) != 0) {
            page_message(r, 415, "Unsupported form", "Forms are sent URL-encoded.", NULL);
            web_form_free(&q);
            return;
        }
        if (web_form_parse(&f, req->body ? req->body : "", req->body_len, why, sizeof why) != 0) {
            page_message(r, 400, "Bad request", why, NULL);
            web_form_free(&q);
            web_form_free(&f);
            return;
        }
    }
    if (strcmp(req->path, "/login") == 0) {
        if (post)
            do_login(app, req, &f, r);
        else
            login_page(app, req, r, NULL, NULL);
        goto done;
    }
    char sid[WEB_TOKEN_LEN + 1];
    const web_session *s = NULL;
    if (req->cookie != NULL &&
        web_cookie_get(req->cookie, strlen(req->cookie), session_cookie, sid, sizeof sid) == 1)
        s = web_session_find(&app->sessions, sid, req->now);
    if (s == NULL) {
        if (post)
            page_message(r, 403, "Not logged in", "Your session has ended; log in again.", NULL);
        else
            redirect(r, "/login");
        goto done;
    }
    if (post && !web_csrf_valid(s, web_form_get(&f, "csrf"))) {
        syslog(LOG_WARNING, "%s %s from %s refused: no valid CSRF token", req->method, req->path,
               req->client_ip);
        page_message(r, 403, "Refused", "This form did not come from this console (CSRF token "
                     "missing or wrong).", s);
        goto done;
    }
    if (post && strcmp(req->path, "/logout") == 0) {
        web_session_end(&app->sessions, sid);
        set_cookie(r, app, session_cookie, "", true);
        redirect(r, "/login");
    } else if (get && strcmp(req->path, "/") == 0) {
        page_status(app, req, r, s);
    } else if (get && strcmp(req->path, "/history") == 0) {
        page_history(app, &q, r, s);
    } else if (get && strcmp(req->path, "/event") == 0) {
        page_event(app, &q, r, s);
    } else if (get && strcmp(req->path, "/quarantine") == 0) {
        page_quarantine(app, &q, r, s);
    } else if (get && strcmp(req->path, "/rollout") == 0) {
        page_rollout(app, &q, r, s);
    } else if (get && strcmp(req->path, "/records") == 0) {
        page_records(app, &q, r, s);
    } else if (get && strcmp(req->path, "/settings") == 0) {
        page_settings(app, r, s);
    } else if (get && strcmp(req->path, "/settings/edit") == 0) {
        if (s->role != WEB_ROLE_ADMIN)
            page_message(r, 403, "Refused", "Changing settings needs the admin role.", s);
        else
            page_settings_edit(app, &q, r, s);
    } else if (post && (strcmp(req->path, "/settings/change") == 0 ||
                        strcmp(req->path, "/settings/reset") == 0)) {
        if (s->role != WEB_ROLE_ADMIN) {
            syslog(LOG_WARNING, "%s (read only) refused a settings change", s->user);
            page_message(r, 403, "Refused", "Changing settings needs the admin role.", s);
        } else if (strcmp(req->path, "/settings/change") == 0) {
            page_settings_change(app, &f, r, s);
        } else {
            page_settings_reset(app, &f, r, s);
        }
    } else if (get && strcmp(req->path, "/quarantine/view") == 0) {
        page_quarantine_view(app, &q, r, s);
    } else if (post && strcmp(req->path, "/quarantine/action") == 0) {
        if (s->role != WEB_ROLE_ADMIN) {
            syslog(LOG_WARNING, "%s (read only) refused a quarantine action", s->user);
            page_message(r, 403, "Refused", "Releasing and deleting need the admin role.", s);
        } else {
            page_quarantine_action(app, &f, r, s);
        }
    } else {
        page_message(r, 404, "Not found", "There is no such page.", s);
    }
done:
    web_form_free(&q);
    web_form_free(&f);
}
