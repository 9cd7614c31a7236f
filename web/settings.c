/* settings.c: the Settings pages (pages.h): the effective configuration
 * with each value's origin, and, for the admin role, changing one value
 * (globally or for a [domain NAME] section) and resetting a domain to the
 * global settings. A change never regenerates the file: config_edit.h
 * rewrites the one line, the text is written beside the file under a
 * temporary name and fsynced, domauthd checks it with its own rights
 * (control config-check: the same load as -t and a reload), and only then
 * is it renamed over the old file and domauthd told (config-changed: the
 * audit event and the reload). What domauthd refuses leaves the file as
 * it was, byte for byte. */
#include "pages.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config/config_edit.h"
#include "control_client.h"
#include "escape.h"
#include "json_get.h"
#include "util/file.h"

enum {
    CONFIG_FILE_MAX = 16 << 20, /* what domauthd reads at most */
    AUDIT_VALUE_MAX = 200,      /* a value quoted in the audit text, at most */
};

/* ------------------------------------------------------------ the keys */

/* Where a key's value comes from when its own section does not set it: a
 * domain's key inherits the global one (a [policy] key, or a result key
 * of [spf], [dkim], ...), a global key has its default. */
typedef struct key_ref {
    bool found;
    bool multiple;
    const char *global_section, *global_name;
    const char *default_value;
} key_ref;

static bool is_domain_section(const char *section)
{
    return strncmp(section, "domain ", 7) == 0;
}

static key_ref find_key(const char *section, const char *name, config_result_key_info *r)
{
    key_ref k = {0};
    bool domain = is_domain_section(section);
    for (size_t i = 0; i < config_key_count(); i++) {
        const char *sec, *n, *def;
        bool per_domain, multiple;
        config_key_info(i, &sec, &n, &def, &per_domain, &multiple);
        if (strcmp(n, name) != 0 || (domain ? !per_domain : strcmp(sec, section) != 0))
            continue;
        return (key_ref){true, multiple, sec, n, def};
    }
    for (size_t i = 0; config_result_key(i, r); i++) {
        if (domain ? strcmp(r->domain_name, name) == 0
                   : strcmp(r->section, section) == 0 && strcmp(r->name, name) == 0)
            return (key_ref){true, false, r->section, r->name, r->default_value};
    }
    return k;
}

/* The value of (section, name) as the file text gives it, into value, and
 * where it comes from into origin. False for an unknown key. */
static bool effective(const char *path, const char *text, size_t len, const domauth_config *cfg,
                      const char *section, const char *name, strbuf *value, char *origin,
                      size_t origin_size, bool *set_here)
{
    config_result_key_info r;
    key_ref k = find_key(section, name, &r);
    *set_here = false;
    if (!k.found)
        return false;
    bool domain = is_domain_section(section);
    unsigned line = k.multiple ? 0 : config_key_line(cfg, section, name);
    if (line > 0 && config_edit_value_at(text, len, line, value)) {
        snprintf(origin, origin_size, "%s%s:%u", domain ? "this domain, " : "", path, line);
        *set_here = true;
        return true;
    }
    unsigned global = domain ? config_key_line(cfg, k.global_section, k.global_name) : 0;
    if (global > 0 && config_edit_value_at(text, len, global, value)) {
        snprintf(origin, origin_size, "global [%s] %s, %s:%u", k.global_section, k.global_name,
                 path, global);
        return true;
    }
    strbuf_puts(value, k.default_value);
    snprintf(origin, origin_size, "%s",
             k.multiple ? "default (a list: see the file)" : domain ? "global default" : "default");
    return true;
}

/* An element id from a section and a key: "k-domain_example_org-monitor". */
static void put_id(strbuf *b, const char *prefix, const char *section, const char *name)
{
    strbuf_puts(b, prefix);
    for (const char *p = section; *p; p++)
        strbuf_putc(b, (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ? *p
                                                                                        : '_');
    if (name != NULL) {
        strbuf_putc(b, '-');
        for (const char *p = name; *p; p++)
            strbuf_putc(b, (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_');
    }
}

/* The file's version in a form: a change made from an older view of the
 * file is refused rather than applied to a file the admin has not seen. */
static void version_of(const char *text, size_t len, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)text[i];
        h *= 0x100000001b3ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ------------------------------------------------------------ the view */

typedef struct view {
    web_response *r;
    const web_session *s;
    const char *path, *text;
    size_t len;
    const domauth_config *cfg;
    bool admin;
    char version[17];
} view;

static void row(view *v, const char *section, const char *name)
{
    strbuf *b = &v->r->body;
    strbuf value;
    strbuf_init(&value);
    char origin[600];
    bool here;
    if (!effective(v->path, v->text, v->len, v->cfg, section, name, &value, origin,
                   sizeof origin, &here)) {
        strbuf_free(&value);
        return;
    }
    bool domain = is_domain_section(section);
    strbuf_puts(b, "<tr class=\"");
    strbuf_puts(b, here ? "set" : domain ? "inherited" : "default");
    strbuf_puts(b, "\" id=\"");
    put_id(b, "k-", section, name);
    strbuf_puts(b, "\"><td>");
    html_puts(b, name);
    strbuf_puts(b, "</td><td><code>");
    html_escape(b, value.data ? value.data : "", value.len);
    strbuf_puts(b, "</code></td><td>");
    html_puts(b, origin);
    strbuf_puts(b, "</td>");
    if (v->admin) {
        strbuf_puts(b, "<td>");
        if (config_key_editable(section, name)) {
            strbuf_puts(b, "<a class=\"edit\" id=\"");
            put_id(b, "edit-", section, name);
            strbuf_puts(b, "\" href=\"/settings/edit?section=");
            url_escape(b, section);
            strbuf_puts(b, "&amp;key=");
            url_escape(b, name);
            strbuf_puts(b, "\">change</a>");
        }
        strbuf_puts(b, "</td>");
    }
    strbuf_puts(b, "</tr>");
    strbuf_free(&value);
}

static void table_begin(view *v, const char *title_section, const char *id_section)
{
    strbuf *b = &v->r->body;
    strbuf_puts(b, "<h2>[");
    html_puts(b, title_section);
    strbuf_puts(b, "]</h2><table class=\"events settings\" id=\"");
    put_id(b, "settings-", id_section, NULL);
    strbuf_puts(b, "\"><thead><tr><th>key</th><th>value</th><th>origin</th>");
    if (v->admin)
        strbuf_puts(b, "<th></th>");
    strbuf_puts(b, "</tr></thead><tbody>");
}

/* A global section: its own keys, then its result keys. */
static void global_section(view *v, const char *section)
{
    table_begin(v, section, section);
    for (size_t i = 0; i < config_key_count(); i++) {
        const char *sec, *name, *def;
        bool per_domain, multiple;
        config_key_info(i, &sec, &name, &def, &per_domain, &multiple);
        if (strcmp(sec, section) == 0)
            row(v, section, name);
    }
    config_result_key_info r;
    for (size_t i = 0; config_result_key(i, &r); i++)
        if (strcmp(r.section, section) == 0)
            row(v, section, r.name);
    strbuf_puts(&v->r->body, "</tbody></table>");
}

static void domain_section(view *v, const char *domain)
{
    strbuf *b = &v->r->body;
    char section[300];
    snprintf(section, sizeof section, "domain %s", domain);
    table_begin(v, section, section);
    for (size_t i = 0; i < config_key_count(); i++) {
        const char *sec, *name, *def;
        bool per_domain, multiple;
        config_key_info(i, &sec, &name, &def, &per_domain, &multiple);
        if (per_domain && !multiple)
            row(v, section, name);
    }
    config_result_key_info r;
    for (size_t i = 0; config_result_key(i, &r); i++)
        row(v, section, r.domain_name);
    strbuf_puts(b, "</tbody></table>");
    if (v->admin) {
        strbuf_puts(b, "<form method=\"post\" action=\"/settings/reset\" class=\"actions\">");
        page_csrf(v->r, v->s);
        strbuf_puts(b, "<input type=\"hidden\" name=\"domain\" value=\"");
        html_puts(b, domain);
        strbuf_puts(b, "\"><input type=\"hidden\" name=\"version\" value=\"");
        html_puts(b, v->version);
        strbuf_puts(b, "\"><button type=\"submit\" id=\"");
        put_id(b, "reset-", domain, NULL);
        strbuf_puts(b, "\">Reset ");
        html_puts(b, domain);
        strbuf_puts(b, " to the global settings</button> <span class=\"sub\">removes the "
                       "section's overrides; its own servers (trusted) stay</span></form>");
    }
}

/* Reads and parses the file; NULL with why (a page of its own). */
static char *load(const web_app *app, domauth_config *cfg, size_t *len, char *why,
                  size_t why_size)
{
    const char *path = app->cfg->path ? app->cfg->path : "";
    if (*path == '\0') {
        snprintf(why, why_size, "no configuration file");
        return NULL;
    }
    char *text = util_read_file(path, CONFIG_FILE_MAX, len, why, why_size);
    if (text == NULL)
        return NULL;
    if (config_init(cfg) != 0) {
        snprintf(why, why_size, "out of memory");
        free(text);
        return NULL;
    }
    if (config_parse(cfg, path, text, *len, why, why_size) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* The page, with what a change did above it (banner: already HTML). */
static void settings_view(web_app *app, web_response *r, const web_session *s,
                          const strbuf *banner)
{
    strbuf *b = &r->body;
    const char *path = app->cfg->path ? app->cfg->path : "";
    char why[700];
    size_t len = 0;
    domauth_config cfg;
    page_begin(r, "Settings", s);
    if (banner != NULL && banner->len > 0)
        strbuf_append(b, banner->data, banner->len);
    char *text = load(app, &cfg, &len, why, sizeof why);
    if (text == NULL) {
        strbuf_puts(b, "<p class=\"error\" id=\"settings-error\">");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
        page_end(r);
        return;
    }
    view v = {.r = r, .s = s, .path = path, .text = text, .len = len, .cfg = &cfg,
              .admin = s->role == WEB_ROLE_ADMIN};
    version_of(text, len, v.version);
    strbuf_puts(b, "<p class=\"note\">The effective configuration of <code>");
    html_puts(b, path);
    strbuf_puts(b, "</code> as it is on disk now (domauthd reads it at start and on reload), "
                   "each value with where it comes from: the built-in default, a line of the "
                   "file, or for a domain, the global value. Keys given many times (lists) "
                   "show their default only.");
    if (v.admin)
        strbuf_puts(b, " A change is written to a new file that domauthd checks before it "
                       "replaces this one; then domauthd reloads. Only the site's policy can "
                       "be changed here: programs, files, sockets and users are edited in the "
                       "file.");
    strbuf_puts(b, "</p>");
    /* The sections in the key table's order; [spf] has result keys only. */
    const char *sections[16];
    size_t n = 0;
    for (size_t i = 0; i < config_key_count(); i++) {
        const char *sec, *name, *def;
        bool per_domain, multiple;
        config_key_info(i, &sec, &name, &def, &per_domain, &multiple);
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            seen = seen || strcmp(sections[k], sec) == 0;
        if (!seen && n < 15)
            sections[n++] = sec;
    }
    bool have_spf = false;
    for (size_t k = 0; k < n; k++)
        have_spf = have_spf || strcmp(sections[k], "spf") == 0;
    if (!have_spf)
        sections[n++] = "spf";
    for (size_t k = 0; k < n; k++)
        global_section(&v, sections[k]);
    for (size_t d = 0; d < cfg.domain_count; d++)
        domain_section(&v, cfg.domains[d].domain);
    if (v.admin)
        strbuf_puts(b, "<p class=\"note\">To override a value for a domain without a section "
                       "yet, change it with the section <code>domain NAME</code>.</p>");
    config_free(&cfg);
    free(text);
    page_end(r);
}

void page_settings(web_app *app, web_response *r, const web_session *s)
{
    settings_view(app, r, s, NULL);
}

/* ------------------------------------------------------------ the form */

void page_settings_edit(web_app *app, const web_form *q, web_response *r, const web_session *s)
{
    const char *section = web_form_get(q, "section");
    const char *key = web_form_get(q, "key");
    if (section == NULL || key == NULL) {
        page_message(r, 400, "Bad request", "section and key: which setting to change", s);
        return;
    }
    char why[700];
    size_t len;
    domauth_config cfg;
    char *text = load(app, &cfg, &len, why, sizeof why);
    if (text == NULL) {
        page_message(r, 503, "Settings", why, s);
        return;
    }
    const char *path = app->cfg->path;
    char version[17];
    version_of(text, len, version);
    strbuf value;
    strbuf_init(&value);
    char origin[600] = "";
    bool here = false;
    bool known = effective(path, text, len, &cfg, section, key, &value, origin, sizeof origin,
                           &here);
    strbuf *b = &r->body;
    page_begin(r, "Change a setting", s);
    if (!known || !config_key_editable(section, key)) {
        r->status = 400;
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, known ? "This key cannot be changed from the console (a program, a file, "
                             "a socket, a user or a list): edit the file."
                           : "No such key in that section.");
        strbuf_puts(b, "</p>");
    }
    strbuf_puts(b, "<form method=\"post\" action=\"/settings/change\" class=\"filters\" "
                   "id=\"change\">");
    page_csrf(r, s);
    strbuf_puts(b, "<input type=\"hidden\" name=\"version\" value=\"");
    html_puts(b, version);
    strbuf_puts(b, "\"><label>Section <input name=\"section\" id=\"f-section\" value=\"");
    html_puts(b, section);
    strbuf_puts(b, "\"></label><label>Key <input name=\"key\" id=\"f-key\" value=\"");
    html_puts(b, key);
    strbuf_puts(b, "\"></label><label>Value <input name=\"value\" id=\"f-value\" size=\"60\" "
                   "value=\"");
    html_escape(b, value.data ? value.data : "", value.len);
    strbuf_puts(b, "\"></label><button type=\"submit\" id=\"change-button\">Change</button>"
                   "</form><p class=\"note\">Now: <code>");
    html_escape(b, value.data ? value.data : "", value.len);
    strbuf_puts(b, "</code> (");
    html_puts(b, origin);
    strbuf_puts(b, "). <a href=\"/settings\">Back to the settings</a></p>");
    strbuf_free(&value);
    config_free(&cfg);
    free(text);
    page_end(r);
}

/* ------------------------------------------------------------ a change */

/* Replaces every occurrence of from in s by to, into out. */
static void replace_all(strbuf *out, const char *s, const char *from, const char *to)
{
    size_t n = strlen(from);
    for (const char *p; n > 0 && (p = strstr(s, from)) != NULL; s = p + n) {
        strbuf_append(out, s, (size_t)(p - s));
        strbuf_puts(out, to);
    }
    strbuf_puts(out, s);
}

/* A value for the audit text: as it is, or its first AUDIT_VALUE_MAX bytes
 * and the size, said so. */
static void audit_value(strbuf *out, const char *v, size_t len)
{
    if (len <= AUDIT_VALUE_MAX) {
        strbuf_append(out, v, len);
        return;
    }
    size_t cut = AUDIT_VALUE_MAX;
    while (cut > 0 && ((unsigned char)v[cut] & 0xc0) == 0x80)
        cut--; /* not inside a UTF-8 sequence */
    strbuf_append(out, v, cut);
    strbuf_printf(out, "... (%zu bytes)", len);
}

/* Writes text beside path (same directory: the rename is atomic) under
 * ".NAME.web-XXXXXX", with the old file's mode and, when this user may,
 * its group; fsynced. The name goes to tmp. */
static int write_beside(const char *path, const char *text, size_t len, char *tmp,
                        size_t tmp_size, char *why, size_t why_size)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    const char *slash = strrchr(path, '/');
    int k = slash ? snprintf(tmp, tmp_size, "%.*s/.%s.web-XXXXXX", (int)(slash - path), path,
                             slash + 1)
                  : snprintf(tmp, tmp_size, ".%s.web-XXXXXX", path);
    if (k < 0 || (size_t)k >= tmp_size) {
        snprintf(why, why_size, "%s: path too long", path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(why, why_size, "cannot write a new file beside %s: %s (domauth-web needs "
                                "write access to that directory to change settings)",
                 path, strerror(errno));
        return -1;
    }
    /* The reader is domauthd's user: the old file's mode and group. The
     * group only when this user is in it; if domauthd then cannot read the
     * file, its check says so and the old file stays. */
    if (fchmod(fd, st.st_mode & 07777) != 0) {
        snprintf(why, why_size, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (st.st_gid != getegid() && fchown(fd, (uid_t)-1, st.st_gid) != 0) {
        /* not a member: the directory's group stays */
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, why_size, "writing %s: %s", tmp, n < 0 ? strerror(errno) : "no space");
            close(fd);
            unlink(tmp);
            return -1;
        }
        done += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        snprintf(why, why_size, "writing %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (dir[0] == '\0')
        snprintf(dir, sizeof dir, "/");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* the rename made durable; a failure leaves it in the page cache */
        close(fd);
    }
}

/* domauthd must be up and read this very file: its check is the one that
 * counts, and its reload the one that applies. */
static int same_config(const web_app *app, char *why, size_t why_size)
{
    strbuf st;
    strbuf_init(&st);
    char theirs[PATH_MAX] = "";
    int rc = control_call(app->cfg->control_listen, "status", &st, why, why_size);
    if (rc == 0 && !json_get_string(st.data ? st.data : "", st.len, "config", theirs,
                                    sizeof theirs)) {
        snprintf(why, why_size, "domauthd's status names no configuration file");
        rc = -1;
    }
    strbuf_free(&st);
    if (rc != 0)
        return -1;
    char a[PATH_MAX], b[PATH_MAX];
    if (realpath(app->cfg->path, a) == NULL || realpath(theirs, b) == NULL || strcmp(a, b) != 0) {
        snprintf(why, why_size, "domauthd reads %s, this console %s: a change here would not "
                                "be domauthd's", theirs, app->cfg->path);
        return -1;
    }
    return 0;
}

typedef struct change {
    const char *action;  /* "set" or "reset" */
    const char *domain;  /* the domain section's, or NULL */
    strbuf audit;        /* what changed, for the audit event */
    strbuf summary;      /* the same for the page (text) */
} change;

/* The common path of a change: new text -> file beside -> domauthd's
 * check -> rename -> config-changed. The banner gets the outcome. */
static int apply(web_app *app, const web_session *s, const char *old, size_t old_len,
                 const strbuf *fresh, change *c, strbuf *banner, int *status)
{
    const char *path = app->cfg->path;
    char why[1500], tmp[1024];
    if (fresh->len == old_len && memcmp(fresh->data, old, old_len) == 0) {
        strbuf_puts(banner, "<p class=\"note\">Nothing to change: ");
        html_puts(banner, c->summary.data);
        strbuf_puts(banner, " already.</p>");
        return 0;
    }
    if (same_config(app, why, sizeof why) != 0 ||
        write_beside(path, fresh->data, fresh->len, tmp, sizeof tmp, why, sizeof why) != 0) {
        *status = 503;
        strbuf_puts(banner, "<p class=\"error\">Not changed (");
        html_puts(banner, c->summary.data);
        strbuf_puts(banner, "): ");
        html_puts(banner, why);
        strbuf_puts(banner, "</p>");
        return -1;
    }
    char command[1024 + 32];
    snprintf(command, sizeof command, "config-check %s", tmp);
    strbuf answer;
    strbuf_init(&answer);
    int rc = control_call(app->cfg->control_listen, command, &answer, why, sizeof why);
    if (rc == 0 && (answer.data == NULL || strcmp(answer.data, "ok\n") != 0)) {
        strbuf said;
        strbuf_init(&said);
        replace_all(&said, answer.data ? answer.data : "(no answer)", tmp, path);
        while (said.len > 0 && said.data[said.len - 1] == '\n')
            said.data[--said.len] = '\0';
        snprintf(why, sizeof why, "domauthd's check of the changed file: %s",
                 said.data ? said.data : "out of memory");
        strbuf_free(&said);
        rc = -1;
        *status = 400;
    }
    strbuf_free(&answer);
    if (rc == 0) {
        /* A change made meanwhile (another admin, an editor) is not lost. */
        size_t now_len;
        char *now = util_read_file(path, CONFIG_FILE_MAX, &now_len, why, sizeof why);
        if (now == NULL || now_len != old_len || memcmp(now, old, old_len) != 0) {
            if (now != NULL)
                snprintf(why, sizeof why, "%s changed while this change was checked; look "
                                          "at the settings again", path);
            rc = -1;
            *status = 409;
        }
        free(now);
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        snprintf(why, sizeof why, "cannot replace %s: %s", path, strerror(errno));
        rc = -1;
        *status = 503;
    }
    if (rc != 0) {
        unlink(tmp);
        if (*status == 200)
            *status = 503;
        syslog(LOG_WARNING, "%s: settings change refused: %s: %s", s->user, c->summary.data,
               why);
        strbuf_puts(banner, "<p class=\"error\">Not changed (");
        html_puts(banner, c->summary.data);
        strbuf_puts(banner, "); the file is as it was: ");
        html_puts(banner, why);
        strbuf_puts(banner, "</p>");
        return -1;
    }
    fsync_dir_of(path);
    /* The audit event and the reload: domauthd writes the store. */
    strbuf cmd;
    strbuf_init(&cmd);
    strbuf_printf(&cmd, "config-changed web:%s %s %s ", s->user, c->action,
                  c->domain ? c->domain : "-");
    strbuf_append(&cmd, c->audit.data, c->audit.len);
    strbuf_init(&answer);
    rc = cmd.failed ? -1 : control_call(app->cfg->control_listen, cmd.data, &answer, why,
                                        sizeof why);
    while (answer.len > 0 && answer.data[answer.len - 1] == '\n')
        answer.data[--answer.len] = '\0';
    syslog(LOG_NOTICE, "%s: settings: %s: %s", s->user, c->summary.data,
           rc == 0 ? answer.data : why);
    strbuf_puts(banner, "<p class=\"note\">Changed: ");
    html_puts(banner, c->summary.data);
    strbuf_puts(banner, ".</p><p id=\"reload-result\" class=\"");
    bool reloaded = rc == 0 && answer.data && strcmp(answer.data, "ok: reloaded") == 0;
    strbuf_puts(banner, reloaded ? "note" : "error");
    strbuf_puts(banner, "\">domauthd: ");
    html_puts(banner, rc == 0 ? (answer.data ? answer.data : "(no answer)") : why);
    if (!reloaded)
        strbuf_puts(banner, " (the file is changed; domauthd runs the previous settings until "
                            "it reloads)");
    strbuf_puts(banner, "</p>");
    strbuf_free(&answer);
    strbuf_free(&cmd);
    return 0;
}

/* The outcome's "now" line: the new effective value and its origin. */
static void now_line(const web_app *app, strbuf *banner, const char *section, const char *key)
{
    char why[700];
    size_t len;
    domauth_config cfg;
    char *text = load(app, &cfg, &len, why, sizeof why);
    if (text == NULL)
        return;
    strbuf value;
    strbuf_init(&value);
    char origin[600];
    bool here;
    if (effective(app->cfg->path, text, len, &cfg, section, key, &value, origin, sizeof origin,
                  &here)) {
        strbuf_puts(banner, "<p id=\"settings-now\">Now [");
        html_puts(banner, section);
        strbuf_puts(banner, "] ");
        html_puts(banner, key);
        strbuf_puts(banner, " = <code>");
        html_escape(banner, value.data ? value.data : "", value.len);
        strbuf_puts(banner, "</code> (");
        html_puts(banner, origin);
        strbuf_puts(banner, ")</p>");
    }
    strbuf_free(&value);
    config_free(&cfg);
    free(text);
}

/* Common checks of a change form: the file as the admin saw it. NULL (and
 * the page written) when the change cannot go on. */
static char *begin_change(web_app *app, const web_form *f, domauth_config *cfg, size_t *len,
                          web_response *r, const web_session *s)
{
    char why[700];
    char *text = load(app, cfg, len, why, sizeof why);
    if (text == NULL) {
        page_message(r, 503, "Settings", why, s);
        return NULL;
    }
    char version[17];
    version_of(text, *len, version);
    const char *seen = web_form_get(f, "version");
    if (seen == NULL || strcmp(seen, version) != 0) {
        config_free(cfg);
        free(text);
        strbuf banner;
        strbuf_init(&banner);
        strbuf_puts(&banner, "<p class=\"error\" id=\"settings-result\">Not changed: the file "
                             "changed since that page was shown. Here it is as it is now.</p>");
        r->status = 409;
        settings_view(app, r, s, &banner);
        strbuf_free(&banner);
        return NULL;
    }
    return text;
}

static void finish(web_app *app, web_response *r, const web_session *s, strbuf *banner,
                   int status)
{
    r->status = status;
    settings_view(app, r, s, banner);
}

void page_settings_change(web_app *app, const web_form *f, web_response *r, const web_session *s)
{
    const char *section = web_form_get(f, "section");
    const char *key = web_form_get(f, "key");
    const char *value = web_form_get(f, "value");
    if (section == NULL || key == NULL || value == NULL) {
        page_message(r, 400, "Bad request", "section, key and value", s);
        return;
    }
    /* Blanks around a typed value mean nothing to the reader: dropped. */
    while (*value == ' ')
        value++;
    char trimmed[CONFIG_LINE_MAX + 1];
    size_t vn = strlen(value);
    while (vn > 0 && value[vn - 1] == ' ')
        vn--;
    if (vn > CONFIG_LINE_MAX) {
        page_message(r, 400, "Bad request", "value: longer than a configuration line", s);
        return;
    }
    memcpy(trimmed, value, vn);
    trimmed[vn] = '\0';
    /* "domain Example.ORG" as the parser names it. */
    char sec[300];
    snprintf(sec, sizeof sec, "%s", section);
    if (is_domain_section(sec))
        for (char *p = sec + 7; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    strbuf banner;
    strbuf_init(&banner);
    char why[700];
    if (!config_key_editable(sec, key)) {
        strbuf_puts(&banner, "<p class=\"error\" id=\"settings-result\">Not changed: [");
        html_puts(&banner, sec);
        strbuf_puts(&banner, "] ");
        html_puts(&banner, key);
        strbuf_puts(&banner, " cannot be changed from the console (not a policy key, or a "
                             "list, a program, a file, a socket or a user).</p>");
        finish(app, r, s, &banner, 400);
        strbuf_free(&banner);
        return;
    }
    if (config_edit_check_value(key, trimmed, why, sizeof why) != 0) {
        strbuf_puts(&banner, "<p class=\"error\" id=\"settings-result\">Not changed: ");
        html_puts(&banner, why);
        strbuf_puts(&banner, "</p>");
        finish(app, r, s, &banner, 400);
        strbuf_free(&banner);
        return;
    }
    domauth_config cfg;
    size_t len;
    char *text = begin_change(app, f, &cfg, &len, r, s);
    if (text == NULL) {
        strbuf_free(&banner);
        return;
    }
    strbuf old;
    strbuf_init(&old);
    char origin[600];
    bool here;
    effective(app->cfg->path, text, len, &cfg, sec, key, &old, origin, sizeof origin, &here);
    unsigned line = config_key_line(&cfg, sec, key);
    strbuf fresh;
    strbuf_init(&fresh);
    int status = 200;
    if (config_edit_set(text, len, sec, key, trimmed, line, &fresh, why, sizeof why) != 0) {
        strbuf_puts(&banner, "<p class=\"error\" id=\"settings-result\">Not changed: ");
        html_puts(&banner, why);
        strbuf_puts(&banner, "</p>");
        status = 400;
    } else {
        change c = {.action = "set",
                    .domain = is_domain_section(sec) ? sec + 7 : NULL};
        strbuf_init(&c.audit);
        strbuf_init(&c.summary);
        strbuf_printf(&c.audit, "[%s] %s = ", sec, key);
        audit_value(&c.audit, trimmed, strlen(trimmed));
        strbuf_puts(&c.audit, " (was ");
        audit_value(&c.audit, old.data ? old.data : "", old.len);
        strbuf_printf(&c.audit, ", %s)", origin);
        strbuf_printf(&c.summary, "[%s] %s = %s (was %s, %s)", sec, key, trimmed,
                      old.data ? old.data : "", origin);
        strbuf_puts(&banner, "<div id=\"settings-result\">");
        if (apply(app, s, text, len, &fresh, &c, &banner, &status) == 0)
            now_line(app, &banner, sec, key);
        strbuf_puts(&banner, "</div>");
        strbuf_free(&c.audit);
        strbuf_free(&c.summary);
    }
    strbuf_free(&fresh);
    strbuf_free(&old);
    config_free(&cfg);
    free(text);
    finish(app, r, s, &banner, status);
    strbuf_free(&banner);
}

void page_settings_reset(web_app *app, const web_form *f, web_response *r, const web_session *s)
{
    const char *domain = web_form_get(f, "domain");
    if (domain == NULL || *domain == '\0' || strlen(domain) > 253 ||
        strpbrk(domain, " \t\r\n[];") != NULL) {
        page_message(r, 400, "Bad request", "domain: a [domain NAME] section's name", s);
        return;
    }
    domauth_config cfg;
    size_t len;
    char *text = begin_change(app, f, &cfg, &len, r, s);
    if (text == NULL)
        return;
    strbuf fresh, removed, banner;
    strbuf_init(&fresh);
    strbuf_init(&removed);
    strbuf_init(&banner);
    size_t count = 0;
    char why[700];
    int status = 200;
    if (config_edit_reset_domain(text, len, domain, &fresh, &removed, &count, why,
                                 sizeof why) != 0) {
        strbuf_puts(&banner, "<p class=\"error\" id=\"settings-result\">Not changed: ");
        html_puts(&banner, why);
        strbuf_puts(&banner, "</p>");
        status = 503;
    } else if (count == 0) {
        strbuf_puts(&banner, "<p class=\"note\" id=\"settings-result\">Nothing to reset: [domain ");
        html_puts(&banner, domain);
        strbuf_puts(&banner, "] overrides no global setting.</p>");
    } else {
        change c = {.action = "reset", .domain = domain};
        strbuf_init(&c.audit);
        strbuf_init(&c.summary);
        strbuf_printf(&c.audit, "[domain %s] reset to the global settings, removed: ", domain);
        audit_value(&c.audit, removed.data, removed.len);
        strbuf_printf(&c.summary, "[domain %s] reset to the global settings (removed %s)",
                      domain, removed.data);
        strbuf_puts(&banner, "<div id=\"settings-result\">");
        apply(app, s, text, len, &fresh, &c, &banner, &status);
        strbuf_puts(&banner, "</div>");
        strbuf_free(&c.audit);
        strbuf_free(&c.summary);
    }
    strbuf_free(&fresh);
    strbuf_free(&removed);
    config_free(&cfg);
    free(text);
    finish(app, r, s, &banner, status);
    strbuf_free(&banner);
}
