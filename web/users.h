/* users.h: the console's users file, one user a line:
 *     NAME:ROLE:HASH
 * ROLE is admin or read; HASH an Argon2id string ($argon2id$v=19$...)
 * that `domauth-web passwd` writes. '#' starts a comment line. The file is
 * read at start and on SIGHUP; errors name FILE:LINE. */
#ifndef DA_WEB_USERS_H
#define DA_WEB_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "session.h"

enum { WEB_USERS_MAX = 1000, WEB_HASH_MAX = 256 };

typedef struct web_user {
    char name[WEB_USER_MAX];
    web_role role;
    char hash[WEB_HASH_MAX];
} web_user;

typedef struct web_users {
    web_user *items;
    size_t count;
} web_users;

/* Whether name is a valid user name: 1 to 63 of A-Z a-z 0-9 . _ - @ */
bool web_user_name_valid(const char *name);

/* Parses the text of the file (path for messages). Returns 0, or -1 with
 * "PATH:LINE: reason" in why. */
int web_users_parse(web_users *u, const char *path, const char *text, size_t len, char *why,
                    size_t why_size);
/* Reads and parses path; a missing file is an empty list (nobody can log
 * in; the log says how to add one). */
int web_users_load(web_users *u, const char *path, char *why, size_t why_size);
void web_users_free(web_users *u);

/* Whether password is user name's; *role is set on success. An unknown
 * user costs one hash all the same, so timing does not tell names. */
bool web_users_check(const web_users *u, const char *name, const char *password,
                     web_role *role);

/* An Argon2id hash of password with a fresh salt into out. 0 or -1. */
int web_password_hash(const char *password, char *out, size_t out_size, char *why,
                      size_t why_size);

/* Sets (adds or replaces) name's line in the file at path, written to a
 * temporary file beside it and renamed over it. The file keeps its owner,
 * group and mode; a new one is 0640 with group `group` ((gid_t)-1: the
 * writer's), the group domauth-web runs as, so that it can read it. */
int web_users_set(const char *path, const char *name, web_role role, const char *password,
                  gid_t group, char *why, size_t why_size);

#endif
