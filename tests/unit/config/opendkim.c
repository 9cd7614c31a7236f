/* opendkim.c: OpenDKIM's KeyTable and SigningTable as key entries
 * (src/config/opendkim.c, the one reader of [dkim] key_table and
 * signing_table and of domauth import opendkim): each form of pattern, and
 * each note with its kind, file and line. */
#include <stdio.h>
#include <string.h>

#include "config/opendkim.h"
#include "tap.h"

typedef struct notes {
    char text[2048];
    unsigned errors, unmapped, differs;
} notes;

static void note(void *ctx, opendkim_note_kind kind, const char *file, unsigned line,
                 const char *text)
{
    notes *n = ctx;
    size_t used = strlen(n->text);
    snprintf(n->text + used, sizeof n->text - used, "%s %s:%u: %s\n",
             kind == OPENDKIM_ERROR ? "E" : kind == OPENDKIM_UNMAPPED ? "U" : "D", file, line,
             text);
    if (kind == OPENDKIM_ERROR)
        n->errors++;
    else if (kind == OPENDKIM_UNMAPPED)
        n->unmapped++;
    else
        n->differs++;
}

static int read_both(opendkim_tables *t, notes *n, const char *kt, const char *st, bool refile)
{
    opendkim_tables_init(t);
    memset(n, 0, sizeof *n);
    if (opendkim_read_key_table(t, "KT", kt, strlen(kt), note, n) != 0)
        return -1;
    return opendkim_read_signing_table(t, "ST", st, strlen(st), refile, note, n);
}

int main(void)
{
    opendkim_tables t;
    notes n;
    const char *kt = "# keys\n"
                     "k1  example.com:s1:/etc/keys/s1.private   # a comment\n"
                     "\n"
                     "k2\t%:s2:/etc/keys/s2.private\n"
                     "inline example.org:s3:MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                     "broken\n";
    const char *st = "*@example.com k1\n"
                     "*@*.example.com k1\n"
                     "*@example.net k2 signer@example.net\n"
                     "* k2\n"
                     "alice@example.com k1\n"
                     "*@example.com nosuch\n"
                     "*@elsewhere.test k1\n"
                     "*@*.example.net k2\n"
                     "*@mail.example.com k1\n";
    TAP_OK(read_both(&t, &n, kt, st, true) == 0, "refile tables read");
    TAP_OK(t.key_count == 2, "two usable KeyTable lines (%zu)", t.key_count);
    TAP_OK(strstr(n.text, "U KT:5: key inline: the key itself in the table") != NULL,
           "a key written inline is named, with its line");
    TAP_OK(strstr(n.text, "E KT:6: a KeyTable line is NAME DOMAIN:SELECTOR:KEY") != NULL,
           "a line without a value is an error, with its line");
    TAP_OK(t.signing_count == 5, "five SigningTable lines carried over (%zu)", t.signing_count);
    if (t.signing_count == 5) {
        TAP_OK(strcmp(t.signing[0].domain, "example.com") == 0 && !t.signing[0].subdomains &&
                   strcmp(t.signing[0].key->selector, "s1") == 0 && t.signing[0].line == 1,
               "*@example.com: example.com with k1, line 1");
        TAP_OK(strcmp(t.signing[1].domain, "example.com") == 0 && t.signing[1].subdomains,
               "*@*.example.com: the parent's key, for its subdomains");
        TAP_OK(strcmp(t.signing[2].domain, "example.net") == 0 &&
                   strcmp(t.signing[2].key->path, "/etc/keys/s2.private") == 0,
               "%% in the KeyTable: d= the pattern's domain");
        TAP_OK(strcmp(t.signing[3].domain, "*") == 0, "* with %%: the * entry");
        TAP_OK(strcmp(t.signing[4].domain, "example.com") == 0 && t.signing[4].line == 9,
               "*@mail.example.com with example.com's key: the parent's entry (d= it)");
    }
    TAP_OK(strstr(n.text, "D ST:3: *@example.net: the signer (i=) signer@example.net is not "
                          "carried over") != NULL,
           "a signer is a difference, with its line");
    TAP_OK(strstr(n.text, "D ST:2: *@*.example.com: this key also signs example.com itself") !=
               NULL,
           "a subdomain pattern's key signs the domain too: a difference");
    TAP_OK(strstr(n.text, "U ST:5: alice@example.com: a key for one sender") != NULL,
           "a key for one sender is named");
    TAP_OK(strstr(n.text, "U ST:6: *@example.com nosuch: no key of that name") != NULL,
           "an unknown key name is named");
    TAP_OK(strstr(n.text, "U ST:7: *@elsewhere.test: signed with d=example.com") != NULL,
           "an unrelated d= is named");
    TAP_OK(strstr(n.text, "U ST:8: *@*.example.net: d= each subdomain itself") != NULL,
           "subdomains signed with their own d= (%%) are named");
    TAP_OK(strstr(n.text, "D ST:9: mail.example.com: OpenDKIM signs this with line 2's key") !=
               NULL,
           "a line a subdomain pattern above already covers: OpenDKIM's first match differs");
    TAP_OK(strstr(n.text, "D ST:9: *@mail.example.com: signed with the key of its parent "
                          "example.com, whose entry signs example.com and all its subdomains") !=
               NULL,
           "a parent's key for one subdomain signs more than the pattern: a difference");
    TAP_OK(n.errors == 1 && n.unmapped == 5 && n.differs == 4,
           "one error, five unmapped, four differences (%u %u %u)", n.errors, n.unmapped,
           n.differs);
    opendkim_tables_free(&t);

    TAP_OK(read_both(&t, &n, "k1 Example.COM:s1:/k\n", "example.com k1\n.example.com k1\n"
                                                      "*@example.com k1\n", false) == 0 &&
               t.signing_count == 2 && strcmp(t.signing[0].domain, "example.com") == 0 &&
               t.signing[1].subdomains,
           "a file (not refile) SigningTable: example.com and .example.com; d= in lower case");
    TAP_OK(strstr(n.text, "U ST:3: *@example.com: a key for one sender") != NULL,
           "a refile pattern in a plain file is named");
    opendkim_tables_free(&t);

    /* Found by fuzz_opendkim_tables: an empty domain was taken, and every
     * name counted as "under" it. */
    TAP_OK(read_both(&t, &n, "k1 :s2:/k\nk2 ex ample:s:/k\nk3 example.com::/k\n",
                     ".example.com k1\n", false) == 0 &&
               t.key_count == 0 && t.signing_count == 0 && n.errors == 3 &&
               strstr(n.text, "E KT:1: key k1: the domain '' is not a domain name or %") != NULL &&
               strstr(n.text, "E KT:3: key k3: the selector '' is not a name") != NULL,
           "an empty or spaced domain, an empty selector: errors with their lines");
    opendkim_tables_free(&t);

    opendkim_tables_init(&t);
    memset(&n, 0, sizeof n);
    TAP_OK(opendkim_read_key_table(&t, "KT", "k1 a:b:/c\0", 10, note, &n) == 0 &&
               n.errors == 1 && t.key_count == 0 && strstr(n.text, "NUL byte") != NULL,
           "a NUL byte: one error, nothing read");
    opendkim_tables_free(&t);

    const char *rest;
    TAP_OK(opendkim_dataset_of("refile:/etc/st", &rest) == OPENDKIM_DS_REFILE &&
               strcmp(rest, "/etc/st") == 0,
           "refile:PATH");
    TAP_OK(opendkim_dataset_of("file:/etc/kt", &rest) == OPENDKIM_DS_FILE &&
               opendkim_dataset_of("/etc/kt", &rest) == OPENDKIM_DS_FILE &&
               opendkim_dataset_of("db:/etc/kt.db", &rest) == OPENDKIM_DS_OTHER &&
               opendkim_dataset_of("a.example,b.example", &rest) == OPENDKIM_DS_LIST,
           "file:, a path, db: and a list");
    printf("1..%d\n", tap_count);
    return tap_failed != 0;
}
