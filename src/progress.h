/*
 * progress: what `waitloop run` shows while a run goes on, and its end table
 * (SPEC §3). This is the run command's display; it writes only to the
 * streams it is given.
 *
 * Live (stderr):
 *   - TTY, normal: one redrawn line per running step — step, iteration/max,
 *     phase, last probe class, no-progress count/threshold, elapsed — at
 *     most ~4 redraws a second, plus a permanent line when a step ends;
 *   - no TTY (or --no-progress): one line per event, and a keepalive line
 *     when nothing was printed for 30 s (WAITLOOP_KEEPALIVE_S overrides),
 *     so CI no-output watchdogs do not kill a healthy long wait;
 *   - quiet: nothing; verbose: also every output line of steps, prefixed
 *     with "[step] ".
 * Colour only on a TTY and when NO_COLOR is unset.
 *
 *   struct progress *p = progress_new(loop, &opts, redactor);
 *   bus_subscribe(bus, progress_sink, p);
 *   runner_set_output_fn(r, progress_output, p);     -- verbose output
 *   ... run ...
 *   progress_finish(p);                               -- clears the live block
 *   progress_print_table(stdout, summary, color);
 *   progress_free(p);
 *
 * Ownership: loop and redactor are borrowed and must outlive p.
 */
#ifndef WAITLOOP_PROGRESS_H
#define WAITLOOP_PROGRESS_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "events.h"
#include "proc.h"

struct progress;
struct evloop;
struct redactor;

struct progress_opts {
	FILE *out;          /* stderr */
	int verbosity;      /* -1 quiet, 0 normal, 1 verbose */
	int live;           /* 1: redrawn lines (a TTY and not --no-progress) */
	int color;
};

struct progress *progress_new(struct evloop *l, const struct progress_opts *o, const struct redactor *rd);
void progress_sink(void *p, const struct wl_event *ev);
/* runner_output_fn: step output for verbose mode. */
void progress_output(void *p, const char *step, enum proc_stream stream, const char *data, size_t len);
void progress_finish(struct progress *p);
void progress_free(struct progress *p);

/* The end table of a run summary (runner_summary()):
 *   PASS  build
 *   FAIL  test (3 iterations) — completion_check failed
 *   Workflow: FAILED (12.3s)
 *   Context: /ws/context
 *   Run: 20261121-043000-a1b2c3 */
/* The same table as roboppi prints it (`waitloop workflow`). */
void progress_print_roboppi_table(FILE *out, const cJSON *summary, int color);
void progress_print_table(FILE *out, const cJSON *summary, int color);

#endif
