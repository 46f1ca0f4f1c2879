// The smallest libmio-client program: hand a pipe to mio-daemon, write to
// it, receive its readable event.
//
//     cc pipe_readable.c $(pkg-config --cflags --libs mio-client)
//     ./a.out [SOCKET]          (default: $MIO_SOCKET, then the usual places)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mio-client.h>

int main(int argc, char **argv) {
    mio_client *c;
    int r = mio_client_connect(argc > 1 ? argv[1] : NULL, &c);
    if (r < 0) {
        fprintf(stderr, "cannot connect to mio-daemon: %s\n", strerror(-r));
        return 1;
    }
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return 1;
    r = mio_client_register(c, p[0], 7, MIO_INTEREST_READABLE, 0);
    if (r < 0) {
        const char *code = mio_client_error_code(c);
        fprintf(stderr, "register: %s%s%s\n", strerror(-r), code ? ": " : "", code ? code : "");
        return 1;
    }
    if (write(p[1], "x", 1) != 1) return 1;
    mio_event ev[8];
    int n = mio_client_wait(c, ev, 8, 5000);
    if (n < 0) {
        fprintf(stderr, "wait: %s\n", strerror(-n));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (ev[i].token == 7 && (ev[i].flags & MIO_EVENT_READABLE)) {
            printf("token 7 readable\n");
            mio_client_close(c);
            return 0;
        }
    }
    fprintf(stderr, "no readable event within 5 s\n");
    return 1;
}
