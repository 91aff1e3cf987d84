/*
 * metrics: the run's Prometheus text exposition (SPEC §6.4).
 *
 * A bus sink: it counts what the run's events say and rewrites the metrics
 * file ATOMICALLY (fs_write_atomic: temp file + rename, so a
 * scraper such as node_exporter's textfile collector never reads a torn
 * file) after every event that changed a value, and once more at the end.
 *
 *   struct metrics *m = metrics_new(wf->metrics_file);
 *   metrics_set_warn(m, warn_fn, ctx);            -- optional
 *   bus_subscribe(&bus, metrics_sink, m);
 *   ... run ...
 *   metrics_flush(m, &err);                       -- final write; -1 + err on failure
 *   metrics_free(m);
 *
 * Families (all prefixed waitloop_), and the events that drive them:
 *   run_duration_seconds                 gauge    run_started .. run_finished (data.duration_s wins)
 *   step_duration_seconds{step}          gauge    step_state RUNNING .. any later status except PENDING/RUNNING
 *   iterations_total{step}               counter  +1 per iteration_finished
 *   waits_total{step,outcome}            counter  +1 per wait_finished (data.outcome)
 *   wait_seconds_sum/_count{step}        summary  wait_finished data.elapsed_s
 *   early_aborts_total{step,reason}      counter  +1 per wait_finished with early_abort (data.reason, else data.outcome)
 *   consecutive_failures{step}           gauge    data.consecutive_failures of any step event
 *                                                 (alert events always carry it; the runner may add it
 *                                                 to attempt_finished / iteration_finished), or
 *                                                 metrics_set_consecutive_failures()
 *   alerts_total{step}                   counter  +1 per alert
 *   suspected_false_aborts_total{step}   counter  +1 per iteration_finished with data.suspected_false_abort
 *   notifications_total{target,reason}   counter  +1 per notify (data.target, data.reason)
 *   last_run_timestamp_seconds{status}   gauge    RUNNING = start time while the run is on; at
 *                                                 run_finished, data.status = end time
 * wait_finished is the one event per wait, so waits_total counts each wait once.
 *
 * Every step seen gets iterations_total, alerts_total and
 * consecutive_failures at 0 so that increase()/rate() work from the start.
 * last_run_timestamp_seconds of earlier runs (other statuses) is carried over
 * from an existing file at metrics_new(), so "no successful run for 1 d"
 * can be alerted on; a RUNNING left by a crashed run stays until the next
 * run starts (and alerts as a run over its expected duration, correctly).
 *
 * Labels are only step ids, target names, outcomes, reasons and statuses;
 * the last three must be single words ([A-Za-z_], at most 32 chars, e.g.
 * "terminal_fail", "TIMED_OUT") or they become "other", so free text (and
 * anything secret in it) never becomes a label. Values are escaped per the
 * exposition format.
 *
 * Ownership: the handle owns everything; events are borrowed.
 */
#ifndef WAITLOOP_METRICS_H
#define WAITLOOP_METRICS_H
#include "error.h"
#include "events.h"
#include "strbuf.h"

struct metrics;

/* path is copied. Never fails; a bad path shows up at the first write. */
struct metrics *metrics_new(const char *path);
void metrics_free(struct metrics *m);

/* Called with one line when a write fails (once per streak of failures). */
typedef void (*metrics_warn_fn)(void *ctx, const char *msg);
void metrics_set_warn(struct metrics *m, metrics_warn_fn fn, void *ctx);

/* The bus sink (ctx is the struct metrics *). */
void metrics_sink(void *m, const struct wl_event *ev);

/* Set waitloop_consecutive_failures{step} directly (from alert_consecutive()). */
void metrics_set_consecutive_failures(struct metrics *m, const char *step, int n);

/* Render the exposition text (appended to out), as it would be written. */
void metrics_render(struct metrics *m, struct strbuf *out);
/* Write the file now. Returns 0, or -1 with err set. */
int metrics_flush(struct metrics *m, struct wl_err *err);
/* Rewrite the file with the durations of what still runs brought up to
 * now (called every metrics.refresh while a run lives). */
int metrics_refresh(struct metrics *m, struct wl_err *err);

#endif
