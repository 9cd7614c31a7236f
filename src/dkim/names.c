/* names.c: the names of DKIM results and algorithms, apart from the code
 * that needs OpenSSL (the XMail filter program links only these). */
#include "domauth_dkim.h"

const char *da_dkim_result_name(da_dkim_result result)
{
    static const char *const names[] = {"none",   "pass",      "fail",     "neutral",
                                        "policy", "temperror", "permerror"};
    if ((unsigned)result < sizeof names / sizeof names[0])
        return names[result];
    return "?";
}

const char *da_dkim_algorithm_name(da_dkim_algorithm algorithm)
{
    switch (algorithm) {
    case DA_DKIM_RSA_SHA256: return "rsa-sha256";
    case DA_DKIM_ED25519_SHA256: return "ed25519-sha256";
    case DA_DKIM_RSA_SHA1: return "rsa-sha1";
    }
    return "?";
}
