/*
 * loop: the one event loop of the program (STYLE.md §8).
 *
 * poll(2) over registered descriptors with the nearest absolute
 * CLOCK_MONOTONIC deadline as timeout; signals (SIGCHLD, SIGINT, SIGTERM,
 * SIGHUP) arrive through a self-pipe written by async-signal-safe handlers
 * and are dispatched as ordinary callbacks. Never a busy wait, never a sleep.
 *
 * Calling sequence:
 *   1. struct loop *l = loop_new();            -- installs the signal plumbing
 *   2. loop_watch_fd / loop_add_timer / loop_on_signal (any time, also from callbacks)
 *   3. while (!done) loop_run_once(l);         -- or loop_run(l, &done)
 *   4. loop_free(l);
 *
 * Callbacks may add or remove watches and timers, including their own.
 * Ownership: the loop owns nothing of the callers' (fds stay open; args are borrowed).
 */
#ifndef WAITLOOP_LOOP_H
#define WAITLOOP_LOOP_H
#include <stdint.h>

struct loop;

typedef void (*loop_fd_fn)(void *arg, int fd, short revents);
typedef void (*loop_timer_fn)(void *arg);
typedef void (*loop_signal_fn)(void *arg, int signo);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watch fd for events (POLLIN/POLLOUT); one watch per fd. Returns 0 / -1. */
int loop_watch_fd(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg);
void loop_unwatch_fd(struct loop *l, int fd);

/* Call fn once at the absolute monotonic time deadline_ms (time_now_ms()).
 * Returns a non-zero id for loop_cancel_timer(); cancelling a fired or
 * unknown id is harmless. */
uint64_t loop_add_timer(struct loop *l, int64_t deadline_ms, loop_timer_fn fn, void *arg);
void loop_cancel_timer(struct loop *l, uint64_t id);

/* Several handlers per signal are allowed; SIGCHLD handlers are used by proc.c. */
void loop_on_signal(struct loop *l, int signo, loop_signal_fn fn, void *arg);
void loop_off_signal(struct loop *l, int signo, loop_signal_fn fn, void *arg);

/* One round: wait for the next fd event, signal or deadline, dispatch it. */
void loop_run_once(struct loop *l);
/* Run rounds until *done becomes non-zero. */
void loop_run(struct loop *l, const int *done);

#endif
