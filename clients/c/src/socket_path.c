/* The default socket path, in the order of docs/protocol.md, "Socket path"
 * (steps 2-5; step 1, the daemon's --socket, is the caller's explicit
 * path), for the caller's own uid. The same order as the Swift clients'. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *non_empty_env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int mioc_default_socket_path(char *buf, size_t size) {
    const char *env;
    int n;
    if ((env = non_empty_env("MIO_SOCKET")))
        n = snprintf(buf, size, "%s", env);
    else if (getuid() == 0)
        n = snprintf(buf, size, "/run/mio-daemon/mio.sock");
    else if ((env = non_empty_env("XDG_RUNTIME_DIR")))
        n = snprintf(buf, size, "%s/mio-daemon/mio.sock", env);
    else
        n = snprintf(buf, size, "/tmp/mio-daemon-%u/mio.sock", (unsigned)getuid());
    if (n < 0) return -EINVAL;
    if ((size_t)n >= size) return -ERANGE;
    return n;
}

int mio_client_default_socket_path(char *buf, size_t size) {
    if (!buf) return -EINVAL;
    return mioc_default_socket_path(buf, size);
}
