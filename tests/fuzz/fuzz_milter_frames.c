/* fuzz_milter_frames.c: libFuzzer target for the milter codec. The first
 * byte seeds the chunk sizes, the second picks the frame limit; the rest is
 * fed to the decoder and every frame is parsed, and text from it is pushed
 * through the header folder and reply encoders, whose output is checked. */
#include <stdlib.h>
#include <string.h>

#include "proto/milter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

static size_t next_chunk(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    uint32_t r = *state >> 16;
    return (r & 3) == 0 ? 1 + (r >> 2) % 4096 : 1 + (r >> 2) % 16;
}

/* Folds text into a header, then the encoders must accept what came out. */
static void check_header_text(const char *text, size_t len)
{
    strbuf folded, frame;
    strbuf_init(&folded);
    strbuf_init(&frame);
    char err[200];
    if (mailtext_header_fold(&folded, 22, text, len, err, sizeof err) == 0 && folded.data) {
        CHECK(mailtext_header_value_valid(22, folded.data, folded.len));
        CHECK(milter_encode_addheader(&frame, "Authentication-Results", folded.data, err,
                                      sizeof err) == 0);
    }
    strbuf_clear(&frame);
    /* Reply text: never a CR or LF, and the frame decodes to one string. */
    if (milter_encode_replycode(&frame, 451, "4.7.1", text, err, sizeof err) == 0) {
        CHECK(frame.len >= 5 && memchr(frame.data + 5, '\n', frame.len - 5) == NULL);
        CHECK(memchr(frame.data + 5, '\r', frame.len - 5) == NULL);
        CHECK(memchr(frame.data + 5, '\0', frame.len - 5) == frame.data + frame.len - 1);
    }
    strbuf_free(&folded);
    strbuf_free(&frame);
}

static void touch_command(const milter_command *cmd, uint32_t agreed_protocol)
{
    size_t sum = 0, cursor = 0;
    const char *name, *value, *arg;
    char err[200];
    (void)milter_reply_expected(agreed_protocol, cmd->code);
    switch (cmd->code) {
    case SMFIC_MACRO:
        while (milter_macros_next(&cmd->macros, &cursor, &name, &value))
            sum += strlen(name) + strlen(value);
        sum += milter_macros_get(&cmd->macros, "{auth_authen}") != NULL;
        sum += milter_macros_get(&cmd->macros, "i") != NULL;
        break;
    case SMFIC_CONNECT:
        sum += strlen(cmd->connect.hostname);
        if (cmd->connect.address != NULL)
            sum += strlen(cmd->connect.address);
        check_header_text(cmd->connect.hostname, strlen(cmd->connect.hostname));
        break;
    case SMFIC_MAIL:
    case SMFIC_RCPT:
        sum += strlen(cmd->args.address);
        while (milter_args_next(&cmd->args, &cursor, &arg))
            sum += strlen(arg);
        check_header_text(cmd->args.address, strlen(cmd->args.address));
        break;
    case SMFIC_HEADER:
        CHECK(strlen(cmd->header.value) == cmd->header.value_len);
        check_header_text(cmd->header.value, cmd->header.value_len);
        break;
    case SMFIC_OPTNEG: {
        milter_optneg agreed;
        strbuf out;
        strbuf_init(&out);
        milter_symlist lists[] = {{SMFIM_CONNECT, "j {daemon_name}"}, {SMFIM_ENVFROM, "i"}};
        if (milter_negotiate(&cmd->optneg, SMFIF_ADDHDRS, SMFIF_CHGHDRS | SMFIF_SETSYMLIST,
                             SMFIP_NOBODY | SMFIP_NR_HDR, &agreed, err, sizeof err) == 0) {
            CHECK((agreed.actions & ~(cmd->optneg.actions | SMFIF_ADDHDRS)) == 0);
            CHECK((agreed.protocol & ~cmd->optneg.protocol) == 0);
            bool lists_ok = (agreed.actions & SMFIF_SETSYMLIST) && agreed.version >= 6;
            CHECK((milter_encode_optneg_reply(&out, &agreed, lists, 2, err, sizeof err) == 0) ==
                  lists_ok);
        }
        strbuf_free(&out);
        break;
    }
    default:
        break;
    }
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t state = data[0];
    milter_decoder decoder;
    milter_decoder_init(&decoder, data[1] & 1 ? 4096 : 0);
    const uint8_t *p = data + 2;
    size_t left = size - 2;
    uint32_t agreed_protocol = 0;
    while (left > 0) {
        size_t chunk = next_chunk(&state);
        if (chunk > left)
            chunk = left;
        /* An exact-size copy of each chunk, so any read past it trips ASan. */
        uint8_t *copy = malloc(chunk);
        memcpy(copy, p, chunk);
        size_t offset = 0;
        while (offset < chunk) {
            milter_frame frame;
            size_t used;
            milter_decode_status status =
                milter_decoder_feed(&decoder, copy + offset, chunk - offset, &used, &frame);
            CHECK(used <= chunk - offset);
            offset += used;
            if (status == MILTER_DECODE_ERROR) {
                CHECK(milter_decoder_error(&decoder)[0] != '\0');
                free(copy);
                milter_decoder_free(&decoder);
                return 0;
            }
            if (status == MILTER_DECODE_NEED_MORE) {
                CHECK(offset == chunk);
                break;
            }
            uint8_t *payload = malloc(frame.len ? frame.len : 1);
            memcpy(payload, frame.payload, frame.len);
            milter_frame exact = {frame.command, payload, frame.len};
            milter_command cmd;
            char err[200] = "";
            if (milter_parse_command(&exact, &cmd, err, sizeof err) == 0) {
                if (cmd.code == SMFIC_OPTNEG)
                    agreed_protocol = cmd.optneg.protocol;
                touch_command(&cmd, agreed_protocol);
            } else {
                CHECK(err[0] != '\0');
            }
            free(payload);
        }
        free(copy);
        p += chunk;
        left -= chunk;
    }
    milter_decoder_free(&decoder);
    return 0;
}
