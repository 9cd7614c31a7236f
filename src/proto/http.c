/* http.c: a bounded HTTP/1.x request parser and response writer for
 * domauthd's metrics endpoint (see http.h for what it is not). Every line
 * is checked as RFC 9112 section 2 to 5 writes it: a request line of
 * token, one space, an origin-form (or absolute-form) target, one space,
 * HTTP/1.x; field lines of a token, a colon at once, and visible bytes; no
 * obsolete line folding, no bare CR. */
#include "proto/http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 section 5.6.2. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static http_status bad(http_request *out, const char *why)
{
    snprintf(out->why, sizeof out->why, "%s", why);
    return HTTP_BAD;
}

static http_status request_line(const char *p, size_t n, http_request *out)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return bad(out, "the request line does not start with a method and one space");
    if (i > HTTP_METHOD_MAX)
        return bad(out, "the method is too long");
    memcpy(out->method, p, i);
    out->method[i] = '\0';
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i == t || i >= n || p[i] != ' ')
        return bad(out, "the request line has no target and one space after it");
    const char *target = p + t;
    size_t tlen = i - t;
    /* absolute-form (RFC 9112 3.2.2: a server must accept it): the path
     * after the authority. */
    if (tlen >= 7 && (strncasecmp(target, "http://", 7) == 0 ||
                      (tlen >= 8 && strncasecmp(target, "https://", 8) == 0))) {
        size_t skip = target[4] == ':' ? 7 : 8;
        const char *slash = memchr(target + skip, '/', tlen - skip);
        if (slash == NULL) {
            target = "/";
            tlen = 1;
        } else {
            tlen -= (size_t)(slash - target);
            target = slash;
        }
    }
    if (target[0] != '/')
        return bad(out, "the target is not a path");
    size_t plen = 0;
    while (plen < tlen && target[plen] != '?' && target[plen] != '#')
        plen++;
    if (plen > HTTP_PATH_MAX)
        return bad(out, "the path is too long");
    memcpy(out->path, target, plen);
    out->path[plen] = '\0';
    const char *v = p + i + 1;
    size_t vlen = n - i - 1;
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return bad(out, "the request line does not end with HTTP/x.y");
    return v[5] == '1' ? HTTP_OK : HTTP_VERSION;
}

static http_status field_line(const char *p, size_t n, http_request *out)
{
    if (p[0] == ' ' || p[0] == '\t')
        return bad(out, "a folded field line (obsolete, refused)");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return bad(out, "a field line without a name and a colon right after it");
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 ? c != '\t' : c == 0x7f)
            return bad(out, "a control byte in a field value");
    }
    return HTTP_OK;
}

http_status http_request_parse(const char *data, size_t len, http_request *out)
{
    memset(out, 0, sizeof *out);
    /* Only the first HTTP_REQUEST_MAX bytes count, so the answer never
     * depends on how much more the connection happened to read. */
    if (len > HTTP_REQUEST_MAX)
        len = HTTP_REQUEST_MAX;
    size_t pos = 0;
    /* RFC 9112 2.2: at least one empty line before the request line is
     * ignored. */
    for (int k = 0; k < 2; k++) {
        if (pos + 1 < len && data[pos] == '\r' && data[pos + 1] == '\n')
            pos += 2;
        else if (pos < len && data[pos] == '\n')
            pos++;
    }
    bool first = true;
    while (pos < len) {
        const char *lf = memchr(data + pos, '\n', len - pos);
        if (lf == NULL)
            break;
        size_t n = (size_t)(lf - (data + pos));
        if (n > 0 && data[pos + n - 1] == '\r')
            n--;
        if (memchr(data + pos, '\r', n) != NULL)
            return bad(out, "a bare CR in a line");
        if (memchr(data + pos, '\0', n) != NULL)
            return bad(out, "a NUL byte in a line");
        const char *line = data + pos;
        pos = (size_t)(lf - data) + 1;
        if (first) {
            http_status st = request_line(line, n, out);
            if (st != HTTP_OK)
                return st;
            first = false;
            continue;
        }
        if (n == 0) {
            out->length = pos;
            return HTTP_OK;
        }
        http_status st = field_line(line, n, out);
        if (st != HTTP_OK)
            return st;
    }
    return len >= HTTP_REQUEST_MAX ? HTTP_TOO_LARGE : HTTP_NEED_MORE;
}

const char *http_reason(unsigned code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

void http_response(strbuf *out, unsigned code, const char *content_type, const char *extra,
                   const char *body, size_t body_len, int head_only)
{
    strbuf_printf(out, "HTTP/1.1 %u %s\r\n", code, http_reason(code));
    if (content_type != NULL)
        strbuf_printf(out, "Content-Type: %s\r\n", content_type);
    strbuf_printf(out, "Content-Length: %zu\r\nConnection: close\r\n", body_len);
    if (extra != NULL)
        strbuf_puts(out, extra);
    strbuf_puts(out, "\r\n");
    if (!head_only && body_len > 0)
        strbuf_append(out, body, body_len);
}
