/* cares.c: the c-ares resolvers: blocking (da_resolver_new_cares, for the
 * command line) and on a libuv loop (da_resolver_new_uv, for the daemon).
 * c-ares only moves bytes (UDP, TCP retry on truncation, timeouts, server
 * failover); queries are built and responses parsed by wire.c so TTLs,
 * NXDOMAIN and NODATA come out exactly as the server said them. */
#include "domauth_net.h"
#include "resolver.h"
#include "wire.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum {
    DEFAULT_TIMEOUT_MS = 2000,
    DEFAULT_TRIES = 2,
    DEFAULT_PORT = 53,
    /* Longest "[IPv6%scope]:port" item we accept, with room to spare. */
    SERVER_TEXT_MAX = 80,
};

typedef struct cares_resolver cares_resolver;

/* One submitted question, from ares_send until its callback ran. Finished
 * queries wait on the resolver's done list so that user callbacks only ever
 * run from run(), never from inside submit() or ares_destroy(). */
typedef struct cares_query {
    cares_resolver *owner;
    char *name;
    da_dns_question question;
    da_resolver_callback callback;
    void *arg;
    da_dns_answer *answer;
    struct cares_query *next;
} cares_query;

/* A socket c-ares asked us to watch, on the loop. */
typedef struct cares_watch {
    uv_poll_t handle;
    ares_socket_t fd;
    cares_resolver *owner;
    struct cares_watch *next;
} cares_watch;

struct cares_resolver {
    ares_channel channel;
    uv_loop_t *loop;       /* NULL: blocking */
    uv_timer_t timer;      /* loop mode: c-ares timeouts and queued answers */
    cares_watch *watches;
    bool channel_ready;
    bool library_ready;
    bool destroying;
    bool use_edns0;
    size_t in_flight; /* sent to c-ares, not yet called back */
    cares_query *done_head, *done_tail;
};

/* ------------------------------------------------------- server list */

static bool parse_port(const char *text, unsigned *port)
{
    unsigned value = 0;
    if (*text == '\0')
        return false;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        value = value * 10 + (unsigned)(*p - '0');
        if (value > 65535)
            return false;
    }
    if (value == 0)
        return false;
    *port = value;
    return true;
}

/* Turns one "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT" item into the
 * "ADDR:PORT" / "[V6]:PORT" form c-ares reads. Bare IPv6 takes port 53. */
static int normalize_server(const char *item, char *out, size_t out_size, const char **why)
{
    char host[SERVER_TEXT_MAX];
    unsigned port = DEFAULT_PORT;
    unsigned char addr[16];
    bool v6;
    if (strlen(item) >= sizeof host) {
        *why = "too long";
        return -1;
    }
    if (item[0] == '[') {
        const char *close = strchr(item, ']');
        if (close == NULL) {
            *why = "missing ']'";
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - item - 1), item + 1);
        if (close[1] != '\0' && (close[1] != ':' || !parse_port(close + 2, &port))) {
            *why = "bad port after ']'";
            return -1;
        }
        v6 = true;
    } else {
        const char *colon = strchr(item, ':');
        bool bare_v6 = colon != NULL && strchr(colon + 1, ':') != NULL;
        if (colon != NULL && !bare_v6) {
            snprintf(host, sizeof host, "%.*s", (int)(colon - item), item);
            if (!parse_port(colon + 1, &port)) {
                *why = "bad port (want 1-65535)";
                return -1;
            }
        } else {
            snprintf(host, sizeof host, "%s", item);
        }
        v6 = bare_v6;
    }
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1) {
        *why = v6 ? "not an IPv6 address" : "not an IPv4 address";
        return -1;
    }
    int n = snprintf(out, out_size, v6 ? "[%s]:%u" : "%s:%u", host, port);
    if (n < 0 || (size_t)n >= out_size) {
        *why = "too long";
        return -1;
    }
    return 0;
}

/* Checks every item of "ADDR[:PORT],..." so a mistake is reported by name,
 * then writes the normalized list into *csv (caller frees). */
static int build_server_csv(const char *servers, char **csv, char *err, size_t err_size)
{
    size_t cap = strlen(servers) * 2 + 16 * SERVER_TEXT_MAX;
    char *out = calloc(1, cap);
    char *copy = strdup(servers);
    size_t used = 0, count = 0;
    if (out == NULL || copy == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        size_t len = strlen(item);
        while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
            item[--len] = '\0';
        char one[SERVER_TEXT_MAX + 8];
        const char *why = "";
        if (normalize_server(item, one, sizeof one, &why) != 0) {
            snprintf(err, err_size, "bad DNS server \"%s\": %s", item, why);
            goto fail;
        }
        if (used + strlen(one) + 2 > cap) {
            snprintf(err, err_size, "DNS server list too long");
            goto fail;
        }
        used += (size_t)snprintf(out + used, cap - used, "%s%s", count ? "," : "", one);
        count++;
    }
    if (count == 0) {
        snprintf(err, err_size, "bad DNS server list \"%s\": no server in it", servers);
        goto fail;
    }
    free(copy);
    *csv = out;
    return 0;
fail:
    free(copy);
    free(out);
    return -1;
}

int da_resolver_check_servers(const char *servers, char *err, size_t err_size)
{
    char *csv = NULL;
    if (build_server_csv(servers, &csv, err, err_size) != 0)
        return -1;
    free(csv);
    return 0;
}

/* ---------------------------------------------------------- answers */

static void done_push(cares_resolver *cr, cares_query *query)
{
    query->next = NULL;
    if (cr->done_tail != NULL)
        cr->done_tail->next = query;
    else
        cr->done_head = query;
    cr->done_tail = query;
}

static void query_free(cares_query *query)
{
    da_dns_answer_free(query->answer);
    free(query->name);
    free(query);
}

static da_dns_status status_for_ares_error(int status)
{
    /* Everything but silence is a server or transport failure. */
    return status == ARES_ETIMEOUT ? DA_DNS_TIMEOUT : DA_DNS_SERVFAIL;
}

static void on_ares_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    cares_query *query = arg;
    cares_resolver *cr = query->owner;
    (void)timeouts;
    cr->in_flight--;
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED || cr->destroying) {
        /* Whoever waits must still hear, or it would wait forever. */
        static const da_dns_answer gone = {.status = DA_DNS_SERVFAIL};
        query->callback(query->arg, &query->question, &gone);
        query_free(query);
        return;
    }
    if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
        char why[160];
        query->answer = dns_wire_parse_response(abuf, (size_t)alen, &query->question, why,
                                                sizeof why);
    } else {
        query->answer = da_dns_answer_new(status_for_ares_error(status), 0);
    }
    done_push(cr, query);
}

static int cares_submit(void *impl, const da_dns_question *q, da_resolver_callback callback,
                        void *arg)
{
    cares_resolver *cr = impl;
    if (cr->destroying)
        return -1;
    cares_query *query = calloc(1, sizeof *query);
    if (query == NULL || (query->name = strdup(q->name)) == NULL) {
        free(query);
        return -1;
    }
    query->owner = cr;
    query->question.name = query->name;
    query->question.type = q->type;
    query->callback = callback;
    query->arg = arg;

    uint8_t packet[DNS_WIRE_MAX_QUERY];
    size_t packet_len = 0;
    /* c-ares puts its own random ID into the packet; ours is a placeholder. */
    if (dns_wire_build_query(0, q, cr->use_edns0, packet,
                             sizeof packet, &packet_len) != 0) {
        /* A name that cannot be encoded cannot exist. */
        query->answer = da_dns_answer_new(DA_DNS_NXDOMAIN, 0);
        done_push(cr, query);
        return 0;
    }
    cr->in_flight++;
    ares_send(cr->channel, packet, (int)packet_len, on_ares_answer, query);
    return 0;
}

static void deliver_done(cares_resolver *cr)
{
    /* Callbacks may submit more questions, which may land on this list. */
    while (cr->done_head != NULL) {
        cares_query *query = cr->done_head;
        cr->done_head = query->next;
        if (cr->done_head == NULL)
            cr->done_tail = NULL;
        da_dns_answer servfail = {.status = DA_DNS_SERVFAIL};
        query->callback(query->arg, &query->question,
                        query->answer != NULL ? query->answer : &servfail);
        query_free(query);
    }
}

/* ------------------------------------------------------ on a libuv loop */

static void loop_schedule(cares_resolver *cr);

static void on_loop_timer(uv_timer_t *timer)
{
    cares_resolver *cr = timer->data;
    ares_process_fd(cr->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    deliver_done(cr);
    loop_schedule(cr);
}

/* Queued answers go out on the next loop turn; otherwise wake for c-ares'
 * next timeout. */
static void loop_schedule(cares_resolver *cr)
{
    if (cr->destroying)
        return;
    if (cr->done_head != NULL) {
        uv_timer_start(&cr->timer, on_loop_timer, 0, 0);
        return;
    }
    if (cr->in_flight == 0) {
        uv_timer_stop(&cr->timer);
        return;
    }
    struct timeval buf;
    struct timeval *tv = ares_timeout(cr->channel, NULL, &buf);
    uint64_t ms = tv == NULL ? 1000 : (uint64_t)tv->tv_sec * 1000u + ((uint64_t)tv->tv_usec + 999) / 1000u;
    uv_timer_start(&cr->timer, on_loop_timer, ms, 0);
}

static void on_socket_ready(uv_poll_t *handle, int status, int events)
{
    cares_watch *w = handle->data;
    cares_resolver *cr = w->owner;
    /* On a poll error let c-ares read and write, so it sees the failure. */
    bool readable = status < 0 || (events & UV_READABLE);
    bool writable = status < 0 || (events & UV_WRITABLE);
    ares_process_fd(cr->channel, readable ? w->fd : ARES_SOCKET_BAD,
                    writable ? w->fd : ARES_SOCKET_BAD);
    deliver_done(cr);
    loop_schedule(cr);
}

static void on_watch_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void watch_close(cares_watch *w)
{
    uv_poll_stop(&w->handle);
    uv_close((uv_handle_t *)&w->handle, on_watch_closed);
}

/* c-ares tells us which sockets to watch, and stops before closing one. */
static void on_socket_state(void *data, ares_socket_t fd, int readable, int writable)
{
    cares_resolver *cr = data;
    cares_watch **slot = &cr->watches;
    while (*slot != NULL && (*slot)->fd != fd)
        slot = &(*slot)->next;
    cares_watch *w = *slot;
    if (!readable && !writable) {
        if (w != NULL) {
            *slot = w->next;
            watch_close(w);
        }
        return;
    }
    if (w == NULL) {
        w = calloc(1, sizeof *w);
        if (w == NULL)
            return; /* the query will time out */
        if (uv_poll_init_socket(cr->loop, &w->handle, fd) != 0) {
            free(w);
            return;
        }
        w->fd = fd;
        w->owner = cr;
        w->handle.data = w;
        w->next = cr->watches;
        cr->watches = w;
    }
    uv_poll_start(&w->handle, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                  on_socket_ready);
}

static int loop_submit(void *impl, const da_dns_question *q, da_resolver_callback callback,
                       void *arg)
{
    cares_resolver *cr = impl;
    int rc = cares_submit(impl, q, callback, arg);
    if (rc == 0)
        loop_schedule(cr);
    return rc;
}

static int loop_run(void *impl)
{
    (void)impl; /* the loop's owner runs the loop */
    return 0;
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void loop_destroy(void *impl)
{
    cares_resolver *cr = impl;
    deliver_done(cr);
    cr->destroying = true;
    if (cr->channel_ready)
        ares_destroy(cr->channel);
    while (cr->watches != NULL) {
        cares_watch *w = cr->watches;
        cr->watches = w->next;
        watch_close(w);
    }
    while (cr->done_head != NULL) {
        cares_query *query = cr->done_head;
        cr->done_head = query->next;
        query_free(query);
    }
    if (cr->library_ready)
        ares_library_cleanup();
    /* The timer handle lives inside cr: free cr once the loop has closed it. */
    uv_timer_stop(&cr->timer);
    uv_close((uv_handle_t *)&cr->timer, on_timer_closed);
}

static const resolver_ops loop_resolver_ops = {
    .submit = loop_submit, .run = loop_run, .destroy = loop_destroy};

/* ------------------------------------------------------------ run */

static int poll_timeout_ms(cares_resolver *cr)
{
    struct timeval buf;
    struct timeval *tv = ares_timeout(cr->channel, NULL, &buf);
    if (tv == NULL)
        return 1000;
    long long ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;
    return ms > 60000 ? 60000 : (int)ms;
}

/* Waits for the channel's sockets once and lets c-ares handle what is ready
 * (including expired timeouts). */
static int wait_and_process(cares_resolver *cr)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct pollfd fds[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(cr->channel, socks, ARES_GETSOCK_MAXNUM);
    nfds_t count = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        /* The bits are tested unsigned: c-ares' own ARES_GETSOCK_WRITABLE
         * shifts a signed 1 into the sign bit for the last socket. */
        unsigned mask = (unsigned)bits;
        short events = 0;
        if ((mask >> i) & 1u)
            events |= POLLIN;
        if ((mask >> (i + ARES_GETSOCK_MAXNUM)) & 1u)
            events |= POLLOUT;
        if (events == 0)
            continue;
        fds[count].fd = socks[i];
        fds[count].events = events;
        fds[count].revents = 0;
        count++;
    }
    int ready = poll(fds, count, poll_timeout_ms(cr));
    if (ready < 0)
        return errno == EINTR ? 0 : -1;
    if (ready == 0) {
        ares_process_fd(cr->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        return 0;
    }
    for (nfds_t i = 0; i < count; i++) {
        if (fds[i].revents == 0)
            continue;
        bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
        bool writable = (fds[i].revents & POLLOUT) != 0;
        ares_process_fd(cr->channel, readable ? fds[i].fd : ARES_SOCKET_BAD,
                        writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
    return 0;
}

static int cares_run(void *impl)
{
    cares_resolver *cr = impl;
    for (;;) {
        deliver_done(cr);
        if (cr->in_flight == 0 && cr->done_head == NULL)
            return 0;
        if (cr->in_flight > 0 && wait_and_process(cr) != 0)
            return -1;
    }
}

static void cares_destroy(void *impl)
{
    cares_resolver *cr = impl;
    deliver_done(cr);
    cr->destroying = true;
    if (cr->channel_ready)
        ares_destroy(cr->channel); /* frees in-flight queries via their callbacks */
    while (cr->done_head != NULL) {
        cares_query *query = cr->done_head;
        cr->done_head = query->next;
        query_free(query);
    }
    if (cr->library_ready)
        ares_library_cleanup();
    free(cr);
}

static const resolver_ops cares_resolver_ops = {
    .submit = cares_submit, .run = cares_run, .destroy = cares_destroy};

/* ------------------------------------------------------------ setup */

static int open_channel(cares_resolver *cr, const da_resolver_options *opt, char *err,
                        size_t err_size)
{
    struct ares_options ao;
    memset(&ao, 0, sizeof ao);
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_RCVBUF;
    /* Many questions in flight share one UDP socket per server: a burst of
     * answers must not overflow its receive buffer (each lost answer costs
     * a whole timeout). The kernel caps this at net.core.rmem_max. */
    ao.socket_receive_buffer_size = 4 << 20;
    /* No IGNTC: a truncated UDP answer makes c-ares ask again over TCP. */
    ao.flags = ARES_FLAG_NOSEARCH;
    ao.timeout = opt->timeout_ms ? (int)opt->timeout_ms : DEFAULT_TIMEOUT_MS;
    ao.tries = opt->tries ? (int)opt->tries : DEFAULT_TRIES;
    if (opt->use_edns0) {
        /* With EDNS, c-ares also drops our trailing OPT record and retries
         * when a server answers FORMERR without one (RFC 6891 7). */
        ao.flags |= ARES_FLAG_EDNS;
        ao.ednspsz = DNS_WIRE_EDNS_PAYLOAD;
        mask |= ARES_OPT_EDNSPSZ;
    }
    if (cr->loop != NULL) {
        ao.sock_state_cb = on_socket_state;
        ao.sock_state_cb_data = cr;
        mask |= ARES_OPT_SOCK_STATE_CB;
    }
    int rc = ares_init_options(&cr->channel, &ao, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, err_size, "cannot set up the c-ares resolver: %s", ares_strerror(rc));
        return -1;
    }
    cr->channel_ready = true;
    if (opt->servers == NULL)
        return 0;
    char *csv = NULL;
    if (build_server_csv(opt->servers, &csv, err, err_size) != 0)
        return -1;
    rc = ares_set_servers_ports_csv(cr->channel, csv);
    free(csv);
    if (rc != ARES_SUCCESS) {
        snprintf(err, err_size, "bad DNS server list \"%s\": %s", opt->servers,
                 ares_strerror(rc));
        return -1;
    }
    return 0;
}

static cares_resolver *cares_create(uv_loop_t *loop, const da_resolver_options *options,
                                     char *err, size_t err_size)
{
    static const da_resolver_options defaults = {0};
    const da_resolver_options *opt = options != NULL ? options : &defaults;
    cares_resolver *cr = calloc(1, sizeof *cr);
    if (cr == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    cr->use_edns0 = opt->use_edns0;
    cr->loop = loop;
    /* Reference counted by c-ares; balanced in destroy. */
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        snprintf(err, err_size, "cannot initialise c-ares: %s", ares_strerror(rc));
        free(cr);
        return NULL;
    }
    cr->library_ready = true;
    if (open_channel(cr, opt, err, err_size) != 0) {
        cr->loop = NULL; /* no timer was set up: destroy the blocking way */
        cares_destroy(cr);
        return NULL;
    }
    return cr;
}

da_resolver *da_resolver_new_cares(const da_resolver_options *options, char *err,
                                   size_t err_size)
{
    cares_resolver *cr = cares_create(NULL, options, err, err_size);
    if (cr == NULL)
        return NULL;
    da_resolver *resolver = resolver_wrap(&cares_resolver_ops, cr);
    if (resolver == NULL)
        snprintf(err, err_size, "out of memory");
    return resolver;
}

da_resolver *da_resolver_new_uv(uv_loop_t *loop, const da_resolver_options *options, char *err,
                                size_t err_size)
{
    if (loop == NULL) {
        snprintf(err, err_size, "no event loop given");
        return NULL;
    }
    cares_resolver *cr = cares_create(loop, options, err, err_size);
    if (cr == NULL)
        return NULL;
    uv_timer_init(loop, &cr->timer);
    cr->timer.data = cr;
    da_resolver *resolver = resolver_wrap(&loop_resolver_ops, cr);
    if (resolver == NULL)
        snprintf(err, err_size, "out of memory");
    return resolver;
}
