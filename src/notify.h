/*
 * notify: informing a peer, never starting work (SPEC §4.9).
 *
 * A bus sink that delivers the configured events (notify.events: early_abort,
 * iteration_finished, alert, run_started, run_finished — the bus types
 * EV_WAIT_FINISHED with early_abort true (delivered with type early_abort),
 * EV_ITERATION_FINISHED, EV_ALERT, EV_RUN_STARTED, EV_RUN_FINISHED) to every
 * declared target:
 *   - file target: appends the payload as one line with one write(2) on an
 *     O_APPEND descriptor (the file is created, its directory never is);
 *   - command target: the command line is split into words (single and
 *     double quotes, backslash; no shell, no expansion) and executed directly
 *     through proc_start() on the runner's loop with the payload on stdin,
 *     in its own process group; at its timeout the group is stopped
 *     (SIGINT, SIGTERM, SIGKILL 500 ms apart), so a hanging peer cannot
 *     delay the run beyond timeout + ~1 s. Nothing else is ever started:
 *     a missing or stopped peer is left alone.
 * Payload: event_to_json(ev) (already redacted by the emitter) with
 * "schema": "waitloop.event.v1" first (schema/event.schema.json).
 *
 * Every delivery ends with a reason (enum notify_reason) that is reported as
 * an EV_NOTIFY event {target, event, reason, message} on opt.bus (after the
 * current event has been delivered to every sink, from the loop; EV_NOTIFY
 * itself is never notified), and, unless delivered, as one warning line of
 * at most 200 characters through opt.log (target_missing at debug level).
 *
 * At most once per (run, event, step, iteration, target): an in-memory set,
 * plus opt.claim (the history store) so it also holds across a crash and
 * resume; claim returns 1 the first time, 0 for a duplicate (a negative
 * return is treated as 1: delivering beats losing the message).
 *
 * Calling sequence:
 *   struct notify_options opt = NOTIFY_OPTIONS_INIT;  opt.loop = loop; opt.bus = &bus; ...
 *   struct notifier *n = notify_new(&wf->notify, &opt, &err);   -- NULL + err: bad command line
 *   bus_subscribe(&bus, notify_sink, n);
 *   ... run ...
 *   notify_drain(n);      -- before exiting: waits for in-flight deliveries (bounded by their timeouts)
 *   notify_free(n);       -- stops and drains whatever is still in flight
 * notify_drain() and notify_free() run the loop: call them from the top
 * level, never from inside one of the loop's callbacks (evloop.h).
 *
 * Ownership: notify_new copies what it needs from cfg and opt strings;
 * loop, bus and the callback contexts are borrowed and must outlive n.
 */
#ifndef WAITLOOP_NOTIFY_H
#define WAITLOOP_NOTIFY_H
#include "error.h"
#include "events.h"
#include "workflow.h"

struct evloop;
struct notifier;

enum notify_reason {
	NOTIFY_DELIVERED,
	NOTIFY_TARGET_MISSING,        /* file's directory or the command is absent */
	NOTIFY_NOT_REACHABLE,         /* not executable, no permission, not writable, FIFO without reader */
	NOTIFY_SEND_FAILED,           /* non-zero exit, killed, write error */
	NOTIFY_TIMED_OUT,             /* command still running at its timeout; stopped */
	NOTIFY_DUPLICATE_SUPPRESSED,  /* already delivered for (run, event, step, iteration, target) */
};
const char *notify_reason_name(enum notify_reason r);   /* "delivered", "target_missing", ... */

enum notify_log_level { NOTIFY_LOG_DEBUG, NOTIFY_LOG_WARNING };
typedef void (*notify_log_fn)(void *ctx, enum notify_log_level level, const char *line);
typedef int (*notify_claim_fn)(void *ctx, const char *run_id, const char *event, const char *step,
			       int iteration, const char *target);

struct notify_options {
	struct evloop *loop;            /* runner's loop; needed for command targets (else: send_failed) */
	struct event_bus *bus;        /* EV_NOTIFY results go here; NULL = not reported */
	const char *cwd;              /* relative paths and commands resolve here; NULL = process cwd */
	char *const *env;             /* environment of command targets; NULL = the runner's */
	notify_log_fn log;            /* may be NULL */
	void *log_ctx;
	notify_claim_fn claim;        /* may be NULL */
	void *claim_ctx;
};
#define NOTIFY_OPTIONS_INIT {0}

/* Default timeout of a command target without `timeout:`. */
#define NOTIFY_DEFAULT_TIMEOUT_MS 10000

/* An empty notify.events list means every notifiable event. */
struct notifier *notify_new(const struct wl_notify *cfg, const struct notify_options *opt,
			    struct wl_err *err);
void notify_free(struct notifier *n);

/* The bus sink (ctx is the struct notifier *). */
void notify_sink(void *n, const struct wl_event *ev);

/* Deliveries in flight plus results not yet reported. */
int notify_pending(const struct notifier *n);
/* Run the loop until notify_pending() is 0 (bounded by the targets' timeouts). */
void notify_drain(struct notifier *n);

/* The payload for an event: one JSON line (no newline). Caller frees. */
char *notify_payload(const struct wl_event *ev);

#endif
