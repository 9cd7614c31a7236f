/* config_edit.h: domauth.conf edited as text, for domauth-web's Settings:
 * one key's logical line given a new value, a key appended under its
 * section (or a new section), a domain's overrides removed. Every other
 * byte of the file (comments, blank lines, other keys, their order and
 * spelling, CRLF line ends) is kept as it was: the file is never
 * regenerated. Pure text in, text out; the caller writes the file and has
 * domauthd check it. The line reader follows config.c's rules (sections,
 * ';' and '#' comment lines, ' ;' comments after a value, indented
 * continuation lines); the text given is expected to parse already. */
#ifndef DA_CONFIG_EDIT_H
#define DA_CONFIG_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

/* Whether value can be written as the value of key `name` and read back
 * unchanged: one line (no CR, LF or NUL), no other control characters,
 * valid UTF-8, no blanks at either end (the reader strips them), no ';'
 * at the start or after a blank (a comment would begin there), and short
 * enough for a logical line. 0, or -1 with why naming the key. */
int config_edit_check_value(const char *name, const char *value, char *why, size_t why_size);

/* Writes text with `name = value` in `section` into out (appended):
 * - line > 0 (where config_key_line says the key is set): that logical
 *   line keeps its key as written (an old name, "key: value" style), its
 *   comment after the value and its line end; the value is replaced, and
 *   its continuation lines are removed (comment lines among them stay);
 * - line == 0: a new line "name = value" after the last key of the last
 *   block of [section], or right after its header when it has no key;
 *   without such a section, "[section]" and the line at the end of the
 *   file.
 * section is as config_key_line names it: "policy", "spf", ..., or
 * "domain NAME" (matched however the header spells "domain" and blanks).
 * The value is checked with config_edit_check_value. 0, or -1 with why
 * (out may then hold part of the text: discard it). */
int config_edit_set(const char *text, size_t len, const char *section, const char *name,
                    const char *value, unsigned line, strbuf *out, char *why, size_t why_size);

/* Writes text without the keys of every [domain NAME] block into out, so
 * that the domain has the global settings again. The headers, comments
 * and `trusted` lines (the domain's own servers, not an override of a
 * global value) stay. Each removed "key = value" is appended to removed
 * (when not NULL), separated by "; ". *count gets the number removed.
 * 0, or -1 with why. */
int config_edit_reset_domain(const char *text, size_t len, const char *domain, strbuf *out,
                             strbuf *removed, size_t *count, char *why, size_t why_size);

/* The value of the logical line that starts on `line` (continuation lines
 * joined with one blank, a trailing comment cut), appended to out. False
 * when that line sets no key. */
bool config_edit_value_at(const char *text, size_t len, unsigned line, strbuf *out);

#endif
