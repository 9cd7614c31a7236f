/* http.h: the request side of HTTP/1.x (RFC 9112) as far as a metrics
 * endpoint needs it: a bounded parser of the request line and the header
 * block, and a response writer. Pure: no I/O, no globals. It is not a
 * general HTTP server: no bodies, no chunked coding, no keep-alive (every
 * response closes the connection), so a request is whole at its empty line.
 *
 * The connection keeps the bytes received (at most HTTP_REQUEST_MAX) and
 * asks again after each read; what is parsed never depends on where reads
 * ended. */
#ifndef DA_HTTP_H
#define DA_HTTP_H

#include <stddef.h>

#include "util/strbuf.h"

enum {
    HTTP_REQUEST_MAX = 4096, /* request line and header fields together */
    HTTP_METHOD_MAX = 16,
    HTTP_PATH_MAX = 256,     /* the path, without the query */
};

typedef enum http_status {
    HTTP_NEED_MORE = 0, /* the header block has not ended: read more */
    HTTP_OK,            /* a request: method and path are set */
    HTTP_BAD,           /* 400: not an HTTP/1.x request (why says what) */
    HTTP_TOO_LARGE,     /* 431: no end of the header block within HTTP_REQUEST_MAX */
    HTTP_VERSION,       /* 505: HTTP/ but not 1.x */
} http_status;

typedef struct http_request {
    char method[HTTP_METHOD_MAX + 1];
    char path[HTTP_PATH_MAX + 1];
    size_t length; /* bytes of the request, its empty line included */
    char why[120]; /* for HTTP_BAD */
} http_request;

/* Looks at the len bytes received so far. */
http_status http_request_parse(const char *data, size_t len, http_request *out);

/* Appends a whole response: status line, Content-Type (when body_len or
 * content_type), Content-Length, Connection: close, the extra header lines
 * (each ending CRLF, or NULL), and the body unless head_only. */
void http_response(strbuf *out, unsigned code, const char *content_type, const char *extra,
                   const char *body, size_t body_len, int head_only);

/* The reason phrase of the codes used here ("Not Found"). */
const char *http_reason(unsigned code);

#endif
