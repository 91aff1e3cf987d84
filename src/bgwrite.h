/*
 * bgwrite: the runner's step documents written by a second thread.
 *
 * The kernel runs a chain's next step on the runner's CPU, and the runner's
 * own per-step file work there -- a step's _meta.json: a create, a link and
 * a rename, 0.05-0.2 ms on ext4 -- delays the step (docs/benchmarks.md,
 * session 6). A thread of its own is woken on the other CPU when that one
 * is idle, so the writes overlap the step instead. Jobs run one at a time,
 * in the order given; a failed one is kept and handed back by
 * bgwrite_drain(), on the caller's thread.
 *
 *   struct bgwrite *b = bgwrite_new();      -- NULL: no thread, write inline
 *   bgwrite_linked(b, path, alias, buf, len);  -- takes path, alias, buf
 *   bgwrite_drain(b, 0, on_error, arg);     -- errors so far; 1: wait for all
 *   bgwrite_free(b);                        -- waits for all, ends the thread
 *
 * The thread blocks every signal and only writes files (fsutil.h).
 */
#ifndef WAITLOOP_BGWRITE_H
#define WAITLOOP_BGWRITE_H
#include <stddef.h>

struct bgwrite;

struct bgwrite *bgwrite_new(void);
/* fs_write_atomic_linked(path, alias, buf, len) on the thread; a name that
 * could not be updated is removed (artifacts.h). Takes the three buffers
 * (malloc'd; alias may be NULL). */
void bgwrite_linked(struct bgwrite *b, char *path, char *alias, char *buf, size_t len);
/* fn(arg) on the thread, after every job given before it; returns the
 * job's ticket for bgwrite_wait(). fn owns arg. */
unsigned long bgwrite_call(struct bgwrite *b, void (*fn)(void *arg), void *arg);
/* Wait until the job of `ticket` and every one before it are done. */
void bgwrite_wait(struct bgwrite *b, unsigned long ticket);
/* Calls on_error(arg, message) for each write that failed since the last
 * call; with wait, first waits until every job given so far is done. */
void bgwrite_drain(struct bgwrite *b, int wait, void (*on_error)(void *arg, const char *msg), void *arg);
void bgwrite_free(struct bgwrite *b);

#endif
