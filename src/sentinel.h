/*
 * sentinel: roboppi's Sentinel guard (its docs/features/sentinel.md and
 * src/workflow/sentinel/), run beside one step or completion_check process.
 *
 * A guard exists only when the workflow says `sentinel: {enabled: true}`
 * and the effective stall policy (sentinel_policy_active) has a detection
 * mechanism: a no-output deadline (`stall.no_output_timeout`, else
 * `sentinel.defaults.no_output_timeout`) and/or a probe.
 *
 * Semantics, as roboppi's StallWatcher/NoProgressWatcher:
 *   - no output: the reference is the last worker_event. roboppi delivers
 *     no worker_event for CUSTOM workers, so for CUSTOM steps the deadline
 *     counts from the start (fingerprint stall/no-initial-output); agent
 *     workers' output is activity. activity_source probe_only: no deadline.
 *   - probe: `sh -c COMMAND` in the run workspace, first at once, then
 *     `interval` after each probe ended; it must print one JSON value;
 *     `class: terminal` triggers on_terminal at once, `class: progressing`
 *     resets the count, anything else counts identical digests in a row
 *     (the probe's `digest`, else a hash of its JSON) up to stall_threshold.
 *     A failed probe (timeout, invalid JSON, non-zero exit with
 *     require_zero_exit) counts towards probe_error_threshold (default 3)
 *     when on_probe_error is stall or terminal.
 *   - action interrupt/fail: <context>/<step>/_stall/event.json is written,
 *     a warning event emitted and the guarded process stopped; action
 *     ignore: the same artifacts and warning, the process goes on.
 *   - every probe is appended to <context>/<step>/_stall/probe.jsonl
 *     ({ts, digest, summary?, error?, exitCode?, stderr?}).
 * All text is redacted before it is written.
 *
 * Calling sequence: s = sentinel_start(&params, proc, &err) after
 * proc_start; forward the proc's output with sentinel_output(); from the
 * proc's on_exit call sentinel_finish(s, &trigger) (frees s; returns 1 and
 * fills trigger when the sentinel stopped the process).
 */
#ifndef WAITLOOP_SENTINEL_H
#define WAITLOOP_SENTINEL_H
#include <stdint.h>

#include "error.h"
#include "strvec.h"
#include "workflow.h"

struct evloop;
struct proc;
struct redactor;
struct sentinel;

/* The effective policy of a step (or check: check.stall, else step.stall),
 * merged with sentinel.defaults as roboppi's resolveStallPolicy does. */
struct sentinel_policy {
	int64_t no_output_timeout;           /* ms, 0 = none */
	enum wl_activity activity_source;
	const struct wl_stall *stall;        /* the written policy, or NULL (defaults only) */
};

/* 1 and *out when the step/check is guarded, 0 when not. */
int sentinel_policy_active(const struct wl_workflow *wf, const struct wl_stall *st, struct sentinel_policy *out);

typedef void (*sentinel_warn_fn)(void *arg, const char *message);

struct sentinel_params {
	struct evloop *loop;
	struct sentinel_policy policy;
	int is_check;                        /* phase "checking" (else "executing") */
	int worker_events;                   /* output of this worker counts as activity (agent workers) */
	char *const *env;                    /* for the probe; NULL = inherit */
	const char *cwd;                     /* the run workspace */
	const char *context_dir;
	const char *step;
	int iteration;
	const char *workflow_id;
	const char *workflow_name;
	const char *events_file;             /* telemetry pointer, relative to context_dir */
	const struct redactor *redactor;
	sentinel_warn_fn on_warning;
	void *arg;
};

struct sentinel_trigger {
	char *kind;                          /* no_output | no_progress | terminal */
	char *reason;
	struct strvec fingerprints;
	struct strvec reasons;
	enum wl_stall_action action;         /* interrupt | fail (ignore never ends a step) */
	enum wl_error_class error_class;
	int as_incomplete;
};

struct sentinel *sentinel_start(const struct sentinel_params *p, struct proc *guarded, struct wl_err *err);
void sentinel_output(struct sentinel *s);
int sentinel_finish(struct sentinel *s, struct sentinel_trigger *t);
void sentinel_trigger_release(struct sentinel_trigger *t);
const char *error_class_name(enum wl_error_class c);

#endif
