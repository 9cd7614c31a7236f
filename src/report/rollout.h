/* rollout.h: the rollout report. Over the events of a period, what each
 * candidate enforcement policy would have blocked or quarantined (messages,
 * sender domains, client networks, per day), with the likely false
 * positives called out: SPF failures that carry a valid DKIM signature of
 * the same domain (forwarding), the sender domains failing most (a
 * partner's missing or stale record), and temperror spikes (DNS trouble,
 * not forgery). The source documents' advice is to let failures through
 * first and tighten while watching; this is the watching.
 *
 * Pure aggregation: the caller feeds event records (from the store, in any
 * order) and reads the counts. No I/O. */
#ifndef DA_REPORT_ROLLOUT_H
#define DA_REPORT_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/event.h"

enum {
    ROLLOUT_DAYS_MAX = 366,
    ROLLOUT_THRESHOLDS_MAX = 8,
    ROLLOUT_CANDIDATES_MAX = 8 + ROLLOUT_THRESHOLDS_MAX,
    ROLLOUT_TOP_MAX = 50,
};

/* A set of distinct strings (domains, networks): open addressing. */
typedef struct rollout_set {
    char **slots;
    size_t capacity, count;
} rollout_set;

typedef enum rollout_kind {
    ROLLOUT_CONFIGURED,        /* what the running configuration did or held back */
    ROLLOUT_SPF_FAIL,          /* SPF fail */
    ROLLOUT_SPF_FAIL_SOFTFAIL, /* SPF fail or softfail */
    ROLLOUT_DKIM_FAIL,         /* a DKIM signature failed and none passed */
    ROLLOUT_SCORE,             /* the message's score reached a threshold */
} rollout_kind;

typedef struct rollout_candidate {
    rollout_kind kind;
    const char *action; /* "reject", "quarantine", or "defer/reject" for ROLLOUT_CONFIGURED */
    double threshold;   /* ROLLOUT_SCORE */
    char name[96];      /* "reject SPF fail", "score >= 5.0", ... */
    uint64_t messages;
    uint64_t forwarded; /* of them: an SPF failure with a DKIM pass of the same domain */
    rollout_set domains, networks;
    uint64_t per_day[ROLLOUT_DAYS_MAX];
} rollout_candidate;

typedef struct rollout_domain {
    char *domain;
    uint64_t failed;    /* SPF fail or softfail */
    uint64_t dkim_pass; /* of them with a DKIM pass of the domain */
    rollout_set networks;
} rollout_domain;

typedef struct rollout_options {
    int64_t since, until;       /* the period: since <= time < until */
    double thresholds[ROLLOUT_THRESHOLDS_MAX];
    size_t threshold_count;
    /* temperror spike: a day with at least spike_min temperrors and at
     * least spike_factor times the median day's (0: 5 and 3.0). */
    uint64_t spike_min;
    double spike_factor;
} rollout_options;

typedef struct rollout_report {
    rollout_options options;
    size_t days;                /* whole or partial UTC days in the period */
    int64_t first_day;          /* start of the first day (UTC midnight) */
    uint64_t events;            /* in the period */
    uint64_t not_checked;       /* skipped before any result (whitelists, AUTH, ...) */
    uint64_t outside;           /* fed but outside the period (ignored) */
    rollout_candidate candidates[ROLLOUT_CANDIDATES_MAX];
    size_t candidate_count;
    rollout_domain *domains;    /* per SPF-failing sender domain; sorted by rollout_finish */
    size_t domain_count, domain_capacity;
    size_t *domain_slots;       /* open addressing: 1 + index into domains, 0 empty */
    size_t domain_slot_count;
    uint64_t temperror_per_day[ROLLOUT_DAYS_MAX];
    uint64_t temperror_median;  /* set by rollout_finish */
    bool spike[ROLLOUT_DAYS_MAX];
    bool failed;                /* out of memory: the counts are incomplete */
} rollout_report;

/* Sets up the candidates for the period (at most ROLLOUT_DAYS_MAX days;
 * -1 with the reason otherwise). */
int rollout_init(rollout_report *r, const rollout_options *options, char *why, size_t why_size);
void rollout_add(rollout_report *r, const event_record *e);
/* Sorts the domains (most failures first) and finds the spikes. */
void rollout_finish(rollout_report *r);
void rollout_free(rollout_report *r);

/* The network of a client address: a.b.c.0/24 or the /48 of IPv6; false
 * when the text is not an address. */
bool rollout_network(const char *ip, char *out, size_t out_size);

#endif
