/* web.c: domauth-web's own logic without HTTP (web/): the escaping, the
 * query/form/cookie parsers, sessions, CSRF, login throttling, the rate
 * limit, the users file and its Argon2id hashes, the status JSON reader,
 * and whole requests through web_handle: login, a refused CSRF, a refused
 * read-only admin action, a hostile event shown escaped. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "form.h"
#include "json_get.h"
#include "session.h"
#include "store/event_store.h"
#include "store/quarantine_store.h"
#include "store/spool.h"
#include "tap.h"
#include "users.h"
#include "web.h"

static char *esc(const char *s, size_t len)
{
    strbuf b;
    strbuf_init(&b);
    html_escape(&b, s, len);
    strbuf_putc(&b, '\0');
    return strbuf_take(&b);
}

static void test_escape(void)
{
    const char hostile[] = "<script>alert(\"x\")</script>&'";
    char *out = esc(hostile, strlen(hostile));
    TAP_STR_EQ(out, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;",
               "markup, quotes and ampersands become entities");
    free(out);
    out = esc("a\x01" "b\x7f" "c\r\nd\re", 10);
    TAP_STR_EQ(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\nd\xef\xbf\xbd" "e",
               "controls become U+FFFD, CRLF a line end, a lone CR U+FFFD");
    free(out);
    out = esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    TAP_STR_EQ(out, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "valid UTF-8 stays");
    free(out);
    /* overlong '<', a surrogate, a lone continuation, a cut sequence, C1 */
    out = esc("\xc0\xbc|\xed\xa0\x80|\x80|\xe2\x82|\xc2\x85", 14);
    TAP_OK(strchr(out, '<') == NULL && strstr(out, "\xed\xa0") == NULL &&
               strstr(out, "\xc2\x85") == NULL,
           "overlong forms, surrogates, stray bytes and C1 controls do not pass (%s)", out);
    free(out);
    out = esc("a\0b", 3);
    TAP_STR_EQ(out, "a\xef\xbf\xbd" "b", "a NUL byte inside the length is replaced");
    free(out);
    strbuf b;
    strbuf_init(&b);
    url_escape(&b, "a b&c=d/\"<>\xc3\xa9~");
    strbuf_putc(&b, '\0');
    TAP_STR_EQ(b.data, "a%20b%26c%3Dd%2F%22%3C%3E%C3%A9~", "url_escape keeps unreserved only");
    strbuf_free(&b);
}

static void test_form(void)
{
    web_form f;
    char why[200];
    const char *q = "a=1&b=x+y%21&&c&a=2&e%3D=%3d";
    TAP_OK(web_form_parse(&f, q, strlen(q), why, sizeof why) == 0 && f.count == 5,
           "a query of five fields (empty pieces skipped)");
    TAP_STR_EQ(web_form_get(&f, "a"), "1", "the first a");
    TAP_STR_EQ(web_form_get(&f, "b"), "x y!", "'+' is a space, %%21 '!'");
    TAP_STR_EQ(web_form_get(&f, "c"), "", "a field without '=' is empty");
    TAP_STR_EQ(web_form_get(&f, "e="), "=", "escapes in names and values");
    size_t i = 0;
    const char *v1 = web_form_next(&f, "a", &i), *v2 = web_form_next(&f, "a", &i),
               *v3 = web_form_next(&f, "a", &i);
    TAP_OK(v1 && v2 && !v3 && !strcmp(v1, "1") && !strcmp(v2, "2"),
           "web_form_next walks repeated fields");
    TAP_OK(web_form_get(&f, "zz") == NULL, "an absent field is NULL");
    web_form_free(&f);
    const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "%g1=2"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = web_form_parse(&f, bad[k], strlen(bad[k]), why, sizeof why);
        TAP_OK(rc == -1 && f.count == 0 && why[0], "'%s' refused: %s", bad[k], why);
        web_form_free(&f);
    }
    TAP_OK(web_form_parse(&f, "a\0b=1", 5, why, sizeof why) == -1, "a raw NUL is refused");
    web_form_free(&f);
    char *big = malloc(WEB_FORM_MAX_BYTES + 2);
    memset(big, 'a', WEB_FORM_MAX_BYTES + 1);
    TAP_OK(web_form_parse(&f, big, WEB_FORM_MAX_BYTES + 1, why, sizeof why) == -1 &&
               strstr(why, "bytes"),
           "a form over %d bytes is refused (%s)", WEB_FORM_MAX_BYTES, why);
    web_form_free(&f);
    size_t n = 0;
    for (int k = 0; k <= WEB_FORM_MAX_FIELDS; k++)
        n += (size_t)snprintf(big + n, 16, "f=%d&", k);
    TAP_OK(web_form_parse(&f, big, n, why, sizeof why) == -1 && strstr(why, "fields"),
           "more than %d fields are refused (%s)", WEB_FORM_MAX_FIELDS, why);
    web_form_free(&f);
    free(big);
    TAP_OK(web_form_parse(&f, "", 0, why, sizeof why) == 0 && f.count == 0, "an empty query");
    web_form_free(&f);
}

static void test_cookie(void)
{
    char out[64];
    const char *h = "theme=dark; da_session=abc123;other=\"q\"; x";
    TAP_OK(web_cookie_get(h, strlen(h), "da_session", out, sizeof out) == 1 &&
               !strcmp(out, "abc123"),
           "a cookie among others");
    TAP_OK(web_cookie_get(h, strlen(h), "other", out, sizeof out) == 1 && !strcmp(out, "q"),
           "a quoted value loses its quotes");
    TAP_OK(web_cookie_get(h, strlen(h), "da_", out, sizeof out) == 0,
           "a prefix of a name is not the name");
    TAP_OK(web_cookie_get(h, strlen(h), "x", out, sizeof out) == 0, "a bare word is not a pair");
    TAP_OK(web_cookie_get("a=b\\c", 5, "a", out, sizeof out) == -1, "a backslash is refused");
    TAP_OK(web_cookie_get("a=0123456789", 12, "a", out, 5) == -1, "a value too long is refused");
    TAP_OK(web_cookie_get("a=1; a=2", 8, "a", out, sizeof out) == 1 && !strcmp(out, "1"),
           "the first of two");
}

static void test_sessions(void)
{
    web_sessions t;
    TAP_OK(web_sessions_init(&t, 3, 600) == 0, "a table of three sessions");
    const web_session *a = web_session_create(&t, "alice", WEB_ROLE_ADMIN, 1000);
    TAP_OK(a && strlen(a->id) == WEB_TOKEN_LEN && strlen(a->csrf) == WEB_TOKEN_LEN &&
               strcmp(a->id, a->csrf) != 0,
           "an id and a CSRF token of 43 characters, different");
    char id[WEB_TOKEN_LEN + 1], csrf[WEB_TOKEN_LEN + 1];
    strcpy(id, a->id);
    strcpy(csrf, a->csrf);
    bool url_safe = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                    WEB_TOKEN_LEN;
    TAP_OK(url_safe, "the id is base64url");
    TAP_OK(web_session_find(&t, id, 1500) != NULL, "found within the idle time");
    TAP_OK(web_session_find(&t, id, 2099) != NULL, "the idle clock restarted at use");
    char wrong[WEB_TOKEN_LEN + 1];
    strcpy(wrong, id);
    wrong[5] = wrong[5] == 'A' ? 'B' : 'A';
    TAP_OK(web_session_find(&t, wrong, 2100) == NULL, "one character off: no session");
    TAP_OK(web_session_find(&t, "", 2100) == NULL && web_session_find(&t, NULL, 2100) == NULL,
           "empty and missing ids: no session");
    const web_session *s = web_session_find(&t, id, 2100);
    TAP_OK(web_csrf_valid(s, csrf), "its CSRF token is valid");
    TAP_OK(!web_csrf_valid(s, NULL) && !web_csrf_valid(s, "") && !web_csrf_valid(s, id),
           "no token, an empty one, the session id: not valid");
    TAP_OK(web_session_find(&t, id, 2700) == NULL, "expired after 600 s unused");
    TAP_OK(web_session_find(&t, id, 2701) == NULL, "and gone");
    const web_session *b = web_session_create(&t, "bob", WEB_ROLE_READ, 3000);
    strcpy(id, b->id);
    web_session_create(&t, "c", WEB_ROLE_READ, 3001);
    web_session_create(&t, "d", WEB_ROLE_READ, 3002);
    web_session_create(&t, "e", WEB_ROLE_READ, 3003);
    TAP_OK(web_session_find(&t, id, 3004) == NULL, "a full table lets the least recent go");
    const web_session *e = web_session_create(&t, "f", WEB_ROLE_READ, 3005);
    strcpy(id, e->id);
    web_session_end(&t, id);
    TAP_OK(web_session_find(&t, id, 3006) == NULL, "logout ends the session");
    char long_user[100];
    memset(long_user, 'u', sizeof long_user - 1);
    long_user[99] = '\0';
    TAP_OK(web_session_create(&t, long_user, WEB_ROLE_READ, 3007) == NULL,
           "a user name too long for the session is refused, not cut");
    web_sessions_free(&t);
}

static void test_throttle_rate(void)
{
    static web_throttle t;
    TAP_OK(web_throttle_wait(&t, "ip:1", 100) == 0, "no failures: no wait");
    for (int i = 0; i < WEB_THROTTLE_FREE; i++)
        web_throttle_fail(&t, "ip:1", 100);
    TAP_OK(web_throttle_wait(&t, "ip:1", 100) == 0, "three failures are free");
    web_throttle_fail(&t, "ip:1", 100);
    TAP_OK(web_throttle_wait(&t, "ip:1", 100) == 1, "the fourth: wait 1 s");
    web_throttle_fail(&t, "ip:1", 101);
    web_throttle_fail(&t, "ip:1", 103);
    TAP_OK(web_throttle_wait(&t, "ip:1", 103) == 4, "then 2 s, 4 s");
    for (int i = 0; i < 30; i++)
        web_throttle_fail(&t, "ip:1", 200);
    TAP_OK(web_throttle_wait(&t, "ip:1", 200) == WEB_THROTTLE_MAX_WAIT,
           "the wait stops at %d s", WEB_THROTTLE_MAX_WAIT);
    TAP_OK(web_throttle_wait(&t, "ip:2", 200) == 0, "another key is not affected");
    web_throttle_clear(&t, "ip:1");
    TAP_OK(web_throttle_wait(&t, "ip:1", 200) == 0, "a success clears it");
    static web_rate r;
    web_rate_init(&r, 5, 1);
    int allowed = 0;
    for (int i = 0; i < 10; i++)
        allowed += web_rate_allow(&r, "192.0.2.1", 10.0);
    TAP_OK(allowed == 5, "a burst of 5 passes, the rest waits (%d)", allowed);
    TAP_OK(!web_rate_allow(&r, "192.0.2.1", 10.5) && web_rate_allow(&r, "192.0.2.1", 11.1),
           "one token a second comes back");
    TAP_OK(web_rate_allow(&r, "192.0.2.2", 11.1), "each address has its own bucket");
}

static void test_users(const char *dir)
{
    web_users u;
    char why[400];
    const char *bad[][2] = {
        {"alice:admin\n", "u:1: expected NAME:ROLE:HASH"},
        {"# c\n\nal ice:admin:$argon2id$x\n", "u:3: user name"},
        {"alice:root:$argon2id$x\n", "u:1: role 'root'"},
        {"alice:admin:$2y$10$bcrypt\n", "u:1: not an Argon2id hash"},
        {"a:read:$argon2id$x\na:admin:$argon2id$y\n", "u:2: user a is listed twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = web_users_parse(&u, "u", bad[i][0], strlen(bad[i][0]), why, sizeof why);
        TAP_OK(rc == -1 && strstr(why, bad[i][1]), "users file error names '%s' (%s)", bad[i][1],
               why);
    }
    char path[300];
    snprintf(path, sizeof path, "%s/users", dir);
    TAP_OK(web_users_load(&u, path, why, sizeof why) == 0 && u.count == 0,
           "a missing users file is an empty list");
    TAP_OK(web_users_set(path, "alice", WEB_ROLE_ADMIN, "correct horse", (gid_t)-1, why, sizeof why) == 0 &&
               web_users_set(path, "bob", WEB_ROLE_READ, "battery", (gid_t)-1, why, sizeof why) == 0,
           "passwd writes two users (%s)", why);
    TAP_OK(web_users_set(path, "alice", WEB_ROLE_ADMIN, "staple", (gid_t)-1, why, sizeof why) == 0,
           "and replaces one");
    chmod(path, 0604);
    TAP_OK(web_users_set(path, "bob", WEB_ROLE_READ, "battery", (gid_t)-1, why, sizeof why) == 0,
           "rewritten again");
    struct stat st;
    TAP_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0604,
           "the rewritten file keeps its mode (%o)", (unsigned)(st.st_mode & 0777));
    TAP_OK(web_users_set(path, "bad name", WEB_ROLE_ADMIN, "x", (gid_t)-1, why, sizeof why) == -1,
           "an invalid name is refused");
    TAP_OK(web_users_load(&u, path, why, sizeof why) == 0 && u.count == 2 &&
               strncmp(u.items[0].hash, "$argon2id$v=19$", 15) == 0 &&
               strcmp(u.items[0].hash, u.items[1].hash) != 0,
           "two users with Argon2id hashes read back");
    web_role role = WEB_ROLE_READ;
    TAP_OK(web_users_check(&u, "alice", "staple", &role) && role == WEB_ROLE_ADMIN,
           "the new password logs alice in as admin");
    TAP_OK(!web_users_check(&u, "alice", "correct horse", &role), "the old one does not");
    TAP_OK(web_users_check(&u, "bob", "battery", &role) && role == WEB_ROLE_READ,
           "bob is read only");
    TAP_OK(!web_users_check(&u, "carol", "battery", &role), "an unknown user does not log in");
    web_users_free(&u);
}

static void test_json(void)
{
    const char j[] = "{\"uptime_s\": 42, \"config\": \"/etc/d\\\"x.conf\", \"listeners\": "
                     "[{\"kind\": \"milter\", \"address\": \"unix:/m\"}, {\"kind\": \"control\"}],"
                     " \"dns_cache\": {\"hits\": 3, \"misses\": 1}, \"s\": \"\\u003c\"}";
    double v = 0;
    char s[64];
    TAP_OK(json_get_number(j, strlen(j), "uptime_s", &v) && v == 42, "a top-level number");
    TAP_OK(json_get_number(j, strlen(j), "dns_cache.misses", &v) && v == 1, "a nested number");
    TAP_OK(json_get_string(j, strlen(j), "config", s, sizeof s) && !strcmp(s, "/etc/d\"x.conf"),
           "a string with an escape");
    TAP_OK(json_get_string(j, strlen(j), "listeners.1.kind", s, sizeof s) &&
               !strcmp(s, "control"),
           "an array element's field");
    TAP_OK(!json_get_string(j, strlen(j), "listeners.2.kind", s, sizeof s), "past the array end");
    TAP_OK(json_get_string(j, strlen(j), "s", s, sizeof s) && !strcmp(s, "<"), "\\u003c");
    TAP_OK(!json_get_number(j, 20, "dns_cache.hits", &v), "cut text: absent, not a crash");
    TAP_OK(!json_get_string(j, strlen(j), "config", s, 4), "a string that does not fit: absent");
}

/* ------------------------------------------------------------ requests */

typedef struct client {
    char cookie[400];
} client;

/* Keeps the cookies a response sets, as a browser would. */
static void keep_cookies(client *c, const web_response *r)
{
    for (int i = 0; i < 2; i++) {
        const char *sc = r->set_cookie[i];
        if (!sc[0])
            continue;
        char name[40];
        size_t n = strcspn(sc, "=");
        snprintf(name, sizeof name, "%.*s", (int)n, sc);
        size_t vlen = strcspn(sc + n + 1, ";");
        /* Rebuild: drop an old value of this name, add the new one. */
        char fresh[400] = "";
        char *save = NULL, copy[400];
        snprintf(copy, sizeof copy, "%s", c->cookie);
        for (char *tok = strtok_r(copy, "; ", &save); tok; tok = strtok_r(NULL, "; ", &save)) {
            if (strncmp(tok, name, n) == 0 && tok[n] == '=')
                continue;
            size_t l = strlen(fresh);
            snprintf(fresh + l, sizeof fresh - l, "%s%s", l ? "; " : "", tok);
        }
        if (vlen > 0 && strstr(sc, "Max-Age=0") == NULL) {
            size_t l = strlen(fresh);
            snprintf(fresh + l, sizeof fresh - l, "%s%s=%.*s", l ? "; " : "", name, (int)vlen,
                     sc + n + 1);
        }
        snprintf(c->cookie, sizeof c->cookie, "%s", fresh);
    }
}

static int64_t clock_now = 1800000000;

static int request(web_app *app, client *c, const char *method, const char *path,
                   const char *query, const char *body, const char *ip, strbuf *page,
                   web_response *keep)
{
    web_request req = {.method = method, .path = path, .query = query ? query : "",
                       .body = body, .body_len = body ? strlen(body) : 0,
                       .cookie = c->cookie[0] ? c->cookie : NULL,
                       .content_type = "application/x-www-form-urlencoded",
                       .client_ip = ip ? ip : "192.0.2.50", .now = clock_now,
                       .now_precise = (double)clock_now};
    web_response r;
    web_response_init(&r);
    web_handle(app, &req, &r);
    keep_cookies(c, &r);
    int status = r.status;
    if (page != NULL) {
        strbuf_clear(page);
        strbuf_append(page, r.body.data ? r.body.data : "", r.body.len);
    }
    if (keep != NULL) {
        memcpy(keep->set_cookie, r.set_cookie, sizeof r.set_cookie);
        memcpy(keep->location, r.location, sizeof r.location);
    }
    web_response_free(&r);
    return status;
}

/* The value="..." after marker in page. */
static bool field_value(const strbuf *page, const char *marker, char *out, size_t size)
{
    const char *p = page->data ? strstr(page->data, marker) : NULL;
    if (p == NULL || (p = strstr(p, "value=\"")) == NULL)
        return false;
    p += 7;
    size_t n = strcspn(p, "\"");
    if (n >= size)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static int login(web_app *app, client *c, const char *user, const char *password,
                 const char *ip)
{
    strbuf page;
    strbuf_init(&page);
    request(app, c, "GET", "/login", NULL, NULL, ip, &page, NULL);
    char token[64] = "", body[300];
    field_value(&page, "name=\"login_token\"", token, sizeof token);
    snprintf(body, sizeof body, "login_token=%s&user=%s&password=%s", token, user, password);
    int status = request(app, c, "POST", "/login", NULL, body, ip, &page, NULL);
    strbuf_free(&page);
    return status;
}

/* The admin's Settings forms without a domauthd: every refusal leaves the
 * file byte for byte as it was and no new file beside it. (The whole
 * change, with domauthd's check and reload, is tests/web/console.py.) */
static bool file_is(const char *path, const char *want)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return f != NULL && strcmp(buf, want) == 0;
}

static bool no_temp_files(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -q '^\\.domauth\\.conf\\.'", dir);
    return system(cmd) != 0;
}

static void test_settings_changes(web_app *app, client *admin, client *reader, const char *conf,
                                  const char *dir)
{
    const char *text = "[daemon]\nmilter = unix:/m ; the milter\n[policy]\ncheck_helo = no\n"
                       "[domain example.org]\nmonitor = no\n";
    strbuf page;
    strbuf_init(&page);
    char csrf[64] = "", version[40] = "", body[1200];
    request(app, admin, "GET", "/settings", NULL, NULL, NULL, &page, NULL);
    field_value(&page, "name=\"csrf\"", csrf, sizeof csrf);
    field_value(&page, "name=\"version\"", version, sizeof version);
    TAP_OK(strstr(page.data, "id=\"edit-spf-fail_action\" href=\"/settings/edit?section=spf&amp;"
                             "key=fail_action\"") &&
               strstr(page.data, "id=\"edit-domain_example_org-spf_fail_action\"") &&
               strstr(page.data, "id=\"reset-example_org\"") && strlen(version) == 16,
           "Settings for an admin: change links, a reset button, the file's version");
    TAP_OK(strstr(page.data, "id=\"edit-daemon-sendmail\"") == NULL &&
               strstr(page.data, "id=\"edit-daemon-milter\"") == NULL,
           "no change link for programs and sockets");
    int status = request(app, admin, "GET", "/settings/edit", "section=spf&key=fail_action", NULL,
                         NULL, &page, NULL);
    TAP_OK(status == 200 && strstr(page.data, "id=\"f-value\" size=\"60\" value=\"reject\""),
           "the change form holds the value now");
    TAP_OK(request(app, reader, "GET", "/settings/edit", "section=spf&key=fail_action", NULL,
                   NULL, &page, NULL) == 403,
           "a reader cannot open the change form");
    char rcsrf[64] = "";
    request(app, reader, "GET", "/settings", NULL, NULL, NULL, &page, NULL);
    field_value(&page, "name=\"csrf\"", rcsrf, sizeof rcsrf);
    snprintf(body, sizeof body, "csrf=%s&version=%s&section=spf&key=fail_action&value=accept",
             rcsrf, version);
    TAP_OK(request(app, reader, "POST", "/settings/change", NULL, body, NULL, &page, NULL) == 403 &&
               strstr(page.data, "admin role"),
           "a reader's change, CSRF token and all, is refused");
    snprintf(body, sizeof body, "csrf=%s&domain=example.org&version=%s", rcsrf, version);
    TAP_OK(request(app, reader, "POST", "/settings/reset", NULL, body, NULL, &page, NULL) == 403,
           "a reader's reset is refused");
    snprintf(body, sizeof body, "version=%s&section=spf&key=fail_action&value=accept", version);
    TAP_OK(request(app, admin, "POST", "/settings/change", NULL, body, NULL, &page, NULL) == 403 &&
               strstr(page.data, "CSRF"),
           "a change without the CSRF token is refused");
    snprintf(body, sizeof body,
             "csrf=%s&version=%s&section=spf&key=fail_action&value=reject%%0A%%5Bdaemon%%5D",
             csrf, version);
    status = request(app, admin, "POST", "/settings/change", NULL, body, NULL, &page, NULL);
    TAP_OK(status == 400 && strstr(page.data, "fail_action: the value has a line break"),
           "a value with a line break is refused, naming the key");
    snprintf(body, sizeof body, "csrf=%s&version=%s&section=daemon&key=sendmail&value=/bin/sh",
             csrf, version);
    status = request(app, admin, "POST", "/settings/change", NULL, body, NULL, &page, NULL);
    TAP_OK(status == 400 && strstr(page.data, "cannot be changed from the console"),
           "[daemon] sendmail cannot be changed from the console");
    snprintf(body, sizeof body,
             "csrf=%s&version=0123456789abcdef&section=spf&key=fail_action&value=accept", csrf);
    status = request(app, admin, "POST", "/settings/change", NULL, body, NULL, &page, NULL);
    TAP_OK(status == 409 && strstr(page.data, "changed since that page was shown"),
           "a change from a stale page is refused (409)");
    snprintf(body, sizeof body,
             "csrf=%s&version=%s&section=spf&key=fail_action&value=%%3Cscript%%3Ex", csrf,
             version);
    status = request(app, admin, "POST", "/settings/change", NULL, body, NULL, &page, NULL);
    TAP_OK(status == 503 && strstr(page.data, "no-daemon.sock") &&
               strstr(page.data, "<script>") == NULL && strstr(page.data, "&lt;script&gt;x"),
           "without domauthd nothing is written (it must check), the value shown escaped");
    snprintf(body, sizeof body, "csrf=%s&domain=example.org&version=%s", csrf, version);
    status = request(app, admin, "POST", "/settings/reset", NULL, body, NULL, &page, NULL);
    TAP_OK(status == 503 && strstr(page.data, "no-daemon.sock"),
           "a reset without domauthd is refused too");
    TAP_OK(file_is(conf, text) && no_temp_files(dir),
           "after every refusal the file is byte for byte as it was, no new file beside it");
    strbuf_free(&page);
}

/* A quarantined MIME message in the view: its text part decoded (base64,
 * latin-1), the HTML part never rendered, the body as stored on request,
 * a long text cut with a note. */
static bool quarantine_one(const domauth_config *cfg, const char *message, char *id)
{
    char why[600];
    quarantine_options o = {.dir = cfg->quarantine_dir, .database = cfg->database, .days = 30,
                            .write = true};
    quarantine *q = quarantine_open(&o, why, sizeof why);
    spool_file *f = q ? quarantine_begin(q, (int64_t)time(NULL), why, sizeof why) : NULL;
    if (f == NULL) {
        printf("# quarantine: %s\n", why);
        if (q)
            quarantine_close(q);
        return false;
    }
    spool_file_write(f, message, strlen(message));
    const char *rcpt = "bob@example.org", *result = "spf=fail";
    spool_facts facts = {.time = (int64_t)time(NULL), .mail_from = "a@example.com",
                         .rcpts = &rcpt, .rcpt_count = 1, .client_ip = "192.0.2.9",
                         .helo = "h", .domain = "example.com", .results = &result,
                         .result_count = 1, .verdict = "quarantine", .told = "accept",
                         .reasons = "test"};
    int rc = quarantine_commit(q, f, &facts, id, SPOOL_ID_MAX + 1, why, sizeof why);
    if (rc != 0)
        printf("# commit: %s\n", why);
    quarantine_close(q);
    return rc == 0;
}

static void test_quarantine_text(web_app *app, client *admin, const domauth_config *cfg)
{
    const char *m =
        "From: <a@example.com>\nSubject: =?utf-8?q?x?=\nMIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=\"b1\"\n\n"
        "--b1\nContent-Type: text/html\n\n<p onclick=x>html <script>alert(9)</script></p>\n"
        "--b1\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: base64\n\n"
        "Y2Fm6SA8Yj5ib2xkPC9iPg==\n--b1--\n";
    char id[SPOOL_ID_MAX + 1] = "", query[300];
    TAP_OK(quarantine_one(cfg, m, id), "a MIME message quarantined (%s)", id);
    snprintf(query, sizeof query, "id=%s", id);
    strbuf page;
    strbuf_init(&page);
    int status = request(app, admin, "GET", "/quarantine/view", query, NULL, NULL, &page, NULL);
    TAP_OK(status == 200 && strstr(page.data, "id=\"body\">caf\xc3\xa9 &lt;b&gt;bold&lt;/b&gt;</pre>"),
           "the view shows the text/plain part decoded (base64, latin-1 to UTF-8), escaped");
    TAP_OK(strstr(page.data, "text/plain, charset iso-8859-1, base64, part 3") &&
               strstr(page.data, "alert(9)") == NULL,
           "it says which part and how it was decoded; the HTML part is not shown");
    snprintf(query, sizeof query, "raw=1&id=%s", id);
    request(app, admin, "GET", "/quarantine/view", query, NULL, NULL, &page, NULL);
    TAP_OK(strstr(page.data, "Y2Fm6SA8Yj5ib2xkPC9iPg==") &&
               strstr(page.data, "&lt;script&gt;alert(9)") && strstr(page.data, "<script>") == NULL,
           "raw=1: the body as stored, as text");

    const char *h = "Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/html"
                    "\n\n<img src=x onerror=alert(8)>only html\n--z--\n";
    TAP_OK(quarantine_one(cfg, h, id), "an HTML-only message quarantined");
    snprintf(query, sizeof query, "id=%s", id);
    request(app, admin, "GET", "/quarantine/view", query, NULL, NULL, &page, NULL);
    TAP_OK(strstr(page.data, "&lt;img src=x onerror=alert(8)&gt;only html") &&
               strstr(page.data, "<img") == NULL && strstr(page.data, "never rendered"),
           "no text/plain: the HTML as escaped text, said so");

    strbuf big;
    strbuf_init(&big);
    strbuf_puts(&big, "Subject: big\n\n");
    for (int i = 0; i < 300 * 1024 / 64; i++)
        strbuf_puts(&big, "0123456789012345678901234567890123456789012345678901234567890\n");
    TAP_OK(quarantine_one(cfg, big.data, id), "a 300 KiB message quarantined");
    snprintf(query, sizeof query, "id=%s", id);
    request(app, admin, "GET", "/quarantine/view", query, NULL, NULL, &page, NULL);
    TAP_OK(strstr(page.data, "id=\"truncated\">Truncated at 262144 bytes") != NULL,
           "a long text is cut at 256 KiB, with a visible note");
    strbuf_free(&big);

    TAP_OK(quarantine_one(cfg, "Content-Type: multipart/mixed\n\n--q\n\nno boundary\n", id),
           "a multipart without a boundary quarantined");
    snprintf(query, sizeof query, "id=%s", id);
    request(app, admin, "GET", "/quarantine/view", query, NULL, NULL, &page, NULL);
    TAP_OK(strstr(page.data, "id=\"text-notes\"><li>a multipart/mixed without a boundary"),
           "what could not be read is noted on the page");

    /* The Quarantine page: the newest purge event in the store. */
    event_record purge = {.time = (int64_t)time(NULL) - 5, .listener = "quarantine",
                          .client_ip = "", .helo = "", .mail_from = "", .action = "purge",
                          .reasons = "purged 3 messages older than 30 days by <b>x</b>",
                          .node = "mx2"};
    const event_record *one[1] = {&purge};
    char why[600];
    event_store_options so = {.access = EVENT_STORE_WRITE};
    event_store *st = event_store_open(cfg->database, &so, why, sizeof why);
    TAP_OK(st && event_store_write(st, one, 1, why, sizeof why) == 0, "a purge event stored");
    if (st)
        event_store_close(st);
    request(app, admin, "GET", "/quarantine", NULL, NULL, NULL, &page, NULL);
    const char *p = strstr(page.data, "id=\"purge\"");
    TAP_OK(p && strstr(p, "no-daemon.sock") &&
               strstr(p, "The last purge recorded: ") &&
               strstr(p, "UTC, purged 3 messages older than 30 days by &lt;b&gt;x&lt;/b&gt; "
                         "(node mx2)."),
           "Quarantine: domauthd unreachable said, the newest purge event shown, escaped");
    strbuf_free(&page);
}

static void test_requests(const char *dir)
{
    char path[300], why[600];
    snprintf(path, sizeof path, "%s/events.db", dir);
    /* A hostile message: every field that reaches a page carries a payload. */
    const char *x = "<script>alert(1)</script>";
    const char *xa = "\"><img src=x onerror=alert(2)>";
    event_result res = {"spf", "<b>fail</b>", xa, x, x, xa};
    event_rcpt rc = {"<svg/onload=alert(3)>@x.test", "reject", x};
    event_record ev = {.time = (int64_t)time(NULL) - 30, .listener = "milter", .queue_id = x,
                       .client_ip = "192.0.2.66", .client_name = xa, .helo = x,
                       .mail_from = "\"<script>\"@evil.test", .rcpt = rc.address,
                       .header_from = xa, .domain = x, .result = "fail", .problem = x,
                       .action = "reject", .held_action = x, .reply = x, .reasons = x,
                       .results = &res, .result_count = 1, .rcpts = &rc, .rcpt_count = 1};
    const event_record *one[1] = {&ev};
    event_store_options so = {.access = EVENT_STORE_WRITE};
    event_store *st = event_store_open(path, &so, why, sizeof why);
    TAP_OK(st && event_store_write(st, one, 1, why, sizeof why) == 0, "a hostile event stored");
    if (st)
        event_store_close(st);

    domauth_config cfg;
    config_init(&cfg);
    free(cfg.database);
    cfg.database = strdup(path);
    free(cfg.control_listen);
    char ctl[400];
    snprintf(ctl, sizeof ctl, "unix:%s/no-daemon.sock", dir);
    cfg.control_listen = strdup(ctl);
    free(cfg.web_users);
    snprintf(path, sizeof path, "%s/users", dir);
    cfg.web_users = strdup(path);
    free(cfg.quarantine_dir);
    snprintf(path, sizeof path, "%s/q", dir);
    cfg.quarantine_dir = strdup(path);
    web_app app;
    TAP_OK(web_app_init(&app, &cfg, false, why, sizeof why) == 0, "the app starts (%s)", why);

    client anon = {0}, admin = {0}, reader = {0};
    strbuf page;
    strbuf_init(&page);
    web_response keep;
    TAP_OK(request(&app, &anon, "GET", "/history", NULL, NULL, NULL, &page, &keep) == 303 &&
               strcmp(keep.location, "/login") == 0,
           "without a session: to /login");
    TAP_OK(request(&app, &anon, "POST", "/quarantine/action", NULL, "action=delete&id=x", NULL,
                   &page, NULL) == 403,
           "a POST without a session is refused");
    TAP_OK(request(&app, &anon, "POST", "/login", NULL, "user=alice&password=staple", NULL,
                   &page, NULL) == 403,
           "a login without the form's token is refused");
    TAP_OK(login(&app, &admin, "alice", "staple", NULL) == 303 && strstr(admin.cookie, "da_session="),
           "alice logs in: a session cookie");
    request(&app, &admin, "GET", "/login", NULL, NULL, NULL, &page, &keep);
    TAP_OK(strstr(keep.set_cookie[0], "HttpOnly") && strstr(keep.set_cookie[0], "SameSite=Strict") &&
               !strstr(keep.set_cookie[0], "Secure"),
           "cookies are HttpOnly, SameSite=Strict (Secure with TLS only): %s", keep.set_cookie[0]);
    login(&app, &admin, "alice", "staple", NULL);

    int status = request(&app, &admin, "GET", "/history", "sender=evil", NULL, NULL, &page, NULL);
    TAP_OK(status == 200 && strstr(page.data, "evil.test") != NULL, "History finds the event");
    TAP_OK(strstr(page.data, "<script>") == NULL && strstr(page.data, "<img") == NULL &&
               strstr(page.data, "<svg/") == NULL && strstr(page.data, "<b>") == NULL,
           "History: no payload survives as markup");
    status = request(&app, &admin, "GET", "/event", "id=1", NULL, NULL, &page, NULL);
    TAP_OK(status == 200 && strstr(page.data, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL,
           "the event page shows the payload as text");
    TAP_OK(strstr(page.data, "<script>") == NULL && strstr(page.data, "<img") == NULL &&
               strstr(page.data, "<svg/") == NULL && strstr(page.data, "onerror=alert(2)>") == NULL,
           "the event page: no payload survives as markup or breaks an attribute");
    status = request(&app, &admin, "GET", "/history", "sender=%3Cscript%3Ealert(4)%3C/script%3E",
                     NULL, NULL, &page, NULL);
    TAP_OK(status == 200 && strstr(page.data, "<script>alert(4)") == NULL &&
               strstr(page.data, "value=\"&lt;script&gt;alert(4)"),
           "a search echoed back is escaped in its attribute");
    TAP_OK(request(&app, &admin, "GET", "/history", "since=yesterday-ish", NULL, NULL, &page,
                   NULL) == 400,
           "a time that does not parse: 400 with the reason");
    TAP_OK(request(&app, &admin, "GET", "/history", "a=%zz", NULL, NULL, &page, NULL) == 400,
           "a malformed query: 400");

    char csrf[64] = "";
    request(&app, &admin, "GET", "/quarantine", NULL, NULL, NULL, &page, NULL);
    field_value(&page, "name=\"csrf\"", csrf, sizeof csrf);
    TAP_OK(strlen(csrf) == WEB_TOKEN_LEN, "the page's forms carry the CSRF token");
    TAP_OK(request(&app, &admin, "POST", "/quarantine/action", NULL, "action=delete&id=abc",
                   NULL, &page, NULL) == 403 && strstr(page.data, "CSRF"),
           "a POST without the CSRF token is refused");
    TAP_OK(request(&app, &admin, "POST", "/quarantine/action", NULL,
                   "action=delete&id=abc&csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL,
                   &page, NULL) == 403,
           "a POST with a wrong CSRF token is refused");
    char body[300];
    snprintf(body, sizeof body, "action=delete&id=abc&csrf=%s", csrf);
    status = request(&app, &admin, "POST", "/quarantine/action", NULL, body, NULL, &page, NULL);
    TAP_OK(status == 200 && strstr(page.data, "no-daemon.sock"),
           "with the token the action goes to the control socket (none here: says so)");

    TAP_OK(login(&app, &reader, "bob", "battery", NULL) == 303, "bob logs in (read only)");
    request(&app, &reader, "GET", "/quarantine", NULL, NULL, NULL, &page, NULL);
    TAP_OK(strstr(page.data, "release-selected") == NULL, "a reader sees no release button");
    field_value(&page, "name=\"csrf\"", csrf, sizeof csrf);
    snprintf(body, sizeof body, "action=release&id=abc&csrf=%s", csrf);
    TAP_OK(request(&app, &reader, "POST", "/quarantine/action", NULL, body, NULL, &page, NULL) ==
               403 && strstr(page.data, "admin role"),
           "a reader's release, CSRF token and all, is refused");

    client mallory = {0};
    int statuses[6];
    for (int i = 0; i < 6; i++)
        statuses[i] = login(&app, &mallory, "alice", "guess", "198.51.100.7");
    TAP_OK(statuses[0] == 401 && statuses[3] == 401 && statuses[4] == 429,
           "wrong passwords: 401 three times and once more, then 429 (throttled)");
    client right = {0};
    TAP_OK(login(&app, &right, "alice", "staple", "198.51.100.7") == 429,
           "while throttled even the right password waits");
    TAP_OK(login(&app, &right, "alice", "staple", "198.51.100.8") == 429,
           "and from another address too: the user name is throttled");
    clock_now += WEB_THROTTLE_MAX_WAIT;
    TAP_OK(login(&app, &right, "alice", "staple", "198.51.100.9") == 303,
           "after the wait the right password works");

    status = request(&app, &reader, "GET", "/rollout", "days=3", NULL, NULL, &page, NULL);
    TAP_OK(status == 200 && strstr(page.data, "id=\"rollout\"") &&
               strstr(page.data, "1 events, 1 checked"),
           "Rollout: the report over the stored events");
    TAP_OK(strstr(page.data, "<script>") == NULL, "Rollout: the hostile domain is escaped");
    TAP_OK(request(&app, &reader, "GET", "/rollout", "days=400", NULL, NULL, &page, NULL) == 400,
           "Rollout: days out of range is refused");

    status = request(&app, &reader, "GET", "/records",
                     "domain=example.org&mx=1&ip4=192.0.2.0%2F24+198.51.100.7&includes=_spf.example.com&all=-",
                     NULL, NULL, &page, NULL);
    TAP_OK(status == 200 &&
               strstr(page.data, "v=spf1 mx ip4:192.0.2.0/24 ip4:198.51.100.7 "
                                 "include:_spf.example.com -all") != NULL &&
               strstr(page.data, "example.org.\tIN\tTXT\t") != NULL,
           "Records: the wizard builds the record and its zone line");
    status = request(&app, &reader, "GET", "/records",
                     "domain=x.test&ip4=%3Cscript%3E", NULL, NULL, &page, NULL);
    TAP_OK(status == 400 && strstr(page.data, "<script>") == NULL &&
               strstr(page.data, "wizard-error"),
           "Records: a wrong answer is refused, escaped");

    /* Settings: each value with its origin. */
    char conf[400];
    snprintf(conf, sizeof conf, "%s/domauth.conf", dir);
    FILE *cf = fopen(conf, "w");
    fputs("[daemon]\nmilter = unix:/m ; the milter\n[policy]\ncheck_helo = no\n"
          "[domain example.org]\nmonitor = no\n", cf);
    fclose(cf);
    free(cfg.path);
    cfg.path = strdup(conf);
    request(&app, &reader, "GET", "/settings", NULL, NULL, NULL, &page, NULL);
    char want[600];
    snprintf(want, sizeof want, "<td>milter</td><td><code>unix:/m</code></td><td>%s:2</td>", conf);
    TAP_OK(strstr(page.data, want) != NULL, "Settings: a value set in the file, with file:line");
    TAP_OK(strstr(page.data, "<td>policy</td><td><code>inet:127.0.0.1:10045</code></td>"
                             "<td>default</td>") != NULL,
           "Settings: a default shown as the default");
    snprintf(want, sizeof want, "<td>monitor</td><td><code>no</code></td><td>this domain, %s:6",
             conf);
    TAP_OK(strstr(page.data, want) != NULL, "Settings: a domain's own value");
    snprintf(want, sizeof want,
             "<td>check_helo</td><td><code>no</code></td><td>global [policy] check_helo, %s:4",
             conf);
    TAP_OK(strstr(page.data, "[domain example.org]") && strstr(page.data, want) != NULL,
           "Settings: a domain inherits the global value, and says so");
    TAP_OK(strstr(page.data, "<td>fail_action</td><td><code>reject</code></td><td>default") &&
               strstr(page.data, "<td>spf_fail_action</td><td><code>reject</code></td>"
                                 "<td>global default"),
           "Settings: the per-result keys, global and per domain");
    TAP_OK(strstr(page.data, "/settings/edit") == NULL && strstr(page.data, "/settings/reset") == NULL,
           "Settings: a reader gets no change links or reset buttons");
    test_settings_changes(&app, &admin, &reader, conf, dir);
    test_quarantine_text(&app, &admin, &cfg);

    snprintf(body, sizeof body, "csrf=%s", csrf);
    request(&app, &reader, "POST", "/logout", NULL, body, NULL, &page, NULL);
    TAP_OK(request(&app, &reader, "GET", "/", NULL, NULL, NULL, &page, &keep) == 303,
           "after logout the session is gone");
    strbuf_free(&page);
    web_app_free(&app);
    config_free(&cfg);
}

int main(void)
{
    char dir[] = "/tmp/domauth-web-test-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_escape();
    test_form();
    test_cookie();
    test_sessions();
    test_throttle_rate();
    test_users(dir);
    test_json();
    test_requests(dir);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
