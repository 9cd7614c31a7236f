/* sendmail.c: svc_sendmail (src/service/sendmail.c), the one way domauth
 * hands mail to the MTA, against stand-in sendmail scripts: the envelope on
 * the command line and the message on standard input (CR LF as LF when
 * asked), a failing exit status, a program that cannot be run, one that
 * exits before reading a large message, and one that never ends, killed at
 * the deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "service/sendmail.h"
#include "tap.h"

static char dir[64];

static const char *script(const char *name, const char *body)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(p, 0700);
    return p;
}

static char *slurp(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strdup(buf);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/unit-sendmail.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    char why[600], body[600];
    snprintf(body, sizeof body, "printf '%%s\\n' \"$@\" > %s/args; cat > %s/in", dir, dir);
    const char *capture = script("capture", body);
    const char *rcpts[] = {"a@dest.test", "-b@dest.test"};
    const char msg[] = "Subject: x\r\n\r\nline one\r\nbare\rcr\r\n";
    int rc = svc_sendmail(capture, "from@sender.test", rcpts, 2, msg, sizeof msg - 1, true, 10,
                          why, sizeof why);
    char *args = slurp("args"), *in = slurp("in");
    TAP_OK(rc == 0 && strcmp(args, "-i\n-f\nfrom@sender.test\n--\na@dest.test\n-b@dest.test\n") == 0,
           "the envelope: -i -f SENDER -- RCPTS, a recipient after -- even with a leading '-' "
           "(%s)", rc ? why : "sent");
    TAP_OK(strcmp(in, "Subject: x\n\nline one\nbare\rcr\n") == 0,
           "the message on standard input, CR LF as LF, a bare CR kept");
    free(args);
    free(in);
    rc = svc_sendmail(capture, NULL, rcpts, 1, msg, sizeof msg - 1, false, 10, why, sizeof why);
    args = slurp("args");
    in = slurp("in");
    TAP_OK(rc == 0 && strstr(args, "-f\n<>\n") != NULL && strcmp(in, msg) == 0,
           "no sender is the null sender; without crlf_to_lf the bytes are as given");
    free(args);
    free(in);

    rc = svc_sendmail(script("fails", "cat > /dev/null; exit 3"), "f@x.test", rcpts, 1, msg,
                      sizeof msg - 1, true, 10, why, sizeof why);
    TAP_OK(rc == -1 && strstr(why, "failed (exit status 3)") != NULL, "exit status 3 is a failure "
           "that says so (%s)", why);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-sendmail", dir);
    rc = svc_sendmail(missing, "f@x.test", rcpts, 1, msg, sizeof msg - 1, true, 10, why,
                      sizeof why);
    TAP_OK(rc == -1 && strstr(why, "could not be run") != NULL, "a missing program: could not be "
           "run (%s)", why);
    size_t big = 4 << 20;
    char *large = malloc(big);
    memset(large, 'x', big);
    rc = svc_sendmail(script("early", "exit 0"), "f@x.test", rcpts, 1, large, big, false, 10, why,
                      sizeof why);
    TAP_OK(rc == -1 && strstr(why, "did not take the whole message") != NULL,
           "one that exits before reading 4 MiB did not take the whole message (%s)", why);
    free(large);
    time_t t0 = time(NULL);
    rc = svc_sendmail(script("stuck", "exec sleep 600"), "f@x.test", rcpts, 1, msg,
                      sizeof msg - 1, true, 1, why, sizeof why);
    time_t took = time(NULL) - t0;
    TAP_OK(rc == -1 && strstr(why, "did not finish within 1 seconds (killed)") != NULL && took < 10,
           "a sendmail that never ends is killed at the deadline (%s)", why);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
