/* delay_proxy.c: a DNS proxy for the benchmark that holds every query for a
 * fixed time before forwarding it (UDP and TCP) and relays replies at once,
 * to emulate network latency where netem is missing. One thread, epoll,
 * timerfd; reports its own counters, CPU time and lateness on SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

enum {
    SLOTS = 65536,          /* UDP queries in flight: one per 16-bit DNS ID */
    MSG_MAX = 4096,
    BATCH = 64,
    TCP_BUF = 65535 + 2,
};

#define STALE_NS 5000000000LL /* a UDP query unanswered this long is let go */

typedef enum {
    EV_UDP_LISTEN, EV_UDP_UPSTREAM, EV_TCP_LISTEN, EV_TIMER, EV_TCP_CLIENT, EV_TCP_UPSTREAM
} ev_kind;

struct tcp_conn;
typedef struct endpoint {
    ev_kind kind;
    int fd;
    struct tcp_conn *conn; /* TCP connections only */
} endpoint;

typedef struct tcp_conn {
    endpoint client, upstream;
    int pending;               /* chunks queued for upstream */
    bool closed;
} tcp_conn;

/* A held query: a UDP datagram (slot >= 0) or a TCP chunk (conn != NULL). */
typedef struct held {
    int64_t due_ns;
    int slot;
    tcp_conn *conn;
    size_t len;
    unsigned char *data;
} held;

typedef struct udp_slot {
    bool busy;
    uint16_t client_id;
    int64_t sent_ns;
    struct sockaddr_storage client;
    socklen_t client_len;
} udp_slot;

typedef struct proxy {
    int epoll_fd, timer_fd;
    endpoint udp_listen, udp_upstream, tcp_listen, timer;
    struct sockaddr_in upstream_addr;
    int64_t delay_ns;
    udp_slot slots[SLOTS];
    int free_slots[SLOTS], free_count;
    held *queue;       /* ring; delays are equal, so arrival order is due order */
    size_t q_head, q_len, q_cap;
    uint64_t udp_queries, udp_replies, udp_dropped, udp_stale, tcp_conns, tcp_chunks;
    uint64_t max_queue, released;
    double lateness_sum_ms, lateness_max_ms;
} proxy;

static volatile sig_atomic_t stop_requested, stats_requested;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        stats_requested = 1;
    else
        stop_requested = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int parse_addr(const char *text, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    if (len >= sizeof host)
        return -1;
    memcpy(host, text, len);
    host[len] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(colon ? (uint16_t)atoi(colon + 1) : 53);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static void watch(proxy *p, endpoint *e, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = e};
    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, e->fd, &ev) != 0)
        die("epoll_ctl");
}

static int open_socket(int type, const struct sockaddr_in *bind_to)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, size = 8 << 20;
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Bursts of thousands of queries must not overflow the socket buffers:
     * the FORCE variants (root) go past net.core.rmem_max. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (bind_to && bind(fd, (const struct sockaddr *)bind_to, sizeof *bind_to) != 0)
        die("bind");
    return fd;
}

/* ------------------------------------------------------------ the queue */

static void arm_timer(proxy *p)
{
    struct itimerspec its = {0};
    if (p->q_len > 0) {
        int64_t due = p->queue[p->q_head].due_ns;
        its.it_value.tv_sec = due / 1000000000LL;
        its.it_value.tv_nsec = due % 1000000000LL;
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
    }
    timerfd_settime(p->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void queue_push(proxy *p, held h)
{
    if (p->q_len == p->q_cap) {
        size_t cap = p->q_cap ? p->q_cap * 2 : 4096;
        held *q = malloc(cap * sizeof *q);
        if (q == NULL)
            die("malloc");
        for (size_t i = 0; i < p->q_len; i++)
            q[i] = p->queue[(p->q_head + i) % p->q_cap];
        free(p->queue);
        p->queue = q;
        p->q_head = 0;
        p->q_cap = cap;
    }
    p->queue[(p->q_head + p->q_len) % p->q_cap] = h;
    if (++p->q_len > p->max_queue)
        p->max_queue = p->q_len;
    if (p->q_len == 1)
        arm_timer(p);
}

static void release_one(proxy *p, held *h, int64_t now)
{
    double late_ms = (double)(now - h->due_ns) / 1e6;
    p->lateness_sum_ms += late_ms;
    if (late_ms > p->lateness_max_ms)
        p->lateness_max_ms = late_ms;
    p->released++;
    if (h->conn == NULL) {
        p->slots[h->slot].sent_ns = now;
        sendto(p->udp_upstream.fd, h->data, h->len, 0,
               (const struct sockaddr *)&p->upstream_addr, sizeof p->upstream_addr);
    } else {
        h->conn->pending--;
        if (!h->conn->closed)
            (void)!send(h->conn->upstream.fd, h->data, h->len, MSG_NOSIGNAL);
        else if (h->conn->pending == 0)
            free(h->conn);
    }
    free(h->data);
}

static void release_due(proxy *p)
{
    uint64_t expirations;
    (void)!read(p->timer_fd, &expirations, sizeof expirations);
    int64_t now = now_ns();
    while (p->q_len > 0 && p->queue[p->q_head].due_ns <= now) {
        release_one(p, &p->queue[p->q_head], now);
        p->q_head = (p->q_head + 1) % p->q_cap;
        p->q_len--;
    }
    arm_timer(p);
}

static unsigned char *copy_bytes(const void *data, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        die("malloc");
    memcpy(copy, data, len);
    return copy;
}

/* ------------------------------------------------------------------ UDP */

static void free_stale_slots(proxy *p, int64_t now)
{
    for (int i = 0; i < SLOTS; i++) {
        if (p->slots[i].busy && p->slots[i].sent_ns != 0 &&
            now - p->slots[i].sent_ns > STALE_NS) {
            p->slots[i].busy = false;
            p->free_slots[p->free_count++] = i;
            p->udp_stale++;
        }
    }
}

static void udp_hold(proxy *p, unsigned char *msg, size_t len, const struct sockaddr_storage *from,
                     socklen_t from_len, int64_t now)
{
    p->udp_queries++;
    if (len < 12 || p->free_count == 0) {
        p->udp_dropped++;
        return;
    }
    int slot = p->free_slots[--p->free_count];
    udp_slot *s = &p->slots[slot];
    *s = (udp_slot){true, (uint16_t)(msg[0] << 8 | msg[1]), 0, *from, from_len};
    msg[0] = (unsigned char)(slot >> 8);
    msg[1] = (unsigned char)slot;
    queue_push(p, (held){now + p->delay_ns, slot, NULL, len, copy_bytes(msg, len)});
}

static void udp_read_queries(proxy *p)
{
    static unsigned char bufs[BATCH][MSG_MAX];
    static struct sockaddr_storage addrs[BATCH];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){bufs[i], MSG_MAX};
            msgs[i].msg_hdr = (struct msghdr){.msg_name = &addrs[i],
                                              .msg_namelen = sizeof addrs[i],
                                              .msg_iov = &iov[i], .msg_iovlen = 1};
        }
        int n = recvmmsg(p->udp_listen.fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        int64_t now = now_ns();
        if (p->free_count < BATCH)
            free_stale_slots(p, now);
        for (int i = 0; i < n; i++)
            udp_hold(p, bufs[i], msgs[i].msg_len, &addrs[i], msgs[i].msg_hdr.msg_namelen, now);
    }
}

static void udp_relay_replies(proxy *p)
{
    unsigned char msg[MSG_MAX];
    for (;;) {
        ssize_t len = recv(p->udp_upstream.fd, msg, sizeof msg, MSG_DONTWAIT);
        if (len < 0)
            return;
        if (len < 12)
            continue;
        int slot = msg[0] << 8 | msg[1];
        udp_slot *s = &p->slots[slot];
        if (!s->busy)
            continue;
        msg[0] = (unsigned char)(s->client_id >> 8);
        msg[1] = (unsigned char)s->client_id;
        sendto(p->udp_listen.fd, msg, (size_t)len, 0, (struct sockaddr *)&s->client,
               s->client_len);
        s->busy = false;
        p->free_slots[p->free_count++] = slot;
        p->udp_replies++;
    }
}

/* ------------------------------------------------------------------ TCP */

static void tcp_close(proxy *p, tcp_conn *c)
{
    epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, c->client.fd, NULL);
    epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, c->upstream.fd, NULL);
    close(c->client.fd);
    close(c->upstream.fd);
    c->closed = true;
    if (c->pending == 0)
        free(c);
}

static void tcp_accept(proxy *p)
{
    int fd;
    while ((fd = accept4(p->tcp_listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (up < 0 || connect(up, (struct sockaddr *)&p->upstream_addr,
                              sizeof p->upstream_addr) != 0) {
            close(fd);
            if (up >= 0)
                close(up);
            continue;
        }
        fcntl(up, F_SETFL, O_NONBLOCK);
        tcp_conn *c = calloc(1, sizeof *c);
        if (c == NULL)
            die("calloc");
        c->client = (endpoint){EV_TCP_CLIENT, fd, c};
        c->upstream = (endpoint){EV_TCP_UPSTREAM, up, c};
        watch(p, &c->client, EPOLLIN);
        watch(p, &c->upstream, EPOLLIN);
        p->tcp_conns++;
    }
}

/* Client bytes are held like UDP queries; upstream bytes go back at once. */
static void tcp_readable(proxy *p, endpoint *e)
{
    tcp_conn *c = e->conn;
    bool from_client = e->kind == EV_TCP_CLIENT;
    static unsigned char buf[TCP_BUF];
    ssize_t len = recv(e->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (len <= 0) {
        if (len == 0 || (errno != EAGAIN && errno != EINTR))
            tcp_close(p, c);
        return;
    }
    if (!from_client) {
        (void)!send(c->client.fd, buf, (size_t)len, MSG_NOSIGNAL);
        return;
    }
    c->pending++;
    p->tcp_chunks++;
    queue_push(p, (held){now_ns() + p->delay_ns, -1, c, (size_t)len, copy_bytes(buf, (size_t)len)});
}

/* ---------------------------------------------------------------- main */

static void print_stats(const proxy *p, FILE *out)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    fprintf(out,
            "PROXY udp_queries=%llu udp_replies=%llu udp_dropped=%llu udp_stale=%llu "
            "tcp_conns=%llu tcp_chunks=%llu max_held=%llu lateness_mean_ms=%.3f "
            "lateness_max_ms=%.3f cpu_s=%.3f\n",
            (unsigned long long)p->udp_queries, (unsigned long long)p->udp_replies,
            (unsigned long long)p->udp_dropped, (unsigned long long)p->udp_stale,
            (unsigned long long)p->tcp_conns, (unsigned long long)p->tcp_chunks,
            (unsigned long long)p->max_queue,
            p->released ? p->lateness_sum_ms / (double)p->released : 0.0, p->lateness_max_ms,
            cpu);
    fflush(out);
}

static void setup(proxy *p, const char *listen_text, const char *upstream_text, int delay_ms)
{
    struct sockaddr_in listen_addr;
    if (parse_addr(listen_text, &listen_addr) != 0 ||
        parse_addr(upstream_text, &p->upstream_addr) != 0) {
        fprintf(stderr, "delay_proxy: bad address (IPv4[:port] expected)\n");
        exit(2);
    }
    p->delay_ns = (int64_t)delay_ms * 1000000LL;
    for (int i = 0; i < SLOTS; i++)
        p->free_slots[i] = SLOTS - 1 - i;
    p->free_count = SLOTS;
    p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->epoll_fd < 0 || p->timer_fd < 0)
        die("epoll/timerfd");
    p->udp_listen = (endpoint){EV_UDP_LISTEN, open_socket(SOCK_DGRAM, &listen_addr), NULL};
    p->udp_upstream = (endpoint){EV_UDP_UPSTREAM, open_socket(SOCK_DGRAM, NULL), NULL};
    p->tcp_listen = (endpoint){EV_TCP_LISTEN, open_socket(SOCK_STREAM, &listen_addr), NULL};
    p->timer = (endpoint){EV_TIMER, p->timer_fd, NULL};
    if (listen(p->tcp_listen.fd, 512) != 0)
        die("listen");
    watch(p, &p->udp_listen, EPOLLIN);
    watch(p, &p->udp_upstream, EPOLLIN);
    watch(p, &p->tcp_listen, EPOLLIN);
    watch(p, &p->timer, EPOLLIN);
}

static void dispatch(proxy *p, endpoint *e)
{
    switch (e->kind) {
    case EV_UDP_LISTEN: udp_read_queries(p); break;
    case EV_UDP_UPSTREAM: udp_relay_replies(p); break;
    case EV_TCP_LISTEN: tcp_accept(p); break;
    case EV_TIMER: release_due(p); break;
    case EV_TCP_CLIENT:
    case EV_TCP_UPSTREAM: tcp_readable(p, e); break;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: delay_proxy LISTEN-ADDR[:PORT] UPSTREAM-ADDR[:PORT] DELAY-MS\n");
        return 2;
    }
    static proxy p;
    setup(&p, argv[1], argv[2], atoi(argv[3]));
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    fprintf(stderr, "delay_proxy: %s -> %s, %s ms\n", argv[1], argv[2], argv[3]);
    while (!stop_requested) {
        struct epoll_event events[64];
        int n = epoll_wait(p.epoll_fd, events, 64, -1);
        for (int i = 0; i < n; i++)
            dispatch(&p, events[i].data.ptr);
        if (stats_requested) {
            stats_requested = 0;
            print_stats(&p, stdout);
        }
    }
    print_stats(&p, stdout);
    return 0;
}
