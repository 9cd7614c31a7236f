/* spf_batch.c: "domauth spf batch", many SPF checks at once. Reads one
 * request a line, keeps up to --concurrency evaluations in flight on one
 * libuv loop over a shared DNS cache, and prints results in input order. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "commands.h"
#include "util/file.h"
#include "util/json.h"
#include "domauth.h"
#include "domauth_net.h"

static const char usage_spf_batch[] =
    "usage: domauth spf batch [options] < requests\n"
    "\n"
    "Checks many senders at once. Each input line is\n"
    "    CLIENT-IP MAIL-FROM HELO\n"
    "with MAIL-FROM written <> (or -) when empty; blank lines and lines starting\n"
    "with # are skipped. Each output line, in input order, is\n"
    "    RESULT CLIENT-IP MAIL-FROM HELO [mechanism]\n"
    "or, for a line that does not parse, 'error line N: reason'.\n"
    "\n"
    "options:\n"
    "  --concurrency N       evaluations in flight at once (default 100)\n"
    "  --deadline MS         time allowed per evaluation; then temperror (default 20000)\n"
    "  --dns-server ADDR[:PORT][,...]   as for spf check\n"
    "  --dns-timeout MS, --dns-tries N, --no-edns0   as for spf check (c-ares\n"
    "                        doubles the timeout on each retry)\n"
    "  --zone FILE           answer from a zone file instead, offline\n"
    "  --cache-size N        DNS cache entries (default 100000)\n"
    "  --receiver NAME       value of %{r}\n"
    "  --json                one JSON object a line instead\n"
    "  --stats               print throughput and cache counters to stderr\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 when every line was checked, 65 when some line did not parse,\n"
    "64 for a usage error, 66/70 as for spf check.\n";

typedef struct batch_slot {
    char *line;        /* the request as read, split in place into: */
    const char *ip, *from, *helo; /* its three words ("" for a null sender) */
    char *output;      /* the finished output line, or NULL while pending */
    unsigned line_number;
} batch_slot;

typedef struct batch {
    uv_loop_t loop;
    da_resolver *resolver;       /* what evaluations use (the cached one) */
    da_resolver *upstream;       /* c-ares on the loop, or the zone */
    bool zone_mode;
    da_dns_cache *cache;
    da_spf_record_cache *records;
    const char *receiver;
    unsigned deadline_ms, concurrency;
    bool json, input_done, any_bad_line;
    bool filling; /* inside fill(): a check may finish synchronously */
    /* stdin that can go quiet (a pipe, a terminal) is read on the loop, so
     * answers keep flowing while no input comes; a file is read directly. */
    bool stream_input;
    uv_pipe_t stdin_pipe;
    bool stdin_reading;
    char *partial;            /* an incomplete last line */
    size_t partial_len;
    char **lines;             /* complete lines not yet started */
    size_t lines_head, lines_count, lines_cap;
    unsigned line_number, in_flight;
    uint64_t checks;
    /* Slots from the oldest unprinted request on; a ring would bound memory
     * by the window, but requests finish nearly in order. */
    batch_slot *slots;
    size_t first, count, capacity;
    size_t first_index; /* the index the slot at `first` has */
} batch;

typedef struct batch_job {
    batch *b;
    size_t index;
} batch_job;

static batch_slot *slot_at(batch *b, size_t index)
{
    return &b->slots[(b->first + (index - b->first_index)) % b->capacity];
}

static void flush_ready(batch *b)
{
    bool wrote = false;
    while (b->count > 0 && b->slots[b->first].output != NULL) {
        wrote = true;
        batch_slot *s = &b->slots[b->first];
        fputs(s->output, stdout);
        free(s->output);
        free(s->line);
        s->output = s->line = NULL;
        b->first = (b->first + 1) % b->capacity;
        b->first_index++;
        b->count--;
    }
    /* Results go out as they are ready: a program feeding requests one at
     * a time waits for each answer. */
    if (wrote)
        fflush(stdout);
}

static int slot_push(batch *b, char *line, size_t *index)
{
    if (b->count == b->capacity) {
        size_t cap = b->capacity ? b->capacity * 2 : 256;
        batch_slot *n = calloc(cap, sizeof *n);
        if (n == NULL)
            return -1;
        for (size_t i = 0; i < b->count; i++)
            n[i] = b->slots[(b->first + i) % b->capacity];
        free(b->slots);
        b->slots = n;
        b->first = 0;
        b->capacity = cap;
    }
    *index = b->first_index + b->count;
    batch_slot *s = &b->slots[(b->first + b->count) % b->capacity];
    s->line = line;
    s->ip = s->from = s->helo = NULL;
    s->output = NULL;
    s->line_number = b->line_number;
    b->count++;
    return 0;
}

static char *format_output(batch *b, batch_slot *s, const da_spf_eval *ev, const char *ip,
                           const char *from, const char *helo)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return NULL;
    const char *result = da_spf_result_name(da_spf_eval_result(ev));
    const char *mech = da_spf_eval_mechanism(ev);
    if (b->json) {
        fprintf(out, "{\"line\":%u,\"result\":\"%s\",\"client_ip\":", s->line_number, result);
        json_fputs(out, ip);
        fputs(",\"mail_from\":", out);
        json_fputs(out, from);
        fputs(",\"helo\":", out);
        json_fputs(out, helo);
        fputs(",\"mechanism\":", out);
        json_fputs(out, mech);
        fputs(",\"problem\":", out);
        json_fputs(out, da_spf_eval_problem(ev));
        fputs("}\n", out);
    } else {
        fprintf(out, "%s %s %s %s", result, ip, *from ? from : "<>", helo);
        if (mech != NULL)
            fprintf(out, " %s", mech);
        fputc('\n', out);
    }
    fclose(out);
    return buf;
}

static void fill(batch *b);

static void on_checked(void *arg, da_spf_eval *ev)
{
    batch_job *job = arg;
    batch *b = job->b;
    batch_slot *s = slot_at(b, job->index);
    s->output = format_output(b, s, ev, s->ip, s->from, s->helo);
    if (s->output == NULL)
        s->output = strdup("error: out of memory\n");
    da_spf_eval_free(ev);
    free(job);
    b->in_flight--;
    b->checks++;
    flush_ready(b);
    fill(b);
}

/* Splits "IP FROM HELO" in place into three words; a MAIL FROM written
 * <> or - is the null sender. */
static const char *split_request(char *line, batch_slot *s)
{
    char *words[3];
    int n = 0;
    char *p = line;
    while (*p && n < 3) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        words[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (n < 3 || *p)
        return "expected three fields: CLIENT-IP MAIL-FROM HELO";
    s->ip = words[0];
    s->from = strcmp(words[1], "<>") == 0 || strcmp(words[1], "-") == 0 ? "" : words[1];
    s->helo = words[2];
    return NULL;
}

static char *error_output(unsigned line_number, const char *reason)
{
    size_t len = strlen(reason) + 48;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "error line %u: %s\n", line_number, reason);
    return out;
}

static void start_line(batch *b, char *line)
{
    size_t index;
    if (slot_push(b, line, &index) != 0) {
        free(line);
        b->input_done = true;
        return;
    }
    batch_slot *s = slot_at(b, index);
    const char *bad = split_request(line, s);
    if (bad != NULL) {
        b->any_bad_line = true;
        s->output = error_output(s->line_number, bad);
        flush_ready(b);
        return;
    }
    char err[256];
    da_spf_request req = {.client_ip = s->ip, .mail_from = s->from, .helo = s->helo,
                          .receiver = b->receiver, .now = (int64_t)time(NULL),
                          .records = b->records};
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    batch_job *job = ev ? malloc(sizeof *job) : NULL;
    if (job == NULL) {
        b->any_bad_line = true;
        s->output = error_output(s->line_number, ev ? "out of memory" : err);
        da_spf_eval_free(ev);
        flush_ready(b);
        return;
    }
    job->b = b;
    job->index = index;
    b->in_flight++;
    int rc = b->zone_mode ? da_spf_eval_start(ev, b->resolver, on_checked, job)
                          : da_spf_eval_start_uv(ev, &b->loop, b->resolver, b->deadline_ms,
                                                 on_checked, job);
    if (rc != 0) {
        b->in_flight--;
        free(job);
        da_spf_eval_free(ev);
        s->output = error_output(s->line_number, "could not start the evaluation");
        flush_ready(b);
    }
}

/* Takes one line (without its end) from the input: the next buffered line
 * (stream input) or one read now (file input). NULL: none available now. */
static char *next_line(batch *b)
{
    if (b->stream_input) {
        if (b->lines_count == 0)
            return NULL;
        char *line = b->lines[b->lines_head];
        b->lines_head = (b->lines_head + 1) % b->lines_cap;
        b->lines_count--;
        return line;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        b->input_done = true;
        return NULL;
    }
    return line;
}

static void start_reading(batch *b);

/* Starts requests until the window is full or input runs dry. */
static void fill(batch *b)
{
    if (b->filling)
        return;
    b->filling = true;
    while (b->in_flight < b->concurrency) {
        char *line = next_line(b);
        if (line == NULL)
            break;
        b->line_number++;
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#') {
            free(line);
            continue;
        }
        start_line(b, line);
    }
    b->filling = false;
    if (b->stream_input)
        start_reading(b);
}

/* ---- stdin on the loop ---- */

static int queue_line(batch *b, const char *data, size_t len)
{
    if (b->lines_count == b->lines_cap) {
        size_t cap = b->lines_cap ? b->lines_cap * 2 : 64;
        char **n = malloc(cap * sizeof *n);
        if (n == NULL)
            return -1;
        for (size_t i = 0; i < b->lines_count; i++)
            n[i] = b->lines[(b->lines_head + i) % b->lines_cap];
        free(b->lines);
        b->lines = n;
        b->lines_head = 0;
        b->lines_cap = cap;
    }
    char *line = malloc(len + 1);
    if (line == NULL)
        return -1;
    memcpy(line, data, len);
    line[len] = '\0';
    b->lines[(b->lines_head + b->lines_count) % b->lines_cap] = line;
    b->lines_count++;
    return 0;
}

static void stdin_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    char *p = malloc(suggested);
    *buf = uv_buf_init(p, p ? (unsigned)suggested : 0);
}

/* Splits what arrives into lines, keeping a partial last line. */
static void on_stdin(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    batch *b = stream->data;
    if (nread < 0) {
        if (b->partial_len > 0)
            queue_line(b, b->partial, b->partial_len);
        free(b->partial);
        b->partial = NULL;
        b->partial_len = 0;
        b->input_done = true;
        uv_read_stop(stream);
        b->stdin_reading = false;
    } else {
        const char *p = buf->base, *end = buf->base + nread;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t part = nl ? (size_t)(nl - p) : (size_t)(end - p);
            char *joined = realloc(b->partial, b->partial_len + part + 1);
            if (joined == NULL)
                break;
            b->partial = joined;
            memcpy(b->partial + b->partial_len, p, part);
            b->partial_len += part;
            if (nl == NULL)
                break;
            queue_line(b, b->partial, b->partial_len);
            b->partial_len = 0;
            p = nl + 1;
        }
    }
    free(buf->base);
    fill(b);
}

/* Reads while there is room: a full window stops reading, so a fast
 * producer cannot fill memory. */
static void start_reading(batch *b)
{
    if (b->input_done)
        return;
    bool want = b->lines_count < (size_t)b->concurrency;
    if (want && !b->stdin_reading) {
        if (uv_read_start((uv_stream_t *)&b->stdin_pipe, stdin_alloc, on_stdin) == 0)
            b->stdin_reading = true;
    } else if (!want && b->stdin_reading) {
        uv_read_stop((uv_stream_t *)&b->stdin_pipe);
        b->stdin_reading = false;
    }
}

int cmd_spf_batch(int argc, char **argv)
{
    enum { O_CONC = 256, O_DEADLINE, O_SERVER, O_TIMEOUT, O_TRIES, O_NOEDNS, O_ZONE, O_CACHE,
           O_RECEIVER, O_JSON, O_STATS };
    static const struct option options[] = {
        {"concurrency", required_argument, NULL, O_CONC},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"dns-timeout", required_argument, NULL, O_TIMEOUT},
        {"dns-tries", required_argument, NULL, O_TRIES},
        {"no-edns0", no_argument, NULL, O_NOEDNS},
        {"zone", required_argument, NULL, O_ZONE},
        {"cache-size", required_argument, NULL, O_CACHE},
        {"receiver", required_argument, NULL, O_RECEIVER},
        {"json", no_argument, NULL, O_JSON},
        {"stats", no_argument, NULL, O_STATS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    batch b = {.concurrency = 100, .deadline_ms = 20000};
    da_resolver_options ropt = {.use_edns0 = true};
    da_dns_cache_options copt = {0};
    const char *zone_path = NULL;
    bool stats = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        unsigned v = 0;
        if (c == O_CONC || c == O_DEADLINE || c == O_TIMEOUT || c == O_TRIES || c == O_CACHE) {
            char *end;
            errno = 0;
            unsigned long n = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || n == 0 || n > 10000000 || optarg[0] == '-') {
                fprintf(stderr, "domauth: --%s: '%s' is not a positive number in range\n",
                        options[c - O_CONC].name, optarg);
                return CLI_EXIT_USAGE;
            }
            v = (unsigned)n;
        }
        switch (c) {
        case O_CONC: b.concurrency = v; break;
        case O_DEADLINE: b.deadline_ms = v; break;
        case O_SERVER: ropt.servers = optarg; break;
        case O_TIMEOUT: ropt.timeout_ms = v; break;
        case O_TRIES: ropt.tries = v; break;
        case O_NOEDNS: ropt.use_edns0 = false; break;
        case O_ZONE: zone_path = optarg; break;
        case O_CACHE: copt.max_entries = v; break;
        case O_RECEIVER: b.receiver = optarg; break;
        case O_JSON: b.json = true; break;
        case O_STATS: stats = true; break;
        case 'h': fputs(usage_spf_batch, stdout); return 0;
        default: fputs(usage_spf_batch, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }

    char err[512] = "out of memory";
    da_zone *zone = NULL;
    int status = CLI_EXIT_SOFTWARE;
    uv_loop_init(&b.loop);
    b.cache = da_dns_cache_new(&copt);
    b.records = da_spf_record_cache_new(0);
    if (zone_path != NULL) {
        int load_status = da_zone_load_file(zone_path, &zone, err, sizeof err);
        if (load_status != 0) {
            fprintf(stderr, "domauth: %s\n", err);
            status = load_status;
            goto out;
        }
        b.upstream = da_resolver_new_zone(zone);
        b.zone_mode = true;
    } else {
        b.upstream = da_resolver_new_uv(&b.loop, &ropt, err, sizeof err);
    }
    if (b.upstream == NULL || b.cache == NULL || b.records == NULL ||
        (b.resolver = da_resolver_new_cached(b.cache, b.upstream)) == NULL) {
        fprintf(stderr, "domauth: cannot set up DNS: %s\n", err);
        goto out;
    }

    uv_handle_type input_type = uv_guess_handle(0);
    if (!b.zone_mode && (input_type == UV_NAMED_PIPE || input_type == UV_TTY ||
                         input_type == UV_TCP)) {
        if (uv_pipe_init(&b.loop, &b.stdin_pipe, 0) == 0 && uv_pipe_open(&b.stdin_pipe, 0) == 0) {
            b.stdin_pipe.data = &b;
            b.stream_input = true;
        }
    }
    uint64_t started = uv_hrtime();
    fill(&b);
    while (b.in_flight > 0 || !b.input_done || b.lines_count > 0) {
        if (b.zone_mode) {
            da_resolver_run(b.upstream);
        } else if (uv_run(&b.loop, UV_RUN_ONCE) == 0 && b.in_flight == 0 && b.lines_count == 0 &&
                   !b.stdin_reading) {
            b.input_done = true; /* nothing left that could make progress */
        }
        fill(&b);
    }
    flush_ready(&b);
    double seconds = (double)(uv_hrtime() - started) / 1e9;
    if (stats) {
        da_dns_cache_stats cs;
        da_dns_cache_get_stats(b.cache, &cs);
        uint64_t hits, parses;
        da_spf_record_cache_stats(b.records, &hits, &parses);
        fprintf(stderr,
                "checks %llu in %.3f s (%.0f/s); dns cache: %llu hits, %llu misses, %llu "
                "coalesced, %llu upstream errors, %zu entries; records: %llu parsed, %llu reused\n",
                (unsigned long long)b.checks, seconds, seconds > 0 ? (double)b.checks / seconds : 0.0,
                (unsigned long long)cs.hits, (unsigned long long)cs.misses,
                (unsigned long long)cs.coalesced, (unsigned long long)cs.upstream_errors, cs.entries,
                (unsigned long long)parses, (unsigned long long)hits);
    }
    status = b.any_bad_line ? CLI_EXIT_DATAERR : 0;

out:
    da_resolver_free(b.resolver);
    da_resolver_free(b.upstream);
    da_dns_cache_free(b.cache);
    da_spf_record_cache_free(b.records);
    da_zone_free(zone);
    if (b.stream_input)
        uv_close((uv_handle_t *)&b.stdin_pipe, NULL);
    for (size_t i = 0; i < b.lines_count; i++)
        free(b.lines[(b.lines_head + i) % b.lines_cap]);
    free(b.lines);
    free(b.partial);
    uv_run(&b.loop, UV_RUN_DEFAULT); /* let closing handles finish */
    uv_loop_close(&b.loop);
    for (size_t i = 0; i < b.count; i++) {
        free(b.slots[(b.first + i) % b.capacity].line);
        free(b.slots[(b.first + i) % b.capacity].output);
    }
    free(b.slots);
    return status;
}
