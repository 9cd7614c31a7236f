/* mailboxes.c: header_mailboxes splits a From: value into its mailboxes,
 * refuses a value with a part that is not one, and keeps no more of them
 * than its caller checks (max + 1 says "more"). TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/address.h"
#include "tap.h"

/* The kept addr-specs joined with ' ', or "-1" / "0". */
static const char *split(const char *value, size_t max)
{
    static char joined[512];
    char **list;
    int n = header_mailboxes(value, strlen(value), max, &list);
    if (n <= 0) {
        snprintf(joined, sizeof joined, "%d", n);
        return list == NULL ? joined : "list not NULL";
    }
    joined[0] = '\0';
    int kept = 0;
    for (char **a = list; *a; a++, kept++)
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s",
                 kept ? " " : "", *a);
    address_list_free(list);
    return kept == n ? joined : "count differs from the list";
}

int main(void)
{
    TAP_STR_EQ(split("a@one.example", 8), "a@one.example", "one mailbox");
    TAP_STR_EQ(split("\"Smith, A\" <a@one.example>, b@two.example", 8),
               "a@one.example b@two.example", "split at the comma outside quotes");
    TAP_STR_EQ(split("Team: a@one.example, b@two.example;", 8), "a@one.example b@two.example",
               "a group gives its members");
    TAP_STR_EQ(split("", 8), "0", "no mailbox");
    TAP_STR_EQ(split("a@one.example, CEO <ceo@x.example", 8), "-1",
               "a part that is not a mailbox refuses the field");

    /* Without angle brackets the mailbox is its one word with a bare '@'. */
    TAP_STR_EQ(split("John Doe john@x.example", 8), "john@x.example", "a bare name-addr");
    TAP_STR_EQ(split("a@evil.example b@bank.example", 8), "-1",
               "two addresses without a comma are not one mailbox");
    TAP_STR_EQ(split("\"ceo@bank.example\" evil@evil.example", 8), "evil@evil.example",
               "an '@' in a quoted display name is not the address");
    TAP_STR_EQ(split("(home@office) john@x.example", 8), "john@x.example",
               "an '@' in a comment is not the address");

    TAP_STR_EQ(split("a@1.example, b@2.example, c@3.example", 2),
               "a@1.example b@2.example c@3.example", "max + 1 kept: one more than max");
    TAP_STR_EQ(split("a@1.example, b@2.example, c@3.example, d@4.example", 2),
               "a@1.example b@2.example c@3.example", "no more than max + 1 kept");
    TAP_STR_EQ(split("a@1.example, b@2.example, c@3.example, d@4.example, <e@5", 2), "-1",
               "mailboxes past the kept ones are still checked");

    /* A From: of 100,000 mailboxes keeps 9 of them for a limit of 8. */
    size_t count = 100000;
    char *big = malloc(count * 16 + 1), *p = big;
    for (size_t i = 0; i < count; i++)
        p += sprintf(p, "m%zu@x.example,", i % 1000);
    char **list;
    int n = header_mailboxes(big, strlen(big), 8, &list);
    size_t kept = 0;
    for (char **a = list; a && *a; a++)
        kept++;
    TAP_OK(n == 9 && kept == 9, "a long field keeps max + 1 (%d, %zu)", n, kept);
    address_list_free(list);
    free(big);
    return tap_done();
}
