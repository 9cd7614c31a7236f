/* sendmail.c: see sendmail.h. */
#include "service/sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* msg with each CR LF as LF, malloc'ed; NULL when out of memory. */
static char *lf_copy(const char *msg, size_t len, size_t *out_len)
{
    char *out = malloc(len ? len : 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
            continue;
        out[n++] = msg[i];
    }
    *out_len = n;
    return out;
}

/* Writes all of data to fd (non-blocking) before the deadline. 0; 1 when
 * the reader went away or failed; 2 at the deadline. */
static int write_until(int fd, const char *data, size_t len, time_t deadline)
{
    size_t off = 0;
    while (off < len) {
        int left = (int)(deadline - time(NULL));
        if (left <= 0)
            return 2;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int ready = poll(&p, 1, left * 1000);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return 2;
        ssize_t w = write(fd, data + off, len - off);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            return 1; /* EPIPE: it exited early (SIGPIPE is ignored here) */
    }
    return 0;
}

int svc_sendmail(const char *path, const char *from, const char *const *rcpts, size_t rcpt_count,
                 const char *msg, size_t len, bool crlf_to_lf, unsigned timeout_s, char *why,
                 size_t why_size)
{
    size_t body_len = len;
    char *body = crlf_to_lf ? lf_copy(msg, len, &body_len) : NULL;
    char **argv = calloc(rcpt_count + 6, sizeof *argv);
    if (argv == NULL || (crlf_to_lf && body == NULL)) {
        free(argv);
        free(body);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    size_t a = 0;
    argv[a++] = (char *)path;
    argv[a++] = "-i";
    argv[a++] = "-f";
    argv[a++] = (char *)(from && *from ? from : "<>");
    argv[a++] = "--";
    for (size_t i = 0; i < rcpt_count; i++)
        argv[a++] = (char *)rcpts[i];
    argv[a] = NULL;
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(why, why_size, "pipe: %s", strerror(errno));
        free(argv);
        free(body);
        return -1;
    }
    /* domauthd runs sendmails on several pool threads at once: none may
     * inherit another's pipe, or that one never sees its end. */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        free(argv);
        free(body);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[0], STDIN_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(path, argv);
        _exit(127);
    }
    free(argv);
    close(fds[0]);
    fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    /* A sendmail that exits early must not kill the caller (domauthd
     * ignores SIGPIPE always; the CLI does here). */
    void (*old_sigpipe)(int) = signal(SIGPIPE, SIG_IGN);
    time_t deadline = time(NULL) + (time_t)timeout_s;
    int wrote = write_until(fds[1], body ? body : msg, body ? body_len : len, deadline);
    close(fds[1]);
    free(body);
    if (old_sigpipe != SIG_IGN)
        signal(SIGPIPE, old_sigpipe);
    bool timed_out = wrote == 2;
    int status = 0;
    for (;;) {
        if (timed_out) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (time(NULL) >= deadline)
            timed_out = true;
        else
            usleep(20 * 1000);
    }
    if (timed_out) {
        snprintf(why, why_size, "%s did not finish within %u seconds (killed)", path, timeout_s);
        return -1;
    }
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || wrote != 0) {
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
            snprintf(why, why_size, "%s could not be run", path);
        else
            snprintf(why, why_size, "%s %s (exit status %d)", path,
                     wrote != 0 ? "did not take the whole message" : "failed",
                     status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    return 0;
}
