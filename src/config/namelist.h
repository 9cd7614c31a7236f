/* namelist.h: host and domain name patterns for the name whitelists
 * (whitelist_helo, whitelist_ptr, whitelist_from). A pattern is a name
 * ("mail.example.com": that name only) or "*." and a name ("*.example.com":
 * any name below it, not the name itself). Names compare without case and
 * without a trailing dot. */
#ifndef DA_CONFIG_NAMELIST_H
#define DA_CONFIG_NAMELIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct name_list {
    char **patterns; /* lower case, no trailing dot; "*.x" kept as written */
    size_t count;
} name_list;

void name_list_init(name_list *list);
void name_list_free(name_list *list);
/* dst gets its own copy; -1 when out of memory (dst is then empty). */
int name_list_copy(name_list *dst, const name_list *src);
/* Adds the patterns of text, separated by blanks or commas. Returns 0, or
 * -1 with the reason (naming the bad pattern) in err; nothing of text is
 * added then. */
int name_list_add(name_list *list, const char *text, char *err, size_t err_size);
/* The pattern that matches name (len bytes), or NULL. */
const char *name_list_match(const name_list *list, const char *name, size_t len);

#endif
