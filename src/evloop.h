/*
 * evloop: the one event loop of the program (poll(2); STYLE.md §8). "The
 * loop" elsewhere means implement -> verify (iteration.h).
 *
 * poll(2) over registered descriptors with the nearest absolute
 * CLOCK_MONOTONIC deadline as timeout; signals (SIGCHLD, SIGINT, SIGTERM,
 * SIGHUP) arrive through a self-pipe written by async-signal-safe handlers
 * and are dispatched as ordinary callbacks. Never a busy wait, never a sleep.
 *
 * Calling sequence:
 *   1. struct evloop *l = evloop_new();            -- installs the signal plumbing
 *   2. evloop_watch_fd / evloop_add_timer / evloop_on_signal (any time, also from callbacks)
 *   3. while (!done) evloop_run_once(l);         -- or evloop_run(l, &done)
 *   4. evloop_free(l);
 *
 * Callbacks may add or remove watches, timers and signal handlers, including
 * their own; a removed watch never gets a stale event, even if its descriptor
 * number is reused in the same round. Do not call evloop_run_once() or
 * evloop_free() on a loop from inside one of its own callbacks.
 *
 * Order within one round: signals, then fd events, then due timers (earliest
 * deadline first; equal deadlines in order of creation). A timer added from a
 * callback runs in a later round even if already due, so a timer re-arming
 * itself at deadline 0 cannot starve descriptors.
 *
 * Signals: the handlers (installed by the first evloop_new(), restored when the
 * last loop is freed) only count and write to a close-on-exec, non-blocking
 * self-pipe. SIGPIPE is set to SIG_IGN for the whole process, for good (EPIPE
 * is handled where it occurs). Several loops may exist (proc_run_sync() runs
 * a private one, possibly while the runner's loop exists): each loop sees
 * each signal delivered after its creation, coalesced, whichever loop happens
 * to be running when it arrives. evloop_on_signal() for another signal
 * installs the handler for it on first use.
 *
 * Ownership: the loop owns nothing of the callers' (fds stay open; args are borrowed).
 */
#ifndef WAITLOOP_LOOP_H
#define WAITLOOP_LOOP_H
#include <stdint.h>

struct evloop;

typedef void (*evloop_fd_fn)(void *arg, int fd, short revents);
typedef void (*evloop_timer_fn)(void *arg);
typedef void (*evloop_signal_fn)(void *arg, int signo);
typedef void (*evloop_idle_fn)(void *arg, int will_wait);

/* NULL (errno set) only when no descriptor is left for the self-pipe. */
struct evloop *evloop_new(void);
/* Frees the loop; watches, timers and handlers still registered are dropped. */
void evloop_free(struct evloop *l);

/* Watch fd for events (POLLIN/POLLOUT); one watch per fd: watching an fd
 * again replaces its events, callback and arg. fn also gets POLLHUP/POLLERR.
 * Returns 0, or -1 for a negative fd or a NULL fn. */
int evloop_watch_fd(struct evloop *l, int fd, short events, evloop_fd_fn fn, void *arg);
void evloop_unwatch_fd(struct evloop *l, int fd);

/* Call fn once at the absolute monotonic time deadline_ms (time_now_ms()).
 * Returns a non-zero id for evloop_cancel_timer(); cancelling a fired or
 * unknown id is harmless. */
uint64_t evloop_add_timer(struct evloop *l, int64_t deadline_ms, evloop_timer_fn fn, void *arg);
void evloop_cancel_timer(struct evloop *l, uint64_t id);

/* Several handlers per signal are allowed; SIGCHLD handlers are used by proc.c. */
void evloop_on_signal(struct evloop *l, int signo, evloop_signal_fn fn, void *arg);
void evloop_off_signal(struct evloop *l, int signo, evloop_signal_fn fn, void *arg);

/* One round: wait for the next fd event, signal or deadline (poll without
 * a timeout when there are no timers), dispatch what is ready. */
void evloop_run_once(struct evloop *l);
/* fn(arg, will_wait) is called at the start of every round, before poll(),
 * in the order of registration — so after everything the previous round
 * (or the caller, before the first round) did: the place to finish work
 * batched since (the history's transaction), before the loop may block.
 * will_wait is 1 when no timer is due and no signal pending, i.e. this
 * round will block in poll() unless a descriptor is ready: the place for
 * deferrable work (it then overlaps the children's run). Idle hooks stay
 * until evloop_free(); they must not call evloop_run_once(). */
void evloop_on_idle(struct evloop *l, evloop_idle_fn fn, void *arg);
/* 1 when a signal has arrived that this loop has not dispatched yet (its
 * handlers run in this round, after the idle hooks): an idle hook can
 * leave to the round what a signal may change. */
int evloop_signal_pending(const struct evloop *l);
/* Run rounds until *done becomes non-zero. */
void evloop_run(struct evloop *l, const int *done);

#endif
