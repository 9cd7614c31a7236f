/* fuzz_dns_wire.c: libFuzzer target for the DNS response parser. The first
 * byte picks the question type; the rest is the response, parsed against a
 * fixed question name and freed. Build: meson -Dfuzz=true, or see README. */
#include "dns/wire.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const da_dns_type types[] = {DA_DNS_A,   DA_DNS_AAAA,  DA_DNS_MX, DA_DNS_TXT,
                                        DA_DNS_PTR, DA_DNS_CNAME, DA_DNS_SPF, DA_DNS_SOA};
    if (size < 1)
        return 0;
    da_dns_question q = {"example.com", types[data[0] % (sizeof types / sizeof types[0])]};
    /* A copy of exactly the message's size, so any overread trips ASan. */
    size_t len = size - 1;
    uint8_t *msg = malloc(len ? len : 1);
    if (msg == NULL)
        return 0;
    memcpy(msg, data + 1, len);
    char err[200];
    da_dns_answer *answer = dns_wire_parse_response(msg, len, &q, err, sizeof err);
    if (answer != NULL) {
        /* Touch every record so bad pointers or lengths show up. */
        size_t sum = 0;
        for (size_t i = 0; i < answer->count; i++) {
            const da_dns_rr *rr = &answer->records[i];
            sum += rr->name ? strlen(rr->name) : 0;
            for (size_t j = 0; rr->text && j < rr->text_len; j++)
                sum += (unsigned char)rr->text[j];
        }
        (void)sum;
    } else if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0') {
        abort(); /* every refusal must come with a reason */
    }
    da_dns_answer_free(answer);
    free(msg);
    return 0;
}
