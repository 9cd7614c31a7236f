/* users.c: the users file and its Argon2id hashes (users.h), through
 * libargon2 (Debian's libargon2-1, the reference implementation). */
#include "users.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/errbuf.h"
#include "util/file.h"
#include "util/strbuf.h"

/* RFC 9106 section 4's second choice for memory-constrained hosts is
 * t=3, m=64 MiB; a console login is rare, so spend 19 MiB and 2 passes
 * (OWASP's Argon2id minimum) to keep a login near 50 ms on small hosts. */
enum { HASH_T_COST = 2, HASH_M_COST = 19456, HASH_LANES = 1, SALT_LEN = 16, HASH_LEN = 32 };

bool web_user_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= WEB_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return false;
    }
    return true;
}

int web_users_parse(web_users *u, const char *path, const char *text, size_t len, char *why,
                    size_t why_size)
{
    *u = (web_users){0};
    size_t cap = 0;
    unsigned line = 0;
    size_t i = 0;
    while (i < len) {
        line++;
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t l = end - i;
        const char *s = text + i;
        i = end + 1;
        if (l > 0 && s[l - 1] == '\r')
            l--;
        if (l == 0 || s[0] == '#')
            continue;
        char buf[WEB_USER_MAX + 8 + WEB_HASH_MAX];
        if (l >= sizeof buf || memchr(s, '\0', l) != NULL) {
            web_users_free(u);
            return errbuf_set(why, why_size, "%s:%u: line too long or holds a NUL byte", path,
                              line);
        }
        memcpy(buf, s, l);
        buf[l] = '\0';
        char *c1 = strchr(buf, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL) {
            web_users_free(u);
            return errbuf_set(why, why_size, "%s:%u: expected NAME:ROLE:HASH", path, line);
        }
        *c1 = *c2 = '\0';
        const char *name = buf, *role = c1 + 1, *hash = c2 + 1;
        web_user w = {0};
        if (!web_user_name_valid(name)) {
            web_users_free(u);
            return errbuf_set(why, why_size,
                              "%s:%u: user name '%.64s': 1 to 63 of A-Z a-z 0-9 . _ - @", path,
                              line, name);
        }
        if (strcmp(role, "admin") == 0)
            w.role = WEB_ROLE_ADMIN;
        else if (strcmp(role, "read") == 0)
            w.role = WEB_ROLE_READ;
        else {
            web_users_free(u);
            return errbuf_set(why, why_size, "%s:%u: role '%.32s': expected admin or read", path,
                              line, role);
        }
        if (strncmp(hash, "$argon2id$", 10) != 0 || strlen(hash) >= WEB_HASH_MAX) {
            web_users_free(u);
            return errbuf_set(why, why_size,
                              "%s:%u: not an Argon2id hash (write it with domauth-web passwd)",
                              path, line);
        }
        for (size_t k = 0; k < u->count; k++) {
            if (strcmp(u->items[k].name, name) == 0) {
                web_users_free(u);
                return errbuf_set(why, why_size, "%s:%u: user %s is listed twice", path, line,
                                  name);
            }
        }
        if (u->count == WEB_USERS_MAX) {
            web_users_free(u);
            return errbuf_set(why, why_size, "%s:%u: more than %d users", path, line,
                              WEB_USERS_MAX);
        }
        if (u->count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            web_user *n = realloc(u->items, ncap * sizeof *n);
            if (n == NULL) {
                web_users_free(u);
                return errbuf_set(why, why_size, "out of memory");
            }
            u->items = n;
            cap = ncap;
        }
        memcpy(w.name, name, strlen(name) + 1); /* both lengths checked above */
        memcpy(w.hash, hash, strlen(hash) + 1);
        u->items[u->count++] = w;
    }
    return 0;
}

int web_users_load(web_users *u, const char *path, char *why, size_t why_size)
{
    size_t len = 0;
    char *text = util_read_file(path, 1u << 20, &len, why, why_size);
    if (text == NULL) {
        if (errno == ENOENT) {
            *u = (web_users){0};
            why[0] = '\0';
            return 0;
        }
        return -1;
    }
    int rc = web_users_parse(u, path, text, len, why, why_size);
    free(text);
    return rc;
}

void web_users_free(web_users *u)
{
    free(u->items);
    *u = (web_users){0};
}

bool web_users_check(const web_users *u, const char *name, const char *password,
                     web_role *role)
{
    const web_user *found = NULL;
    for (size_t i = 0; i < u->count; i++)
        if (strcmp(u->items[i].name, name) == 0)
            found = &u->items[i];
    /* The same work for a name that does not exist: a hash of a fixed,
     * never-valid password record. */
    static const char decoy[] = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA"
                                "$mkpPjbdkD2jzMUffz1FpM4d/wELaQ9hvH1TO0lwK4Dc";
    const char *hash = found ? found->hash : decoy;
    bool ok = argon2id_verify(hash, password, strlen(password)) == ARGON2_OK;
    if (!ok || found == NULL)
        return false;
    *role = found->role;
    return true;
}

int web_password_hash(const char *password, char *out, size_t out_size, char *why,
                      size_t why_size)
{
    unsigned char salt[SALT_LEN];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt)
        return errbuf_set(why, why_size, "no random bytes for the salt: %s", strerror(errno));
    size_t need = argon2_encodedlen(HASH_T_COST, HASH_M_COST, HASH_LANES, SALT_LEN, HASH_LEN,
                                    Argon2_id);
    if (need > out_size)
        return errbuf_set(why, why_size, "hash buffer too small");
    int rc = argon2id_hash_encoded(HASH_T_COST, HASH_M_COST, HASH_LANES, password,
                                   strlen(password), salt, sizeof salt, HASH_LEN, out, out_size);
    if (rc != ARGON2_OK)
        return errbuf_set(why, why_size, "argon2id: %s", argon2_error_message(rc));
    return 0;
}

int web_users_set(const char *path, const char *name, web_role role, const char *password,
                  gid_t group, char *why, size_t why_size)
{
    if (!web_user_name_valid(name))
        return errbuf_set(why, why_size, "user name '%.64s': 1 to 63 of A-Z a-z 0-9 . _ - @",
                          name);
    web_users u;
    if (web_users_load(&u, path, why, why_size) != 0)
        return -1;
    char hash[WEB_HASH_MAX];
    if (web_password_hash(password, hash, sizeof hash, why, why_size) != 0) {
        web_users_free(&u);
        return -1;
    }
    strbuf sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "# domauth-web users: NAME:ROLE:HASH (written by domauth-web passwd)\n");
    bool replaced = false;
    for (size_t i = 0; i < u.count; i++) {
        const web_user *w = &u.items[i];
        bool me = strcmp(w->name, name) == 0;
        strbuf_printf(&sb, "%s:%s:%s\n", w->name,
                      (me ? role : w->role) == WEB_ROLE_ADMIN ? "admin" : "read",
                      me ? hash : w->hash);
        replaced = replaced || me;
    }
    if (!replaced)
        strbuf_printf(&sb, "%s:%s:%s\n", name, role == WEB_ROLE_ADMIN ? "admin" : "read", hash);
    web_users_free(&u);
    if (sb.failed) {
        strbuf_free(&sb);
        return errbuf_set(why, why_size, "out of memory");
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        strbuf_free(&sb);
        return errbuf_set(why, why_size, "path too long: %s", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        strbuf_free(&sb);
        return errbuf_set(why, why_size, "cannot create %s: %s", tmp, strerror(errno));
    }
    /* The new file keeps the old one's owner, group and mode, so that
     * domauth-web (which reads it as its own user) still can. */
    struct stat old;
    if (stat(path, &old) == 0) {
        if ((fchown(fd, old.st_uid, old.st_gid) != 0 && errno != EPERM) ||
            fchmod(fd, old.st_mode & 0777) != 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            strbuf_free(&sb);
            return errbuf_set(why, why_size, "cannot give %s the owner and mode of %s: %s", tmp,
                              path, strerror(e));
        }
    } else if (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        strbuf_free(&sb);
        return errbuf_set(why, why_size, "cannot give %s its group: %s", tmp, strerror(e));
    }
    size_t off = 0;
    while (off < sb.len) {
        ssize_t n = write(fd, sb.data + off, sb.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            strbuf_free(&sb);
            return errbuf_set(why, why_size, "cannot write %s: %s", tmp, strerror(e));
        }
        off += (size_t)n;
    }
    strbuf_free(&sb);
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return errbuf_set(why, why_size, "cannot replace %s: %s", path, strerror(e));
    }
    return 0;
}
