/* xmail_main.c: domauth-xmail-filter, the XMail filter as a program of its
 * own. XMail starts a filter per message and waits for it, and most of
 * domauth's start-up is the dynamic linking of OpenSSL, SQLite, c-ares and
 * libuv, which the check through domauthd does not use: this program links
 * only the spool and wire codecs and the configuration reader. It takes
 * the arguments of "domauth xmail-filter" and, when the check must be made
 * in-process, runs domauth for it. */
#include "commands.h"

int main(int argc, char **argv)
{
    return cmd_xmail_filter(argc, argv);
}
