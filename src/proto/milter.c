/* milter.c: the milter wire codec; see milter.h. Bytes from the MTA are
 * never trusted: every length is checked where it is read, every string
 * must end with a NUL inside its payload, and nothing is read past it. */
#include "util/errbuf.h"
#include "milter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(strbuf *out, uint32_t v)
{
    char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    strbuf_append(out, b, sizeof b);
}

/* ------------------------------------------------------------ decoder */

void milter_decoder_init(milter_decoder *decoder, size_t max_frame)
{
    memset(decoder, 0, sizeof *decoder);
    decoder->max_frame = max_frame ? max_frame : MILTER_DEFAULT_MAX_FRAME;
}

void milter_decoder_free(milter_decoder *decoder)
{
    free(decoder->buf);
    milter_decoder_init(decoder, decoder->max_frame);
}

__attribute__((format(printf, 2, 3))) static milter_decode_status
decoder_fail(milter_decoder *decoder, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(decoder->error, sizeof decoder->error, fmt, ap);
    va_end(ap);
    decoder->failed = true;
    return MILTER_DECODE_ERROR;
}

/* Makes room for a frame of len bytes; grows geometrically so a stream of
 * slowly growing frames does not realloc for each one. */
static bool decoder_reserve(milter_decoder *decoder, size_t len)
{
    if (len <= decoder->buf_cap)
        return true;
    size_t cap = decoder->buf_cap * 2;
    if (cap < len)
        cap = len;
    if (cap > decoder->max_frame)
        cap = decoder->max_frame;
    uint8_t *p = realloc(decoder->buf, cap);
    if (p == NULL)
        return false;
    decoder->buf = p;
    decoder->buf_cap = cap;
    return true;
}

/* Takes up to what is missing of the length prefix and checks it once it
 * is whole. Returns 1 when the length is known, 0 when more bytes are
 * needed, -1 on a bad length (the decoder has failed). */
static int take_length(milter_decoder *decoder, const uint8_t *data, size_t len, size_t *used)
{
    size_t take = MILTER_LEN_BYTES - decoder->length_have;
    if (take > len)
        take = len;
    if (take > 0)
        memcpy(decoder->length_bytes + decoder->length_have, data, take);
    decoder->length_have += take;
    *used = take;
    if (decoder->length_have < MILTER_LEN_BYTES)
        return 0;
    uint32_t frame_len = get32(decoder->length_bytes);
    if (frame_len == 0) {
        decoder_fail(decoder, "frame length 0 (a frame holds at least its command letter)");
        return -1;
    }
    if (frame_len > decoder->max_frame) {
        decoder_fail(decoder, "frame length %lu exceeds the maximum of %zu bytes",
                     (unsigned long)frame_len, decoder->max_frame);
        return -1;
    }
    if (!decoder_reserve(decoder, frame_len)) {
        decoder_fail(decoder, "out of memory for a %lu-byte frame", (unsigned long)frame_len);
        return -1;
    }
    decoder->frame_len = frame_len;
    decoder->buf_have = 0;
    return 1;
}

milter_decode_status milter_decoder_feed(milter_decoder *decoder, const uint8_t *data,
                                         size_t len, size_t *consumed, milter_frame *frame)
{
    *consumed = 0;
    if (decoder->failed)
        return MILTER_DECODE_ERROR;
    size_t used = 0;
    if (decoder->length_have < MILTER_LEN_BYTES) {
        int known = take_length(decoder, data, len, &used);
        *consumed = used;
        if (known <= 0)
            return known < 0 ? MILTER_DECODE_ERROR : MILTER_DECODE_NEED_MORE;
    }
    size_t take = decoder->frame_len - decoder->buf_have;
    if (take > len - used)
        take = len - used;
    if (take > 0)
        memcpy(decoder->buf + decoder->buf_have, data + used, take);
    decoder->buf_have += take;
    *consumed = used + take;
    if (decoder->buf_have < decoder->frame_len)
        return MILTER_DECODE_NEED_MORE;
    frame->command = (char)decoder->buf[0];
    frame->payload = decoder->buf + 1;
    frame->len = decoder->frame_len - 1;
    /* The next call starts a new length prefix; buf keeps this frame until
     * a new length is complete, which is what makes *frame valid until the
     * next call. */
    decoder->length_have = 0;
    return MILTER_DECODE_FRAME;
}

const char *milter_decoder_error(const milter_decoder *decoder)
{
    return decoder->failed ? decoder->error : NULL;
}

bool milter_decoder_mid_frame(const milter_decoder *decoder)
{
    return decoder->length_have > 0;
}

/* ----------------------------------------------------------- payloads */

/* A cursor over one payload. */
typedef struct reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} reader;

static bool at_end(const reader *r)
{
    return r->pos == r->len;
}

/* A NUL-terminated string starting at the cursor; the NUL must lie inside
 * the payload. */
static bool read_string(reader *r, const char **s, size_t *s_len)
{
    if (r->pos >= r->len)
        return false;
    const uint8_t *nul = memchr(r->p + r->pos, 0, r->len - r->pos);
    if (nul == NULL)
        return false;
    *s = (const char *)(r->p + r->pos);
    if (s_len != NULL)
        *s_len = (size_t)(nul - (r->p + r->pos));
    r->pos = (size_t)(nul - r->p) + 1;
    return true;
}

static bool read_u16(reader *r, uint16_t *v)
{
    if (r->len - r->pos < 2)
        return false;
    *v = (uint16_t)((unsigned)r->p[r->pos] << 8 | r->p[r->pos + 1]);
    r->pos += 2;
    return true;
}

int milter_parse_optneg(const uint8_t *payload, size_t len, milter_optneg *out, char *err,
                        size_t err_size)
{
    /* Longer payloads are accepted and the rest ignored, as libmilter does,
     * so a future MTA may append fields. */
    if (len < MILTER_OPTNEG_SIZE)
        return errbuf_set(err, err_size, "OPTNEG payload of %zu bytes; %d needed", len,
                    MILTER_OPTNEG_SIZE);
    out->version = get32(payload);
    out->actions = get32(payload + 4);
    out->protocol = get32(payload + 8);
    return 0;
}

/* The stages that carry macros, as libmilter accepts them (plus UNKNOWN,
 * for which Postfix sends its milter_unknown_command_macros). */
/* Macros may come before any command the MTA sends: Postfix sends them
 * before every header (L) and body chunk (B) too. */
static bool macro_stage_valid(char command)
{
    return command != '\0' && strchr("ABCEHKLMNQRTU", command) != NULL;
}

int milter_parse_macros(const uint8_t *payload, size_t len, milter_macros *out, char *err,
                        size_t err_size)
{
    if (len < 1)
        return errbuf_set(err, err_size, "MACRO payload is empty; the command letter is missing");
    if (!macro_stage_valid((char)payload[0]))
        return errbuf_set(err, err_size, "MACRO for command 0x%02x, which takes no macros",
                    payload[0]);
    reader r = {payload, len, 1};
    size_t count = 0;
    while (!at_end(&r)) {
        const char *name, *value;
        size_t name_len;
        if (!read_string(&r, &name, &name_len))
            return errbuf_set(err, err_size, "MACRO name %zu is not NUL-terminated", count + 1);
        if (name_len == 0)
            return errbuf_set(err, err_size, "MACRO name %zu is empty", count + 1);
        if (!read_string(&r, &value, NULL))
            return errbuf_set(err, err_size, "MACRO %.40s has no NUL-terminated value", name);
        count++;
    }
    out->command = (char)payload[0];
    out->pairs = (const char *)payload + 1;
    out->pairs_len = len - 1;
    out->count = count;
    return 0;
}

bool milter_macros_next(const milter_macros *macros, size_t *cursor, const char **name,
                        const char **value)
{
    /* The pairs were checked by milter_parse_macros: each string ends
     * inside pairs_len, so strlen stays in bounds. */
    if (*cursor >= macros->pairs_len)
        return false;
    *name = macros->pairs + *cursor;
    *cursor += strlen(*name) + 1;
    *value = macros->pairs + *cursor;
    *cursor += strlen(*value) + 1;
    return true;
}

/* "{name}" -> "name" (as a pointer and length); other names unchanged. */
static void strip_braces(const char *name, const char **inner, size_t *inner_len)
{
    size_t len = strlen(name);
    if (len >= 2 && name[0] == '{' && name[len - 1] == '}') {
        *inner = name + 1;
        *inner_len = len - 2;
    } else {
        *inner = name;
        *inner_len = len;
    }
}

const char *milter_macros_get(const milter_macros *macros, const char *name)
{
    const char *want, *have, *have_name, *value;
    size_t want_len, have_len, cursor = 0;
    strip_braces(name, &want, &want_len);
    while (milter_macros_next(macros, &cursor, &have_name, &value)) {
        strip_braces(have_name, &have, &have_len);
        if (have_len == want_len && memcmp(have, want, want_len) == 0)
            return value;
    }
    return NULL;
}

/* After the family: port and address for IP and local sockets. */
static int parse_connect_address(reader *r, milter_connect *out, char *err, size_t err_size)
{
    size_t address_len;
    if (!read_u16(r, &out->port))
        return errbuf_set(err, err_size, "CONNECT family '%c' without a 2-byte port", out->family);
    if (!read_string(r, &out->address, &address_len))
        return errbuf_set(err, err_size, "CONNECT address is not NUL-terminated");
    if (address_len == 0 && out->family != SMFIA_UNIX)
        return errbuf_set(err, err_size, "CONNECT address is empty");
    return 0;
}

int milter_parse_connect(const uint8_t *payload, size_t len, milter_connect *out, char *err,
                         size_t err_size)
{
    reader r = {payload, len, 0};
    memset(out, 0, sizeof *out);
    if (!read_string(&r, &out->hostname, NULL))
        return errbuf_set(err, err_size, "CONNECT hostname is not NUL-terminated");
    if (at_end(&r))
        return errbuf_set(err, err_size, "CONNECT has no address family");
    out->family = (char)r.p[r.pos++];
    switch (out->family) {
    case SMFIA_INET:
    case SMFIA_INET6:
    case SMFIA_UNIX:
        if (parse_connect_address(&r, out, err, err_size) != 0)
            return -1;
        break;
    case SMFIA_UNKNOWN:
        break;
    default:
        return errbuf_set(err, err_size, "CONNECT address family 0x%02x is not 4, 6, L or U",
                    (unsigned char)out->family);
    }
    if (!at_end(&r))
        return errbuf_set(err, err_size, "CONNECT has %zu bytes after its last field", r.len - r.pos);
    return 0;
}

int milter_parse_string(const uint8_t *payload, size_t len, const char **out, char *err,
                        size_t err_size)
{
    reader r = {payload, len, 0};
    if (!read_string(&r, out, NULL))
        return errbuf_set(err, err_size, "string is not NUL-terminated");
    if (!at_end(&r))
        return errbuf_set(err, err_size, "%zu bytes after the string", r.len - r.pos);
    return 0;
}

int milter_parse_args(const uint8_t *payload, size_t len, milter_args *out, char *err,
                      size_t err_size)
{
    if (len == 0)
        return errbuf_set(err, err_size, "address missing");
    if (payload[len - 1] != 0)
        return errbuf_set(err, err_size, "last argument is not NUL-terminated");
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += payload[i] == 0;
    out->address = (const char *)payload;
    out->strings = (const char *)payload;
    out->strings_len = len;
    out->count = count;
    return 0;
}

bool milter_args_next(const milter_args *args, size_t *cursor, const char **arg)
{
    if (*cursor == 0) /* skip the address */
        *cursor = strlen(args->strings) + 1;
    if (*cursor >= args->strings_len)
        return false;
    *arg = args->strings + *cursor;
    *cursor += strlen(*arg) + 1;
    return true;
}

int milter_parse_header(const uint8_t *payload, size_t len, milter_header *out, char *err,
                        size_t err_size)
{
    reader r = {payload, len, 0};
    size_t name_len;
    if (!read_string(&r, &out->name, &name_len))
        return errbuf_set(err, err_size, "HEADER name is not NUL-terminated");
    if (!mailtext_header_name_valid(out->name, name_len))
        return errbuf_set(err, err_size, "HEADER name of %zu bytes is empty or holds a byte that "
                    "is not printable ASCII or is ':'", name_len);
    if (!read_string(&r, &out->value, &out->value_len))
        return errbuf_set(err, err_size, "HEADER value is not NUL-terminated");
    if (!at_end(&r))
        return errbuf_set(err, err_size, "HEADER has %zu bytes after its value", r.len - r.pos);
    return 0;
}

int milter_parse_body(const uint8_t *payload, size_t len, milter_body *out, char *err,
                      size_t err_size)
{
    (void)err;
    (void)err_size;
    out->data = payload;
    out->len = len;
    return 0;
}

int milter_parse_empty(const uint8_t *payload, size_t len, char *err, size_t err_size)
{
    (void)payload;
    if (len != 0)
        return errbuf_set(err, err_size, "%zu bytes of payload where none is expected", len);
    return 0;
}

int milter_parse_command(const milter_frame *frame, milter_command *out, char *err,
                         size_t err_size)
{
    const uint8_t *p = frame->payload;
    size_t n = frame->len;
    memset(out, 0, sizeof *out);
    out->code = frame->command;
    switch (frame->command) {
    case SMFIC_OPTNEG:
        return milter_parse_optneg(p, n, &out->optneg, err, err_size);
    case SMFIC_MACRO:
        return milter_parse_macros(p, n, &out->macros, err, err_size);
    case SMFIC_CONNECT:
        return milter_parse_connect(p, n, &out->connect, err, err_size);
    case SMFIC_HELO:
        return milter_parse_string(p, n, &out->helo, err, err_size);
    case SMFIC_MAIL:
    case SMFIC_RCPT:
        return milter_parse_args(p, n, &out->args, err, err_size);
    case SMFIC_HEADER:
        return milter_parse_header(p, n, &out->header, err, err_size);
    case SMFIC_BODY:
    case SMFIC_BODYEOB:
        return milter_parse_body(p, n, &out->body, err, err_size);
    case SMFIC_UNKNOWN:
        return milter_parse_string(p, n, &out->unknown, err, err_size);
    case SMFIC_EOH:
    case SMFIC_ABORT:
    case SMFIC_QUIT:
    case SMFIC_QUIT_NC:
    case SMFIC_DATA:
        return milter_parse_empty(p, n, err, err_size);
    default:
        return errbuf_set(err, err_size, "command 0x%02x is not a milter command",
                    (unsigned char)frame->command);
    }
}

bool milter_reply_expected(uint32_t agreed_protocol, char command)
{
    uint32_t no_reply_flag;
    switch (command) {
    case SMFIC_OPTNEG:
    case SMFIC_BODYEOB:
        return true;
    case SMFIC_CONNECT: no_reply_flag = SMFIP_NR_CONN; break;
    case SMFIC_HELO: no_reply_flag = SMFIP_NR_HELO; break;
    case SMFIC_MAIL: no_reply_flag = SMFIP_NR_MAIL; break;
    case SMFIC_RCPT: no_reply_flag = SMFIP_NR_RCPT; break;
    case SMFIC_DATA: no_reply_flag = SMFIP_NR_DATA; break;
    case SMFIC_UNKNOWN: no_reply_flag = SMFIP_NR_UNKN; break;
    case SMFIC_HEADER: no_reply_flag = SMFIP_NR_HDR; break;
    case SMFIC_EOH: no_reply_flag = SMFIP_NR_EOH; break;
    case SMFIC_BODY: no_reply_flag = SMFIP_NR_BODY; break;
    default: /* MACRO, ABORT, QUIT, QUIT_NC and anything unknown */
        return false;
    }
    return (agreed_protocol & no_reply_flag) == 0;
}

/* -------------------------------------------------------- negotiation */

int milter_negotiate(const milter_optneg *offered, uint32_t required_actions,
                     uint32_t optional_actions, uint32_t wanted_protocol,
                     milter_optneg *agreed, char *err, size_t err_size)
{
    if (offered->version < MILTER_PROTOCOL_VERSION_MIN)
        return errbuf_set(err, err_size, "MTA speaks milter protocol version %lu; at least %d needed",
                    (unsigned long)offered->version, MILTER_PROTOCOL_VERSION_MIN);
    uint32_t missing = required_actions & ~offered->actions;
    if (missing != 0)
        return errbuf_set(err, err_size, "MTA does not allow actions 0x%lx (offered 0x%lx)",
                    (unsigned long)missing, (unsigned long)offered->actions);
    /* Both Postfix and Sendmail refuse a version above their own. */
    agreed->version = offered->version < MILTER_PROTOCOL_VERSION ? offered->version
                                                                  : MILTER_PROTOCOL_VERSION;
    agreed->actions = required_actions | (optional_actions & offered->actions);
    agreed->protocol = wanted_protocol & offered->protocol;
    return 0;
}

static bool symlist_text_valid(const char *macros)
{
    if (macros == NULL || macros[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)macros; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return true;
}

static int check_symlists(const milter_optneg *agreed, const milter_symlist *lists,
                          size_t count, char *err, size_t err_size)
{
    if (count == 0)
        return 0;
    if ((agreed->actions & SMFIF_SETSYMLIST) == 0 || agreed->version < 6)
        return errbuf_set(err, err_size, "symbol lists need SMFIF_SETSYMLIST and version 6");
    uint32_t seen = 0;
    for (size_t i = 0; i < count; i++) {
        if (lists[i].stage > SMFIM_EOH)
            return errbuf_set(err, err_size, "symbol list stage %lu is not 0..6",
                        (unsigned long)lists[i].stage);
        if (seen & (1u << lists[i].stage))
            return errbuf_set(err, err_size, "two symbol lists for stage %lu",
                        (unsigned long)lists[i].stage);
        seen |= 1u << lists[i].stage;
        if (!symlist_text_valid(lists[i].macros))
            return errbuf_set(err, err_size, "symbol list for stage %lu is empty or not printable",
                        (unsigned long)lists[i].stage);
    }
    return 0;
}

int milter_encode_optneg_reply(strbuf *out, const milter_optneg *agreed,
                               const milter_symlist *lists, size_t list_count, char *err,
                               size_t err_size)
{
    if (check_symlists(agreed, lists, list_count, err, err_size) != 0)
        return -1;
    strbuf payload;
    strbuf_init(&payload);
    put32(&payload, agreed->version);
    put32(&payload, agreed->actions);
    put32(&payload, agreed->protocol);
    for (size_t i = 0; i < list_count; i++) {
        put32(&payload, lists[i].stage);
        strbuf_append(&payload, lists[i].macros, strlen(lists[i].macros) + 1);
    }
    int rc = payload.failed ? errbuf_set(err, err_size, "out of memory") : 0;
    if (rc == 0)
        milter_encode_frame(out, SMFIC_OPTNEG, payload.data, payload.len);
    strbuf_free(&payload);
    return rc;
}

/* ------------------------------------------------------------ replies */

void milter_encode_frame(strbuf *out, char letter, const void *payload, size_t len)
{
    if (len >= UINT32_MAX) {
        out->failed = true;
        return;
    }
    put32(out, (uint32_t)(len + 1));
    strbuf_putc(out, letter);
    if (len > 0)
        strbuf_append(out, payload, len);
}

int milter_encode_simple(strbuf *out, char reply, char *err, size_t err_size)
{
    static const char no_payload[] = {SMFIR_CONTINUE, SMFIR_ACCEPT,   SMFIR_REJECT,
                                      SMFIR_TEMPFAIL, SMFIR_DISCARD,  SMFIR_PROGRESS,
                                      SMFIR_SKIP,     SMFIR_SHUTDOWN, SMFIR_CONN_FAIL};
    if (reply == '\0' || memchr(no_payload, reply, sizeof no_payload) == NULL)
        return errbuf_set(err, err_size, "reply 0x%02x is not a reply without payload",
                    (unsigned char)reply);
    milter_encode_frame(out, reply, NULL, 0);
    return 0;
}

/* Encodes a payload built in a scratch buffer, with its final NUL. */
static int encode_built(strbuf *out, char letter, strbuf *payload, char *err, size_t err_size)
{
    int rc = 0;
    if (payload->failed)
        rc = errbuf_set(err, err_size, "out of memory");
    else if (payload->data == NULL)
        milter_encode_frame(out, letter, "", 1);
    else /* strbuf keeps a NUL after its bytes: that is the terminator sent */
        milter_encode_frame(out, letter, payload->data, payload->len + 1);
    strbuf_free(payload);
    return rc;
}

int milter_encode_replycode(strbuf *out, unsigned code, const char *enhanced, const char *text,
                            char *err, size_t err_size)
{
    strbuf line;
    strbuf_init(&line);
    if (mailtext_reply_line(&line, code, enhanced, text, true, err, err_size) != 0) {
        strbuf_free(&line);
        return -1;
    }
    return encode_built(out, SMFIR_REPLYCODE, &line, err, err_size);
}

static int encode_header_edit(strbuf *out, char letter, const uint32_t *index, const char *name,
                              const char *value, char *err, size_t err_size)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    if (!mailtext_header_name_valid(name, name_len))
        return errbuf_set(err, err_size, "header name \"%.40s\" is not printable ASCII without ':'",
                    name);
    if (!mailtext_header_value_valid(name_len, value, value_len))
        return errbuf_set(err, err_size, "value for %.40s has CR, a bare LF, a control byte or a "
                    "line over %d bytes", name, MAILTEXT_HEADER_LINE_MAX);
    strbuf payload;
    strbuf_init(&payload);
    if (index != NULL)
        put32(&payload, *index);
    strbuf_append(&payload, name, name_len + 1);
    strbuf_append(&payload, value, value_len);
    return encode_built(out, letter, &payload, err, err_size);
}

int milter_encode_addheader(strbuf *out, const char *name, const char *value, char *err,
                            size_t err_size)
{
    return encode_header_edit(out, SMFIR_ADDHEADER, NULL, name, value, err, err_size);
}

int milter_encode_insheader(strbuf *out, uint32_t index, const char *name, const char *value,
                            char *err, size_t err_size)
{
    return encode_header_edit(out, SMFIR_INSHEADER, &index, name, value, err, err_size);
}

int milter_encode_chgheader(strbuf *out, uint32_t index, const char *name, const char *value,
                            char *err, size_t err_size)
{
    /* Sendmail counts from 1 and Postfix reads 0 as 1: refuse the
     * ambiguity rather than edit a header the caller did not mean. */
    if (index == 0)
        return errbuf_set(err, err_size, "CHGHEADER index is 1-based; 0 given");
    return encode_header_edit(out, SMFIR_CHGHEADER, &index, name, value, err, err_size);
}

/* An envelope address frame: <address>, NUL-terminated. */
static int encode_address(strbuf *out, char letter, const char *what, const char *address,
                          char *err, size_t err_size)
{
    size_t len = address ? strlen(address) : 0;
    if (len == 0 || len > 1024)
        return errbuf_set(err, err_size, "%s address missing or longer than 1024 bytes", what);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)address[i];
        if (c < 0x21 || c == 0x7f || c == '<' || c == '>')
            return errbuf_set(err, err_size, "%s address holds a byte it cannot carry", what);
    }
    strbuf a;
    strbuf_init(&a);
    strbuf_putc(&a, '<');
    strbuf_append(&a, address, len);
    strbuf_putc(&a, '>');
    return encode_built(out, letter, &a, err, err_size);
}

int milter_encode_chgfrom(strbuf *out, const char *address, char *err, size_t err_size)
{
    return encode_address(out, SMFIR_CHGFROM, "CHGFROM", address, err, err_size);
}

int milter_encode_addrcpt(strbuf *out, const char *address, char *err, size_t err_size)
{
    return encode_address(out, SMFIR_ADDRCPT, "ADDRCPT", address, err, err_size);
}

int milter_encode_delrcpt(strbuf *out, const char *address, char *err, size_t err_size)
{
    return encode_address(out, SMFIR_DELRCPT, "DELRCPT", address, err, err_size);
}

int milter_encode_quarantine(strbuf *out, const char *reason, char *err, size_t err_size)
{
    strbuf line;
    strbuf_init(&line);
    if (reason == NULL ||
        mailtext_header_one_line(&line, 0, reason, strlen(reason), err, err_size) != 0) {
        strbuf_free(&line);
        return reason == NULL ? errbuf_set(err, err_size, "quarantine reason missing") : -1;
    }
    if (line.len == 0) {
        strbuf_free(&line);
        return errbuf_set(err, err_size, "quarantine reason is empty");
    }
    return encode_built(out, SMFIR_QUARANTINE, &line, err, err_size);
}
