/* Unit tests for extracting the sender address of a From: header. */
#include <string.h>

#include "msg/address.h"
#include "tap.h"

static void finds(const char *value, const char *want)
{
    char out[256] = "";
    int rc = header_from_address(value, strlen(value), out, sizeof out);
    TAP_STR_EQ(rc == 0 ? out : NULL, want, "From: %s", value);
}

int main(void)
{
    finds("alice@example.com", "alice@example.com");
    finds(" Alice <alice@example.com>", "alice@example.com");
    finds("\"Smith, Alice\" <alice@example.com>", "alice@example.com");
    finds("\"a <b@evil.example>\" <alice@example.com>", "alice@example.com");
    finds("alice@example.com (Alice <not@this.example>)", "alice@example.com");
    finds("(comment) Alice\n\t<alice@example.com>", "alice@example.com");
    finds("John Doe john@example.net", "john@example.net");
    finds("a@one.example, b@two.example", "a@one.example");
    finds("Team: a@one.example, b@two.example;", "a@one.example");
    finds("<@route.example:alice@example.com>", "alice@example.com");
    finds("\"quoted local\"@example.com", "\"quoted local\"@example.com");
    finds("Undisclosed", NULL);
    finds("<>", NULL);
    finds("", NULL);
    finds("<alice@example.com", NULL);
    finds("evil@example.com\x01", NULL);
    return tap_done();
}
