/* null_policyd.c: the transport floor of the policy scenario. A policy
 * server that does no work: it serves one TCP connection on the given
 * port and answers each request (an empty line ends it) with
 * "action=DUNNO". Driven like the real servers, it shows what one request
 * and reply cost in the kernel and the client alone. Benchmark code. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: null_policyd PORT\n");
        return 64;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 1) != 0) {
        perror("null_policyd: listen");
        return 1;
    }
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
        perror("null_policyd: accept");
        return 1;
    }
    close(ls);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static const char reply[] = "action=DUNNO\n\n";
    char buf[65536];
    char last = '\0'; /* the byte before this chunk: "\n\n" may straddle */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        int due = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n' && last == '\n') {
                due++;
                last = '\0';
            } else {
                last = buf[i];
            }
        }
        for (; due > 0; due--)
            if (write(fd, reply, sizeof reply - 1) != (ssize_t)(sizeof reply - 1))
                return 1;
    }
    close(fd);
    return 0;
}
