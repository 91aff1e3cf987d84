/*
 * events: the run's event bus.
 *
 * The runner and the wait engine describe what happens as events; sinks
 * subscribe to them: the context directory (events.jsonl, _meta.json), the
 * history store, metrics, notifications, the terminal progress display.
 * Emitting never fails from the emitter's point of view: a sink reports its
 * own trouble (one bounded warning) and the run goes on.
 *
 * Every event has a type, a wall-clock timestamp, the run id and (where it
 * applies) step / iteration / attempt, plus a cJSON object `data` with the
 * type-specific fields (documented in schema/event.schema.json). The bus
 * borrows the event for the duration of bus_emit(); sinks copy what they keep.
 * Event text is already redacted by the emitter (redact.h).
 */
#ifndef WAITLOOP_EVENTS_H
#define WAITLOOP_EVENTS_H
#include <cjson/cJSON.h>
#include <stdint.h>

#include "workflow.h"

enum ev_type {
	EV_RUN_STARTED,        /* data: workflow, file, workspace, context_dir, pid */
	EV_PREFLIGHT,          /* data: name, ok, fingerprint, message */
	EV_STEP_STATE,         /* data: status (PENDING..), reason */
	EV_ATTEMPT_STARTED,    /* data: phase (step|completion_check|wait) */
	EV_ATTEMPT_FINISHED,   /* data: phase, exit_code, signal, timed_out, signals_sent[], reason, duration_s */
	EV_ITERATION_STARTED,
	EV_ITERATION_FINISHED, /* data: decision, source, reasons[], fingerprints[] */
	EV_OBSERVATION,        /* data: the wait-probe.log line, plus stall_threshold when no progress can stall the wait */
	EV_WAIT_FINISHED,      /* data: outcome, elapsed_s, observations, fingerprints[], phase, target, early_abort,
				  no_progress + stall_threshold when no progress can stall the wait */
	EV_EARLY_ABORT,        /* never emitted: the name notify (notify.events: early_abort) gives an
				  EV_WAIT_FINISHED with early_abort true; read from old events.jsonl
				  files (which had both) and ignored */
	EV_KILL,               /* data: phase, signals_sent[], why */
	EV_ALERT,              /* data: consecutive_failures, threshold, reason */
	EV_NOTIFY,             /* data: target, event, reason, message */
	EV_GIT_CHANGES,        /* data: head_before, head_after, branch, files[{path,insertions,deletions,status}] */
	EV_CONVERGENCE,        /* data: stage, fingerprints[], diagnosis */
	EV_RUN_FINISHED,       /* data: status, duration_s, exit_code */
	EV_WARNING,            /* data: kind (output_missing|input_missing|sentinel), message */
	EV__COUNT
};

struct wl_event {
	enum ev_type type;
	int64_t ts_ms;            /* wall clock */
	const char *run_id;
	const char *step;         /* NULL for run-level events */
	int iteration;            /* 0 = n/a */
	int attempt;              /* 0 = n/a */
	cJSON *data;              /* object; may be NULL */
	enum obs_class obs_class; /* EV_OBSERVATION: the observation's class, typed for the sinks
				     (data's "class" is its spelling in events.jsonl) */
};

typedef void (*event_sink_fn)(void *ctx, const struct wl_event *ev);

#define EVENT_MAX_SINKS 8
struct redactor;
struct event_bus {
	event_sink_fn fn[EVENT_MAX_SINKS];
	void *ctx[EVENT_MAX_SINKS];
	int n;
	/* Non-NULL: bus_emit redacts ev->data (redact_json) and ev->step before
	 * any sink sees them -- the one boundary for events, history,
	 * notifications, metrics and events.jsonl; sinks do not redact again. */
	const struct redactor *rd;
	char clean_step[2][72];   /* the last two step ids found clean (a cache) */
};
#define EVENT_BUS_INIT {{0}, {0}, 0, NULL, {{0}}}

const char *event_type_name(enum ev_type t);    /* "step_state", "early_abort", ... */
void bus_subscribe(struct event_bus *bus, event_sink_fn fn, void *ctx);
/* Fill ts_ms if 0, redact ev->data in place (bus->rd) and deliver to every
 * sink in subscription order. */
void bus_emit(struct event_bus *bus, struct wl_event *ev);
/* The event as one JSON object {type, ts, run_id, step, iteration, attempt, ...data}. Caller deletes. */
cJSON *event_to_json(const struct wl_event *ev);
/* Append json_compact(event_to_json(ev)) and a newline to sb -- the
 * events.jsonl line, byte for byte -- without building that object. */
struct strbuf;
void event_to_line(struct strbuf *sb, const struct wl_event *ev);
/*
 * events.jsonl, written by turns: event_file_add() appends ev's line to a
 * buffer, event_file_flush() writes the buffer with one write(2) on an
 * O_APPEND descriptor. The runner flushes before its loop may block (an idle
 * hook, evloop.h), before it decides the run's status and at the end, so a
 * SIGKILL loses at most the lines of the turn it was in -- as the history
 * (store.h) -- and a turn costs one write, not one per event (issue 19).
 * Lines are whole or absent: a write cut short (full disk) is truncated
 * back to the end of its last whole line. A buffer past EVENT_FILE_MAX is
 * flushed at once. event_file_add() never fails: a failed flush returns -1
 * + err ("cannot write 'path': ..."), and the buffered lines are dropped.
 *
 *   struct event_file *f = event_file_open(path, &err);   -- NULL + err
 *   event_file_add(f, ev); ...
 *   event_file_flush(f, &err);
 *   event_file_close(f, &err);                              -- flushes; -1 + err
 */
#define EVENT_FILE_MAX (256 * 1024)
struct event_file;
struct wl_err;
struct event_file *event_file_open(const char *path, struct wl_err *err);
/* Buffer ev's line; -1 + err only when a full buffer had to be flushed and that failed. */
int event_file_add(struct event_file *f, const struct wl_event *ev, struct wl_err *err);
int event_file_flush(struct event_file *f, struct wl_err *err);
int event_file_close(struct event_file *f, struct wl_err *err);
/*
 * The inverse, for tools that replay events.jsonl lines: fills *ev from obj
 * (ts_ms = now; "ts" is not parsed back) and returns 0, or -1 when obj has no
 * known "type". ev->run_id/step borrow from obj; ev->data is a new object
 * the caller deletes (cJSON_Delete(ev->data)); an observation's obs_class is
 * parsed from its "class".
 */
int event_from_json(const cJSON *obj, struct wl_event *ev);

#endif
