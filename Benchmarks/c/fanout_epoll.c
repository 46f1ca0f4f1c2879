// The C floor for the fanout benchmark: the same work as `mio-bench fanout`,
// in raw epoll. A writer thread writes one byte to each of N pipes per round;
// the poll loop drains every pipe it gets an event for (read until EAGAIN)
// and, when all N were seen, lets the writer start the next round.
// Prints one line: {"events": E, "seconds": S, "events_per_second": R}
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static int pipes_n, rounds;
static int *write_ends;
static sem_t round_done;

static void *writer(void *arg) {
    (void)arg;
    char byte = 'x';
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < pipes_n; i++) {
            if (write(write_ends[i], &byte, 1) != 1) { perror("write"); exit(1); }
        }
        while (sem_wait(&round_done) != 0) {}
    }
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    pipes_n = argc > 1 ? atoi(argv[1]) : 4096;
    rounds = argc > 2 ? atoi(argv[2]) : 100;
    int *read_ends = calloc(pipes_n, sizeof(int));
    write_ends = calloc(pipes_n, sizeof(int));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < pipes_n; i++) {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) { perror("pipe2"); return 1; }
        read_ends[i] = fds[0];
        write_ends[i] = fds[1];
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev) != 0) { perror("epoll_ctl"); return 1; }
    }
    sem_init(&round_done, 0, 0);
    struct epoll_event *events = calloc(1024, sizeof *events);
    char buffer[64];
    long total = 0;
    double start = now();
    pthread_t thread;
    pthread_create(&thread, NULL, writer, NULL);
    for (int r = 0; r < rounds; r++) {
        int seen = 0;
        while (seen < pipes_n) {
            int n = epoll_wait(ep, events, 1024, -1);
            if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
            for (int i = 0; i < n; i++) {
                int fd = read_ends[events[i].data.u64];
                for (;;) {
                    ssize_t got = read(fd, buffer, sizeof buffer);
                    if (got > 0) continue;
                    if (got < 0 && errno == EINTR) continue;
                    break;
                }
                seen++;
            }
        }
        total += seen;
        sem_post(&round_done);
    }
    double elapsed = now() - start;
    pthread_join(thread, NULL);
    printf("{\"events\": %ld, \"seconds\": %.6f, \"events_per_second\": %.1f}\n", total, elapsed, total / elapsed);
    return 0;
}
