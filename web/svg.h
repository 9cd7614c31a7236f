/* svg.h: charts as SVG drawn here, on the server: no script, no library,
 * nothing fetched. Labels go through escape.h. */
#ifndef DA_WEB_SVG_H
#define DA_WEB_SVG_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* Vertical bars, one per value, left to right (oldest first); title for
 * the accessible name, first_label and last_label under the ends. */
void svg_bars(strbuf *out, const char *title, const uint64_t *values, size_t n,
              const char *first_label, const char *last_label);

/* Horizontal bars: one row per label with its count. */
void svg_hbars(strbuf *out, const char *title, const char *const *labels,
               const uint64_t *values, size_t n);

#endif
