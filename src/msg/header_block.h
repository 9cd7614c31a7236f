/* header_block.h: a message's header block cut into fields (RFC 5322
 * section 2.2), for checks that read header fields from a file or a
 * buffer. Only cuts: values keep their folding, nothing is decoded. */
#ifndef DA_MSG_HEADER_BLOCK_H
#define DA_MSG_HEADER_BLOCK_H

#include <stddef.h>

enum {
    /* More fields than this is not a message but an attack on the reader. */
    HEADER_BLOCK_FIELDS_MAX = 10000,
};

/* One field: name (trailing blanks before the colon dropped) and value
 * (everything after the colon, up to the line end of its last line, with
 * its folding), both pointing into the block. */
typedef struct header_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} header_field;

/* Cuts text (len bytes: the header block, or a whole message whose header
 * block ends at the first empty line; LF or CRLF line ends) into fields.
 * Returns the number of fields with them in *out (free with free(); NULL
 * when there are none), and *body_offset (may be NULL) where the body
 * starts. Returns -1 with a reason naming the line in err: a continuation
 * line first, a line without a colon, an empty field name, or more than
 * HEADER_BLOCK_FIELDS_MAX fields. */
int header_block_split(const char *text, size_t len, header_field **out, size_t *body_offset,
                       char *err, size_t err_size);

#endif
