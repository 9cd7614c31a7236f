/* control_client.c: see control_client.h. */
#include "control_client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/errbuf.h"

int control_call(const char *address, const char *command, strbuf *out, char *why,
                 size_t why_size)
{
    if (address == NULL || strncmp(address, "unix:", 5) != 0)
        return errbuf_set(why, why_size, "no control socket configured ([daemon] control)");
    const char *path = address + 5;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return errbuf_set(why, why_size, "control socket path too long: %s", path);
    if (strchr(command, '\n') != NULL)
        return errbuf_set(why, why_size, "a control command is one line");
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errbuf_set(why, why_size, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = CONTROL_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        return errbuf_set(why, why_size, "domauthd's control socket %s: %s", path, strerror(e));
    }
    size_t clen = strlen(command);
    if (send(fd, command, clen, MSG_NOSIGNAL) != (ssize_t)clen ||
        send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
        int e = errno;
        close(fd);
        return errbuf_set(why, why_size, "sending to %s: %s", path, strerror(e));
    }
    char buf[8192];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return errbuf_set(why, why_size, "reading from %s: %s", path,
                              e == EAGAIN ? "no answer in time" : strerror(e));
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (total > CONTROL_ANSWER_MAX) {
            close(fd);
            return errbuf_set(why, why_size, "answer from %s larger than %d bytes", path,
                              CONTROL_ANSWER_MAX);
        }
        strbuf_append(out, buf, (size_t)n);
    }
    close(fd);
    if (out->failed)
        return errbuf_set(why, why_size, "out of memory");
    return 0;
}
