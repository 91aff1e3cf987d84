/*
 * runner: executes one workflow (SPEC §3, §4.2, §4.3, §6.1, §10).
 *
 * One event loop (evloop.h) drives everything; every child goes through
 * proc.h. Steps start in DAG order (depends_on), at most `concurrency` at a
 * time; each step runs attempts (timeout, retries with backoff timers),
 * then, when it has a completion_check, the check, and iterates until the
 * check says complete or max_iterations is reached. Wait steps and
 * wait_policy guards use the wait engine (wait.h).
 *
 * Calling sequence:
 *   1. struct run_options o = RUN_OPTIONS_INIT; fill it;
 *   2. struct runner *r = runner_new(wf, &o, &err);    -- NULL + err on failure
 *      (creates the context directory, decides the run id)
 *   3. optionally subscribe more sinks: bus_subscribe(runner_bus(r), fn, ctx);
 *      runner_set_output_fn(r, fn, arg) to see step output (verbose mode);
 *   4. enum run_status st = runner_run(r);              -- returns when the run is over
 *      exit code: run_status_exit_code(st, runner_cancel_signal(r));
 *   5. cJSON *summary = runner_summary(r);              -- caller deletes
 *   6. runner_free(r);
 *
 * Run ids are `YYYYMMDD-HHMMSS-<6 hex>` (UTC start time, then 24 random
 * bits): sortable by start time, unique enough for one history database.
 *
 * Ownership: wf and opts (and the strings they point to) are borrowed and
 * must outlive the runner. Everything else belongs to the runner.
 */
#ifndef WAITLOOP_RUNNER_H
#define WAITLOOP_RUNNER_H
#include <cjson/cJSON.h>
#include <stddef.h>

#include "error.h"
#include "events.h"
#include "proc.h"
#include "strvec.h"
#include "workflow.h"

struct runner;
struct evloop;
struct redactor;

enum run_status { RUN_RUNNING, RUN_SUCCEEDED, RUN_FAILED, RUN_TIMED_OUT, RUN_CANCELLED };

enum step_status {
	STEP_PENDING,
	STEP_RUNNING,
	STEP_SUCCEEDED,
	STEP_FAILED,
	STEP_INCOMPLETE,
	STEP_SKIPPED,
	STEP_CANCELLED,
};

/* "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED". */
const char *run_status_name(enum run_status s);
/* "PENDING", "RUNNING", "SUCCEEDED", ... */
const char *step_status_name(enum step_status s);
/* SPEC §3: 0 succeeded, 1 failed, 3 timed out, 128+signo when cancelled by a signal. */
int run_status_exit_code(enum run_status s, int cancel_signo);

struct run_options {
	const char *workspace;        /* NULL = current directory */
	const char *context_dir;      /* NULL = workflow context_dir, else "context" (relative to workspace) */
	const struct strvec *set_env; /* --set NAME=VALUE (highest precedence); may be NULL */
	const char *db_path;          /* resolved by the caller (recorded in _workflow.json); may be NULL */
	const char *metrics_path;     /* same */
	int verbosity;                /* -1 quiet, 0 normal, 1 verbose (recorded only) */
};
#define RUN_OPTIONS_INIT {0}

struct runner *runner_new(const struct wl_workflow *wf, const struct run_options *opts, struct wl_err *err);
void runner_free(struct runner *r);

/* The run's bus, loop and redactor (borrowed; valid until runner_free). */
struct event_bus *runner_bus(struct runner *r);
struct evloop *runner_loop(struct runner *r);
const struct redactor *runner_redactor(const struct runner *r);
const char *runner_run_id(const struct runner *r);

/* Called with every chunk a step, check or wait condition writes (raw bytes,
 * not redacted); step is the step id. */
typedef void (*runner_output_fn)(void *arg, const char *step, enum proc_stream stream, const char *data,
				 size_t len);
void runner_set_output_fn(struct runner *r, runner_output_fn fn, void *arg);

/*
 * A gate (preflight, SPEC §4.8): runner_run() calls fn(arg, r) once, right
 * after run_started and before any step is PENDING. NULL = go on; a reason
 * (borrowed, copied at once) ends the run there: every step SKIPPED with that
 * reason, the run FAILED with it (run_finished data.reason), exit code 2
 * (runner_exit_code()). fn may emit events on runner_bus(r).
 */
typedef const char *(*runner_gate_fn)(void *arg, struct runner *r);
void runner_set_gate(struct runner *r, runner_gate_fn fn, void *arg);
/* The run's exit code: run_status_exit_code(), or 2 when the gate stopped it. */
/* A signal arrived before runner_run() (during the preflight): the run,
 * stopped by the gate, is recorded CANCELLED with exit code 128 + signo. */
void runner_cancel_before_start(struct runner *r, int signo);
int runner_exit_code(const struct runner *r);

/* Run to the end; returns the final status. Call once. */
enum run_status runner_run(struct runner *r);
/* The signal that cancelled the run (SIGINT/SIGTERM/SIGHUP), or 0. */
int runner_cancel_signal(const struct runner *r);

/* One line to show the user once before the run (e.g. "git tracking off: ..."), or NULL. */
const char *runner_notice(const struct runner *r);

/* The first failed write of a context artifact (_meta.json, events.jsonl, ...), or NULL. */
const char *runner_artifact_error(const struct runner *r);
/* Write the events.jsonl lines buffered in this turn now (they are written
 * once per turn of the loop): before a notification is sent, so that its
 * event is in the file when the target runs. */
void runner_flush_events(struct runner *r);
/* Every distinct artifact write failure of the run (without the events.jsonl
 * one, which runner_artifact_error() falls back to). */
const struct strvec *runner_artifact_errors(const struct runner *r);

/*
 * The run summary (the document `run --json` prints): run_id, workflow, file,
 * workspace, context_dir, status, exit_code, started_at, finished_at,
 * duration_s, steps[{id, status, reason, iterations, attempts, exit_code,
 * duration_s}]. Caller deletes.
 */
cJSON *runner_summary(const struct runner *r);

#endif
