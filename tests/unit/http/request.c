/* request.c: the metrics endpoint's HTTP request parser (src/proto/http.c):
 * what is a request, what is refused with which status, and that an
 * answer never depends on where reads ended. */
#include <string.h>

#include "proto/http.h"
#include "tap.h"

static http_status parse(const char *text, http_request *r)
{
    return http_request_parse(text, strlen(text), r);
}

/* Every prefix is NEED_MORE or the whole text's answer. */
static int prefixes_agree(const char *text)
{
    http_request whole, part;
    http_status st = parse(text, &whole);
    for (size_t k = 0; k < strlen(text); k++) {
        http_status sp = http_request_parse(text, k, &part);
        if (sp != HTTP_NEED_MORE && sp != st)
            return 0;
    }
    return 1;
}

int main(void)
{
    http_request r;
    const char *prom = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9895\r\n"
                       "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n\r\n";
    TAP_OK(parse(prom, &r) == HTTP_OK, "Prometheus's request is a request");
    TAP_STR_EQ(r.method, "GET", "its method");
    TAP_STR_EQ(r.path, "/metrics", "its path");
    TAP_OK(r.length == strlen(prom), "its length is the whole request");
    TAP_OK(prefixes_agree(prom), "every prefix of it is NEED_MORE or the request");
    TAP_OK(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r) == HTTP_NEED_MORE,
           "no empty line yet: need more");
    TAP_OK(parse("HEAD http://h:1/metrics?x=1#f HTTP/1.0\n\n", &r) == HTTP_OK &&
               strcmp(r.path, "/metrics") == 0 && strcmp(r.method, "HEAD") == 0,
           "absolute-form, a query and a fragment, bare LF: the path alone");
    TAP_OK(parse("GET http://h HTTP/1.1\r\n\r\n", &r) == HTTP_OK && strcmp(r.path, "/") == 0,
           "absolute-form without a path is /");
    TAP_OK(parse("\r\nGET / HTTP/1.1\r\n\r\n", &r) == HTTP_OK, "an empty line first is ignored");
    TAP_OK(parse("GET / HTTP/1.1\r\n\r\nGARBAGE", &r) == HTTP_OK && r.length == 18,
           "bytes after the request are not its");
    TAP_OK(parse("GET /metrics HTTP/2.0\r\n\r\n", &r) == HTTP_VERSION, "HTTP/2.0: 505");
    TAP_OK(parse("GET /metrics HTTP/2.0\r\n", &r) == HTTP_VERSION,
           "the version is refused as soon as its line is whole");
    const char *bad[] = {
        "GET  /metrics HTTP/1.1\r\n\r\n",      "GET /metrics  HTTP/1.1\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",        "GET /metrics HTTP/1.1 \r\n\r\n",
        "GET /metrics HTTP/1\r\n\r\n",         "GET /metrics\r\n\r\n",
        "G(T /metrics HTTP/1.1\r\n\r\n",       "GET /me\ttrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n x: y\r\n\r\n", "GET /metrics HTTP/1.1\r\nx : y\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: y\r\n\r\n", "GET /metrics HTTP/1.1\r\nx: a\rb\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nx: a\001b\r\n\r\n", "\n\n\nGET / HTTP/1.1\r\n\r\n",
        "GETTINGTOOLONGMETHOD / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_status st = parse(bad[i], &r);
        TAP_OK(st == HTTP_BAD && r.why[0] != '\0', "refused (400) with a reason: case %zu (%s)",
               i, r.why);
        TAP_OK(prefixes_agree(bad[i]), "its prefixes agree: case %zu", i);
    }
    char nul[] = "GET /metrics HTTP/1.1\r\nx: a_b\r\n\r\n";
    nul[27] = '\0';
    TAP_OK(http_request_parse(nul, sizeof nul - 1, &r) == HTTP_BAD, "a NUL byte: 400");
    char big[HTTP_REQUEST_MAX + 100];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    TAP_OK(http_request_parse(big, HTTP_REQUEST_MAX - 1, &r) == HTTP_NEED_MORE,
           "just below the limit without an end: need more");
    TAP_OK(http_request_parse(big, HTTP_REQUEST_MAX, &r) == HTTP_TOO_LARGE,
           "at the limit: 431");
    memcpy(big + HTTP_REQUEST_MAX + 10, "\r\n\r\n", 4);
    TAP_OK(http_request_parse(big, sizeof big, &r) == HTTP_TOO_LARGE,
           "an end beyond the limit is not looked at");
    char longpath[HTTP_PATH_MAX + 40] = "GET /";
    memset(longpath + 5, 'p', HTTP_PATH_MAX);
    strcpy(longpath + 5 + HTTP_PATH_MAX, " HTTP/1.1\r\n\r\n");
    TAP_OK(parse(longpath, &r) == HTTP_BAD, "a path beyond %d bytes: 400", HTTP_PATH_MAX);

    strbuf out;
    strbuf_init(&out);
    http_response(&out, 405, "text/plain", "Allow: GET, HEAD\r\n", "no\n", 3, 0);
    TAP_STR_EQ(out.data,
               "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\n"
               "Content-Length: 3\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\nno\n",
               "a response: status, type, length, close, extra lines, body");
    strbuf_clear(&out);
    http_response(&out, 200, "text/plain", NULL, "body", 4, 1);
    TAP_OK(strstr(out.data, "Content-Length: 4\r\n") != NULL && strstr(out.data, "body") == NULL,
           "HEAD: the length of the body, not the body");
    strbuf_free(&out);
    printf("1..%d\n", tap_count);
    return tap_failed != 0;
}
