/* policy_client.c: drives a Postfix policy delegation server (domauthd's
 * policy listener, or policyd-spf behind socat) the way Postfix's smtpd
 * does: requests of the form smtpd_access_policy / protocol_state=RCPT,
 * one outstanding per connection, sent when the previous "action=" reply
 * has arrived. With --conns C it keeps C such connections busy at once.
 *
 * It reads the benchmark's request stream (bench/gen_world.py's format),
 * optionally runs a warming pass, then measures --reps rounds over it:
 * requests/s, per-request latency (send to complete reply), the server
 * process's CPU seconds (from /proc/PID/stat, all its threads) and peak
 * RSS (VmHWM), and the SPF result each reply carries (the Received-SPF
 * header of its PREPEND). Benchmark code, not part of libdomauth. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../bench_util.h"

#define REPLY_MAX 8192
#define RESULT_MAX 16

typedef struct conn {
    int fd;
    long slot;            /* index into the pass's arrays, -1 when idle */
    double sent_at;
    char *out;            /* request being written */
    size_t out_len, out_off;
    char in[REPLY_MAX];
    size_t in_len;
} conn;

typedef struct options {
    const char *host;
    int port;
    const char *stream_path;
    size_t count;
    int conns;
    int warm;             /* warming passes before the measured one */
    int reps;             /* rounds over the stream in the measured pass */
    long server_pid;
    const char *label;
    const char *results_path;
    const char *replies_path;
    const char *hook;
    unsigned tag;         /* makes the instance attribute unique per run */
    double timeout_s;     /* per reply */
} options;

typedef struct pass {
    size_t count;
    double *latency_ms;
    char (*result)[RESULT_MAX];
    char **reply;         /* raw replies of the last round, when kept */
    size_t keep_from;
} pass;

static void die(const char *fmt, const char *detail)
{
    fprintf(stderr, "policy_client: ");
    fprintf(stderr, fmt, detail);
    fprintf(stderr, "\n");
    exit(1);
}

/* ------------------------------------------------------------ requests */

/* One request as Postfix 3.7's smtpd sends it at RCPT TO (the attribute
 * list of SMTPD_POLICY_README). queue_id is empty: with the default
 * smtpd_delay_open_until_valid_rcpt = yes there is no queue file yet at
 * the first RCPT. client_name is "unknown": the world has no PTR records. */
static char *build_request(const bench_request *r, unsigned tag, unsigned round, size_t i,
                           size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        die("%s", "out of memory");
    fprintf(f,
            "request=smtpd_access_policy\n"
            "protocol_state=RCPT\n"
            "protocol_name=ESMTP\n"
            "client_address=%s\n"
            "client_name=unknown\n"
            "client_port=%u\n"
            "reverse_client_name=unknown\n"
            "server_address=127.0.0.1\n"
            "server_port=25\n"
            "helo_name=%s\n"
            "sender=%s\n"
            "recipient=rcpt%zu@mx.bench.example\n"
            "recipient_count=0\n"
            "queue_id=\n"
            "instance=%x.%x.%zx.0\n"
            "size=%zu\n"
            "etrn_domain=\n"
            "stress=\n"
            "sasl_method=\n"
            "sasl_username=\n"
            "sasl_sender=\n"
            "ccert_subject=\n"
            "ccert_issuer=\n"
            "ccert_fingerprint=\n"
            "ccert_pubkey_fingerprint=\n"
            "encryption_protocol=TLSv1.3\n"
            "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
            "encryption_keysize=256\n"
            "policy_context=\n"
            "compatibility_level=3.6\n"
            "mail_version=3.7.11\n"
            "\n",
            r->ip, 1024u + (unsigned)(i % 60000), r->helo, r->mail_from, i % 97, tag, round, i,
            2048 + (i % 7) * 1531);
    fclose(f);
    *len = size;
    return text;
}

/* The SPF result a reply carries: the first word of a prepended
 * Received-SPF (or the spf= of an Authentication-Results); otherwise the
 * action itself (dunno, reject, ...), which counts as a disagreement. */
static void reply_result(const char *reply, char out[RESULT_MAX])
{
    const char *p = strcasestr(reply, "Received-SPF:");
    if (p != NULL) {
        p += strlen("Received-SPF:");
    } else if ((p = strcasestr(reply, "spf=")) != NULL) {
        p += 4;
    } else if ((p = strcasestr(reply, "action=")) != NULL) {
        p += 7;
    } else {
        snprintf(out, RESULT_MAX, "noreply");
        return;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = 0;
    while (n + 1 < RESULT_MAX && isalnum((unsigned char)p[n])) {
        out[n] = (char)tolower((unsigned char)p[n]);
        n++;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, RESULT_MAX, "empty");
}

/* ------------------------------------------------------------- server */

static double server_cpu_s(long pid)
{
    if (pid <= 0)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command's closing parenthesis: state is field 3,
     * utime 14 and stime 15 (proc(5)); they include every thread. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double server_peak_rss_mib(long pid)
{
    if (pid <= 0)
        return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    double kib = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtod(line + 6, NULL);
    fclose(f);
    return kib / 1024.0;
}

static int connect_to(const options *o)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1)
        die("bad address %s", o->host);
    /* The server may still be starting: retry for up to 20 s. */
    for (int tries = 0; tries < 200; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        close(fd);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    die("cannot connect to the server: %s", strerror(errno));
    return -1;
}

/* -------------------------------------------------------------- a pass */

static void start_request(conn *c, const bench_stream *s, const options *o, unsigned round,
                          size_t slot)
{
    size_t n = s->count;
    c->out = build_request(&s->requests[slot % n], o->tag, round, slot, &c->out_len);
    c->out_off = 0;
    c->in_len = 0;
    c->slot = (long)slot;
    c->sent_at = bench_now();
}

/* Writes what it can; 0 on success, -1 when the connection failed. */
static int flush_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w <= 0)
            return -1;
        c->out_off += (size_t)w;
    }
    free(c->out);
    c->out = NULL;
    return 0;
}

/* One pass of `total` requests over the stream, round `round`, spread over
 * the connections. Returns 0, or -1 when the server failed us. */
static int run_pass(conn *conns, const options *o, const bench_stream *s, unsigned round,
                    pass *p)
{
    size_t next = 0, done = 0;
    struct pollfd *pfd = calloc((size_t)o->conns, sizeof *pfd);
    if (pfd == NULL)
        die("%s", "out of memory");
    for (int k = 0; k < o->conns && next < p->count; k++) {
        start_request(&conns[k], s, o, round, next++);
        if (flush_out(&conns[k]) != 0)
            die("%s", "write failed");
    }
    while (done < p->count) {
        for (int k = 0; k < o->conns; k++) {
            pfd[k].fd = conns[k].slot >= 0 ? conns[k].fd : -1;
            pfd[k].events = POLLIN | (conns[k].out != NULL ? POLLOUT : 0);
            pfd[k].revents = 0;
        }
        int ready = poll(pfd, (nfds_t)o->conns, (int)(o->timeout_s * 1000));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            fprintf(stderr, "policy_client: no reply within %.0f s (%zu of %zu done)\n",
                    o->timeout_s, done, p->count);
            free(pfd);
            return -1;
        }
        for (int k = 0; k < o->conns; k++) {
            conn *c = &conns[k];
            if (pfd[k].revents == 0 || c->slot < 0)
                continue;
            if ((pfd[k].revents & POLLOUT) && flush_out(c) != 0)
                die("%s", "write failed");
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                fprintf(stderr, "policy_client: the server closed the connection (%zu done)\n",
                        done);
                free(pfd);
                return -1;
            }
            c->in_len += (size_t)r;
            c->in[c->in_len] = '\0';
            if (strstr(c->in, "\n\n") == NULL) {
                if (c->in_len + 1 >= sizeof c->in)
                    die("%s", "reply too long");
                continue;
            }
            size_t slot = (size_t)c->slot;
            p->latency_ms[slot] = (bench_now() - c->sent_at) * 1000.0;
            reply_result(c->in, p->result[slot]);
            if (p->reply != NULL && slot >= p->keep_from)
                p->reply[slot - p->keep_from] = strndup(c->in, c->in_len);
            c->slot = -1;
            done++;
            if (next < p->count) {
                start_request(c, s, o, round, next++);
                if (flush_out(c) != 0)
                    die("%s", "write failed");
            }
        }
    }
    free(pfd);
    return 0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double pct)
{
    size_t rank = (size_t)(pct / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return sorted[(rank > n ? n : rank) - 1];
}

static void usage(void)
{
    fprintf(stderr,
            "usage: policy_client --connect HOST:PORT --stream FILE [--count N] [--conns C]\n"
            "       [--warm N] [--reps R] [--server-pid PID] [--label L] [--results FILE]\n"
            "       [--replies FILE] [--hook CMD] [--tag N] [--timeout S]\n");
    exit(64);
}

int main(int argc, char **argv)
{
    options o = {.host = "127.0.0.1", .port = 10045, .conns = 1, .warm = 1, .reps = 1,
                 .label = "policy", .tag = 1, .timeout_s = 60};
    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'}, {"stream", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'n'},   {"conns", required_argument, NULL, 'C'},
        {"warm", required_argument, NULL, 'w'},    {"reps", required_argument, NULL, 'r'},
        {"server-pid", required_argument, NULL, 'p'},
        {"label", required_argument, NULL, 'l'},   {"results", required_argument, NULL, 'o'},
        {"replies", required_argument, NULL, 'R'}, {"hook", required_argument, NULL, 'H'},
        {"tag", required_argument, NULL, 't'},     {"timeout", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0}};
    int opt;
    static char host[64];
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || (size_t)(colon - optarg) >= sizeof host)
                usage();
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            o.host = host;
            o.port = atoi(colon + 1);
            break;
        }
        case 's': o.stream_path = optarg; break;
        case 'n': o.count = strtoul(optarg, NULL, 10); break;
        case 'C': o.conns = atoi(optarg); break;
        case 'w': o.warm = atoi(optarg); break;
        case 'r': o.reps = atoi(optarg); break;
        case 'p': o.server_pid = strtol(optarg, NULL, 10); break;
        case 'l': o.label = optarg; break;
        case 'o': o.results_path = optarg; break;
        case 'R': o.replies_path = optarg; break;
        case 'H': o.hook = optarg; break;
        case 't': o.tag = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'T': o.timeout_s = atof(optarg); break;
        default: usage();
        }
    }
    if (o.stream_path == NULL || o.conns < 1 || o.reps < 1 || o.warm < 0)
        usage();

    bench_stream s;
    bench_stream_load(&s, o.stream_path, 0, o.count);
    bench_hook(o.hook, "start");
    conn *conns = calloc((size_t)o.conns, sizeof *conns);
    if (conns == NULL)
        die("%s", "out of memory");
    for (int k = 0; k < o.conns; k++) {
        conns[k].fd = connect_to(&o);
        conns[k].slot = -1;
    }
    /* Non-blocking from here: poll() says when to read and write. */
    for (int k = 0; k < o.conns; k++)
        if (fcntl(conns[k].fd, F_SETFL, fcntl(conns[k].fd, F_GETFL) | O_NONBLOCK) != 0)
            die("fcntl: %s", strerror(errno));

    /* Warming passes: the same requests, their own instance numbers. */
    pass warm = {.count = s.count};
    warm.latency_ms = calloc(s.count, sizeof *warm.latency_ms);
    warm.result = calloc(s.count, sizeof *warm.result);
    if (warm.latency_ms == NULL || warm.result == NULL)
        die("%s", "out of memory");
    for (int w = 0; w < o.warm; w++) {
        double t0 = bench_now();
        if (run_pass(conns, &o, &s, 0x100u + (unsigned)w, &warm) != 0) {
            printf("FAILED label=%s in the warming pass\n", o.label);
            return 1;
        }
        fprintf(stderr, "policy_client: %s warming pass %d: %zu requests in %.2f s\n", o.label,
                w + 1, s.count, bench_now() - t0);
    }

    pass m = {.count = s.count * (size_t)o.reps};
    m.latency_ms = calloc(m.count, sizeof *m.latency_ms);
    m.result = calloc(m.count, sizeof *m.result);
    if (m.latency_ms == NULL || m.result == NULL)
        die("%s", "out of memory");
    m.keep_from = m.count - s.count;
    if (o.replies_path != NULL && (m.reply = calloc(s.count, sizeof *m.reply)) == NULL)
        die("%s", "out of memory");

    bench_hook(o.hook, "before");
    double cpu0 = server_cpu_s(o.server_pid), client0 = bench_cpu_s();
    double t0 = bench_now();
    int failed = run_pass(conns, &o, &s, 0x200u, &m);
    double wall = bench_now() - t0;
    double cpu = server_cpu_s(o.server_pid) - cpu0, client = bench_cpu_s() - client0;
    double rss = server_peak_rss_mib(o.server_pid);
    bench_hook(o.hook, "after");
    if (failed != 0) {
        printf("FAILED label=%s in the measured pass\n", o.label);
        return 1;
    }

    double *sorted = malloc(m.count * sizeof *sorted);
    if (sorted == NULL)
        die("%s", "out of memory");
    memcpy(sorted, m.latency_ms, m.count * sizeof *sorted);
    qsort(sorted, m.count, sizeof *sorted, compare_double);
    printf("RESULT label=%s checks=%zu wall_s=%.4f cpu_s=%.4f checks_per_s=%.1f "
           "p50_ms=%.4f p90_ms=%.4f p99_ms=%.4f max_ms=%.4f peak_rss_mib=%.1f conns=%d "
           "client_cpu_s=%.4f requests=%zu reps=%d\n",
           o.label, m.count, wall, cpu, wall > 0 ? (double)m.count / wall : 0.0,
           percentile(sorted, m.count, 50), percentile(sorted, m.count, 90),
           percentile(sorted, m.count, 99), sorted[m.count - 1], rss, o.conns, client,
           s.count, o.reps);
    fflush(stdout);

    if (o.results_path != NULL) {
        FILE *f = fopen(o.results_path, "w");
        if (f == NULL)
            die("cannot write %s", o.results_path);
        for (size_t i = m.keep_from; i < m.count; i++)
            fprintf(f, "%ld\t%s\t%.3f\n", s.requests[i % s.count].index, m.result[i],
                    m.latency_ms[i]);
        fclose(f);
    }
    if (m.reply != NULL) {
        FILE *f = fopen(o.replies_path, "w");
        if (f == NULL)
            die("cannot write %s", o.replies_path);
        for (size_t i = 0; i < s.count; i++) {
            char *r = m.reply[i] ? m.reply[i] : "";
            size_t len = strlen(r);
            while (len > 0 && r[len - 1] == '\n')
                len--;
            fprintf(f, "%ld\t%.*s\n", s.requests[i].index, (int)len, r);
            free(m.reply[i]);
        }
        fclose(f);
    }
    for (int k = 0; k < o.conns; k++)
        close(conns[k].fd);
    free(sorted);
    free(m.latency_ms);
    free(m.result);
    free(m.reply);
    free(warm.latency_ms);
    free(warm.result);
    free(conns);
    bench_stream_free(&s);
    return 0;
}
