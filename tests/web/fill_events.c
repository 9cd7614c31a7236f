/* fill_events.c: writes N generated events into an event store, spread
 * over the week before now, for the console's demo (make demo-web) and for
 * measuring History over a large store (doc/domauth-web.8, PERFORMANCE).
 * Usage: fill_events DATABASE N [SEED]. Deterministic for a seed: clients,
 * senders, recipients, SPF/DKIM/DMARC results and actions in proportions
 * like a real inbound stream (mostly pass, some fail, a few skips). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/event_store.h"

static unsigned long long state;

static unsigned next(unsigned n)
{
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((state >> 33) % n);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fill_events DATABASE N [SEED]\n");
        return 64;
    }
    long long n = atoll(argv[2]);
    state = argc > 3 ? strtoull(argv[3], NULL, 10) : 14;
    static const char *const domains[] = {"example.com", "example.org", "mail.example.net",
                                          "partner.example", "news.example", "bank.example",
                                          "shop.example", "lists.example.org"};
    static const char *const users[] = {"alice", "bob", "carol", "news", "billing", "noreply",
                                        "dave", "support"};
    static const char *const spf[] = {"pass", "pass", "pass", "pass", "pass", "pass", "softfail",
                                      "fail", "neutral", "none", "temperror"};
    static const char *const dkim[] = {"pass", "pass", "pass", "pass", "none", "fail"};
    event_store_options o = {.access = EVENT_STORE_WRITE, .busy_timeout_ms = 10000};
    char why[600];
    event_store *st = event_store_open(argv[1], &o, why, sizeof why);
    if (st == NULL) {
        fprintf(stderr, "fill_events: %s\n", why);
        return 66;
    }
    int64_t now = (int64_t)time(NULL);
    enum { BATCH = 2000 };
    static event_record recs[BATCH];
    static const event_record *ptrs[BATCH];
    static event_result res[BATCH][3];
    static event_rcpt rcpt[BATCH];
    static char strs[BATCH][8][96];
    for (long long done = 0; done < n;) {
        int b = n - done < BATCH ? (int)(n - done) : BATCH;
        for (int i = 0; i < b; i++) {
            long long k = done + i;
            const char *d = domains[next(8)];
            char(*s)[96] = strs[i];
            snprintf(s[0], 96, "%u.%u.%u.%u", 192 + next(2) * 6, next(256), next(256), 1 + next(254));
            snprintf(s[1], 96, "%s@%s", users[next(8)], d);
            snprintf(s[2], 96, "%s@dest.example", users[next(8)]);
            snprintf(s[3], 96, "mx%u.%s", next(4), d);
            snprintf(s[4], 96, "smtp.mailfrom=%s", s[1]);
            snprintf(s[5], 96, "header.d=%s header.s=s%u", d, next(3));
            snprintf(s[6], 96, "Q%llX", k + 1);
            const char *r = spf[next(11)], *dk = dkim[next(6)];
            bool bad = strcmp(r, "fail") == 0 || strcmp(r, "softfail") == 0;
            const char *dm = strcmp(r, "pass") == 0 || strcmp(dk, "pass") == 0 ? "pass" : "fail";
            res[i][0] = (event_result){"spf", r, d, bad ? "-all" : "mx", NULL, s[4]};
            res[i][1] = (event_result){"dkim", dk, d, "s1", strcmp(dk, "fail") ? NULL : "body hash mismatch", s[5]};
            res[i][2] = (event_result){"dmarc", dm, d, NULL, NULL, "header.from=x"};
            const char *action = strcmp(r, "fail") == 0 ? "reject"
                                 : strcmp(dm, "fail") == 0 && next(3) == 0 ? "quarantine"
                                                                            : "accept";
            rcpt[i] = (event_rcpt){s[2], action, strcmp(action, "reject") ? NULL : "550 5.7.23 SPF fail"};
            recs[i] = (event_record){
                .time = now - 7 * 86400 + (int64_t)(k * 7 * 86400 / (n ? n : 1)),
                .listener = "milter", .queue_id = s[6], .client_ip = s[0], .client_name = s[3],
                .helo = s[3], .mail_from = s[1], .rcpt = s[2], .header_from = s[1],
                .identity = "mailfrom", .domain = d, .result = r,
                .mechanism = bad ? "-all" : "mx", .action = action,
                .held_action = next(10) == 0 ? "reject" : NULL,
                .reasons = strcmp(action, "accept") ? "spf or dmarc failed" : NULL,
                .dmarc = dm, .results = res[i], .result_count = 3, .rcpts = &rcpt[i],
                .rcpt_count = 1};
            ptrs[i] = &recs[i];
        }
        if (event_store_write(st, ptrs, (size_t)b, why, sizeof why) != 0) {
            fprintf(stderr, "fill_events: %s\n", why);
            event_store_close(st);
            return 1;
        }
        done += b;
    }
    event_store_close(st);
    printf("%lld events written to %s\n", n, argv[1]);
    return 0;
}
