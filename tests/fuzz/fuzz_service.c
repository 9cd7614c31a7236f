/* fuzz_service.c: libFuzzer target for the message service alone
 * (src/service): svc_msg_new, mail_from, queue_id, check_mail, check_rcpt,
 * header, end_headers, body, check_end, finish and free in fuzzed order, on
 * up to three messages at once sharing one environment (a loop, a zone
 * resolver behind a DNS cache, conn_stub.c), so replies come both inside
 * the call that asked (cached answers) and later from the loop.
 *
 * The order is any the front ends can produce: a milter passes header,
 * body and end of headers in whatever order the MTA sends them, RCPT after
 * a refused MAIL, a second end of headers; a policy connection only
 * envelope checks; `domauth verify` asks for MAIL and every RCPT without
 * waiting. What no front end does is not done: while a check waits for its
 * reply, a milter or policy message gets nothing but a free (the
 * connection went away); after check_end, nothing but finish and free.
 *
 * Each check names what its reply callback does: nothing, free the message
 * (as milter_conn.c does at the end of the message; the service defers it
 * to the end of its own call), free another message, or go on with the
 * next operations of the input from inside the callback (as a milter
 * connection feeds the frames it held back). A reply must come only for a
 * check that waits, at most one per check (verify's overlapping checks
 * may share one), and carry a usable action, reply and edits. At
 * the end every answer comes and every message is freed: what is left is a
 * leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_stub.h"
#include "msg/mailtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { SLOTS = 3, MAX_NESTING = 4 };

/* An operation is its byte modulo OP_COUNT: new ones go at the end, so the
 * seeds (written with values below OP_COUNT) keep their meaning. */
enum op {
    OP_NEW, OP_MAIL_FROM, OP_QUEUE_ID, OP_CHECK_MAIL, OP_CHECK_RCPT, OP_HEADER, OP_HEADER_REPEAT,
    OP_EOH, OP_BODY, OP_CHECK_END, OP_FINISH, OP_FREE, OP_DNS, OP_SETTLE, OP_TIME, OP_RELOAD,
    OP_MESSAGE, OP_ANSWER, OP_COUNT
};

typedef enum caps_kind {
    CAPS_MILTER, CAPS_MILTER_NOBODY, CAPS_MILTER_NOCHG, CAPS_MILTER_NOHDRS, CAPS_POLICY,
    CAPS_VERIFY, CAPS_COUNT
} caps_kind;

struct session;

typedef struct slot {
    struct session *s;
    svc_msg *m;
    config_ref *config; /* the generation the message was made with */
    caps_kind kind;
    svc_caps caps;
    unsigned pending;   /* checks waiting for their reply */
    bool checked;       /* a check was asked (no more MAIL FROM) */
    bool mail_checked;
    bool ended;         /* check_end was asked */
    uint8_t reaction;   /* what the reply callback does */
    unsigned script;    /* OP_MESSAGE: the next step + 1, 0 for none */
    uint8_t script_arg;
} slot;

typedef struct session {
    fuzz_env env;
    fuzz_reader in;
    slot slots[SLOTS];
    unsigned nesting;
    strbuf a, b;
} session;

static void run_ops(session *s, unsigned count);
static void continue_script(slot *sl);
static void settle(session *s);

/* ------------------------------------------------------------ messages */

static void free_slot(slot *sl)
{
    if (sl->m == NULL)
        return;
    svc_msg *m = sl->m;
    config_ref *cfg = sl->config;
    sl->m = NULL;
    sl->config = NULL;
    sl->pending = 0;
    sl->script = 0;
    svc_msg_free(m); /* its replies never come now */
    config_ref_put(cfg);
}

static void new_slot(session *s, slot *sl)
{
    fuzz_reader *in = &s->in;
    free_slot(sl);
    sl->kind = (caps_kind)(fuzz_byte(in) % CAPS_COUNT);
    switch (sl->kind) {
    case CAPS_MILTER:
        sl->caps = (svc_caps){.listener = "milter", .sees_message = true, .sees_body = true,
                              .can_insert = true, .can_change = true, .can_hold = true};
        break;
    case CAPS_MILTER_NOBODY:
        sl->caps = (svc_caps){.listener = "milter", .sees_message = true, .can_insert = true,
                              .can_change = true};
        break;
    case CAPS_MILTER_NOCHG:
        sl->caps = (svc_caps){.listener = "milter", .sees_message = true, .sees_body = true,
                              .can_insert = true};
        break;
    case CAPS_MILTER_NOHDRS:
        sl->caps = (svc_caps){.listener = "milter", .can_insert = true, .can_change = true};
        break;
    case CAPS_POLICY:
        sl->caps = (svc_caps){.listener = "policy", .can_insert = true, .max_added = 1,
                              .can_hold = true};
        break;
    default:
        sl->caps = (svc_caps){.listener = "verify", .sees_message = true, .sees_body = true,
                              .can_insert = true, .can_change = true};
        break;
    }
    strbuf ip, name, helo, auth, mta;
    strbuf_init(&ip);
    strbuf_init(&name);
    strbuf_init(&helo);
    strbuf_init(&auth);
    strbuf_init(&mta);
    uint8_t absent = fuzz_byte(in); /* which facts are NULL */
    fuzz_pick(in, &ip, &fuzz_ips, true);
    fuzz_pick(in, &name, &fuzz_client_names, true);
    fuzz_pick(in, &helo, &fuzz_helos, true);
    fuzz_pick(in, &auth, &fuzz_auth_users, true);
    fuzz_pick(in, &mta, &fuzz_client_names, true);
    svc_session sess = {
        .client_ip = absent & 1 ? NULL : ip.data,
        .client_name = absent & 2 ? NULL : name.data,
        .helo = absent & 4 ? NULL : helo.data,
        .auth_user = absent & 8 ? auth.data : NULL,
        .mta_name = absent & 16 ? mta.data : NULL,
    };
    sl->config = config_ref_get(s->env.d.config);
    sl->m = svc_msg_new(&s->env.d.env, &sl->config->svc, &sl->caps, &sess);
    FUZZ_CHECK(sl->m != NULL);
    sl->pending = 0;
    sl->checked = sl->mail_checked = sl->ended = false;
    sl->script = 0;
    strbuf_free(&ip);
    strbuf_free(&name);
    strbuf_free(&helo);
    strbuf_free(&auth);
    strbuf_free(&mta);
}

/* ------------------------------------------------------------- replies */

static void check_reply(const slot *sl, const svc_reply *r)
{
    FUZZ_CHECK(r->action == ACTION_ACCEPT || r->action == ACTION_DEFER ||
               r->action == ACTION_REJECT || r->action == ACTION_QUARANTINE);
    /* No folder is open here: a quarantine is a hold (where the front end
     * can hold) or the failure fallback, never a discard. */
    if (r->action == ACTION_QUARANTINE)
        FUZZ_CHECK(r->hold && sl->caps.can_hold);
    if (r->action == ACTION_DEFER || r->action == ACTION_REJECT) {
        FUZZ_CHECK(r->reply != NULL);
        FUZZ_CHECK(r->reply[0] == (r->action == ACTION_DEFER ? '4' : '5'));
    }
    FUZZ_CHECK(r->edit_count == 0 || r->edits != NULL);
    if (sl->caps.max_added > 0)
        FUZZ_CHECK(r->edit_count <= sl->caps.max_added);
    for (size_t i = 0; i < r->edit_count; i++) {
        const header_edit *e = &r->edits[i];
        FUZZ_CHECK(e->name != NULL && mailtext_header_name_valid(e->name, strlen(e->name)));
        if (e->op != HEADER_DELETE)
            FUZZ_CHECK(e->value != NULL && strlen(e->value) < 1u << 20);
        if (!sl->caps.can_change)
            FUZZ_CHECK(e->op != HEADER_CHANGE && e->op != HEADER_DELETE);
    }
    if (r->results != NULL)
        for (size_t i = 0; i < r->results->count; i++)
            FUZZ_CHECK(r->results->items[i].method != NULL);
}

static void on_reply(void *arg, const svc_reply *r)
{
    slot *sl = arg;
    session *s = sl->s;
    if (fuzz_tracing())
        fprintf(stderr, "reply slot %d: %d %s (%zu edits)\n", (int)(sl - s->slots), r->action,
                r->reply ? r->reply : "", r->edit_count);
    FUZZ_CHECK(sl->m != NULL && sl->pending > 0); /* asked, not freed */
    sl->pending--;
    check_reply(sl, r);
    uint8_t reaction = sl->reaction;
    sl->reaction = 0;
    if (sl->script) {
        /* A canned message goes on from here, as held frames do. */
        continue_script(sl);
        return;
    }
    switch (reaction % 4) {
    case 0: break;
    case 1: free_slot(sl); break; /* as milter_conn.c at the end of a message */
    case 2: free_slot(&s->slots[(reaction >> 2) % SLOTS]); break;
    case 3:
        if (s->nesting < MAX_NESTING) {
            s->nesting++;
            run_ops(s, 1 + (reaction >> 2) % 4);
            s->nesting--;
        }
        break;
    }
}

/* Whether a call on the message is one a front end could make now. */
static bool may_call(const slot *sl)
{
    return sl->m != NULL && sl->pending == 0 && !sl->ended;
}

static void check_mail(slot *sl, uint8_t reaction)
{
    sl->checked = sl->mail_checked = true;
    sl->reaction = reaction;
    sl->pending++;
    svc_msg_check_mail(sl->m, on_reply, sl);
}

static void check_rcpt(slot *sl, const char *rcpt, size_t len, uint8_t reaction)
{
    sl->checked = true;
    sl->reaction = reaction;
    sl->pending++;
    svc_msg_check_rcpt(sl->m, rcpt, len, sl->kind == CAPS_POLICY, on_reply, sl);
}

static void check_end(slot *sl, uint8_t reaction)
{
    sl->checked = sl->ended = true;
    sl->reaction = reaction;
    sl->pending++;
    svc_msg_check_end(sl->m, on_reply, sl);
}

/* ------------------------------------------------- a canned message */

static void continue_script(slot *sl)
{
    while (sl->script > 0 && sl->m != NULL && sl->pending == 0) {
        unsigned step = sl->script++ - 1;
        uint8_t v = sl->script_arg;
        switch (step) {
        case 0: {
            const char *from = fuzz_senders.items[v % fuzz_senders.count];
            svc_msg_mail_from(sl->m, from, strlen(from));
            svc_msg_queue_id(sl->m, "4AbCdE1");
            break;
        }
        case 1: check_mail(sl, 0); break;
        case 2: {
            const char *rcpt = fuzz_rcpts.items[(v >> 4) % fuzz_rcpts.count];
            check_rcpt(sl, rcpt, strlen(rcpt), 0);
            break;
        }
        case 3: case 4: case 5: case 6: {
            if (!sl->caps.sees_message || (step == 3 && (v & 8)))
                break;
            const fuzz_field *f = &fuzz_signed_fields[step - 3];
            strbuf value; /* as after "Name:" */
            strbuf_init(&value);
            strbuf_putc(&value, ' ');
            strbuf_puts(&value, f->value);
            svc_msg_header(sl->m, f->name, value.data, value.len);
            strbuf_free(&value);
            break;
        }
        case 7:
            if (sl->caps.sees_message)
                svc_msg_end_headers(sl->m);
            break;
        case 8:
            if (sl->caps.sees_message)
                svc_msg_body(sl->m, fuzz_signed_body, strlen(fuzz_signed_body));
            break;
        case 9:
            sl->script = 0;
            if (sl->kind == CAPS_POLICY)
                break;
            check_end(sl, (v & 4) ? 1 : 0); /* then maybe freed in the reply */
            return;
        default: sl->script = 0; break;
        }
    }
}

/* ------------------------------------------------------------ the program */

static void run_op(session *s, uint8_t op)
{
    fuzz_reader *in = &s->in;
    uint8_t which = fuzz_byte(in);
    slot *sl = &s->slots[which % SLOTS];
    switch (op % OP_COUNT) {
    case OP_NEW: new_slot(s, sl); break;
    case OP_MAIL_FROM:
        fuzz_pick(in, &s->a, &fuzz_senders, false);
        if (may_call(sl) && !sl->checked)
            svc_msg_mail_from(sl->m, s->a.data, s->a.len);
        break;
    case OP_QUEUE_ID:
        fuzz_pick(in, &s->a, &fuzz_queue_ids, true);
        if (may_call(sl))
            svc_msg_queue_id(sl->m, s->a.data);
        break;
    case OP_CHECK_MAIL: {
        uint8_t reaction = fuzz_byte(in);
        if (may_call(sl) && !sl->mail_checked && (!sl->checked || sl->kind == CAPS_VERIFY) &&
            sl->kind != CAPS_POLICY)
            check_mail(sl, reaction);
        break;
    }
    case OP_CHECK_RCPT: {
        fuzz_pick(in, &s->a, &fuzz_rcpts, false);
        uint8_t reaction = fuzz_byte(in);
        /* verify asks for every recipient without waiting for replies */
        bool overlap = sl->kind == CAPS_VERIFY && sl->m != NULL && !sl->ended;
        if (may_call(sl) || overlap)
            check_rcpt(sl, s->a.data, s->a.len, reaction);
        break;
    }
    case OP_HEADER:
    case OP_HEADER_REPEAT: {
        /* Repeated: signatures past the verifier's bound, a header block
         * past SVC_HEADER_BLOCK_MAX. */
        uint8_t count = op % OP_COUNT == OP_HEADER ? 0 : fuzz_byte(in);
        fuzz_header(in, &s->a, &s->b);
        unsigned n = count == 0 ? 1 : fuzz_repeat(&s->env, count, s->a.len + s->b.len + 3);
        /* A milter's field names are checked by its parser. */
        if (may_call(sl) && sl->caps.sees_message &&
            mailtext_header_name_valid(s->a.data, s->a.len))
            for (unsigned i = 0; i < n && may_call(sl); i++)
                svc_msg_header(sl->m, s->a.data, s->b.data, s->b.len);
        break;
    }
    case OP_EOH:
        if (may_call(sl) && sl->caps.sees_message)
            svc_msg_end_headers(sl->m);
        break;
    case OP_BODY: {
        fuzz_pick(in, &s->a, &fuzz_bodies, false);
        uint8_t count = fuzz_byte(in);
        unsigned repeat = count < 200 ? 1 : fuzz_repeat(&s->env, count, s->a.len);
        if (may_call(sl) && sl->caps.sees_message)
            for (unsigned i = 0; i < repeat && sl->m != NULL; i++)
                svc_msg_body(sl->m, s->a.data, s->a.len);
        break;
    }
    case OP_CHECK_END: {
        uint8_t reaction = fuzz_byte(in);
        if (may_call(sl) && sl->kind != CAPS_POLICY)
            check_end(sl, reaction);
        break;
    }
    case OP_FINISH:
        if (sl->m != NULL && sl->pending == 0)
            svc_msg_finish(sl->m);
        break;
    case OP_FREE: free_slot(sl); break;
    case OP_DNS: fuzz_env_step(&s->env); break;
    case OP_SETTLE: settle(s); break;
    case OP_ANSWER: fuzz_env_answer_one(&s->env, which); break; /* in any order */
    case OP_TIME: fuzz_env_time_passes(&s->env); break;
    case OP_RELOAD: fuzz_env_reload(&s->env, which); break;
    case OP_MESSAGE: {
        uint8_t v = fuzz_byte(in);
        if (sl->m == NULL || sl->checked || sl->pending)
            new_slot(s, sl);
        if (sl->m != NULL && sl->pending == 0 && !sl->checked) {
            sl->script = 1;
            sl->script_arg = v;
            continue_script(sl);
        }
        break;
    }
    }
}

/* Every answer comes. verify's overlapping checks may have had one reply
 * between them (the service answers the latest): now none waits. */
static void settle(session *s)
{
    fuzz_env_settle(&s->env);
    for (size_t i = 0; i < SLOTS; i++)
        if (s->slots[i].kind == CAPS_VERIFY)
            s->slots[i].pending = 0;
}

static void run_ops(session *s, unsigned count)
{
    for (unsigned i = 0; (count == 0 || i < count) && fuzz_more(&s->in); i++)
        run_op(s, fuzz_byte(&s->in));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static session s;
    memset(&s, 0, sizeof s);
    s.in = (fuzz_reader){data, data + size};
    for (size_t i = 0; i < SLOTS; i++)
        s.slots[i].s = &s;
    strbuf_init(&s.a);
    strbuf_init(&s.b);
    fuzz_env_open(&s.env, fuzz_byte(&s.in));
    run_ops(&s, 0);
    /* Every answer comes (replies may still start scripts and free
     * messages), then what is left is freed. */
    settle(&s);
    for (size_t i = 0; i < SLOTS; i++)
        free_slot(&s.slots[i]);
    fuzz_env_close(&s.env);
    strbuf_free(&s.a);
    strbuf_free(&s.b);
    return 0;
}
