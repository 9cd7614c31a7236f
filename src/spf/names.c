/* names.c: the names of SPF and Sender ID results, apart from the evaluator
 * (the XMail filter program links only these). */
#include "domauth.h"

const char *da_senderid_result_name(size_t index)
{
    return index < DA_SENDERID_RESULT_COUNT ? da_spf_result_name((da_spf_result)index) : NULL;
}

const char *da_spf_result_name(da_spf_result result)
{
    static const char *const names[] = {"none",     "neutral",   "pass",     "fail",
                                        "softfail", "temperror", "permerror"};
    if ((unsigned)result < sizeof names / sizeof names[0])
        return names[result];
    return "?";
}
