/*
 * wait: the wait_policy engine (SPEC §4.4, §5, §6.2, §6.3) — one engine for
 * all four entry points: `waitloop wait`, wait steps, guarded
 * completion_checks and guarded worker steps.
 *
 * Two shapes, both driven by the caller's event loop:
 *
 * Condition mode (wait steps, `waitloop wait`):
 *   1. struct wait_params p = WAIT_PARAMS_INIT; fill loop, settings (the
 *      policy resolved once by wait_settings_resolve(), workflow.h),
 *      condition, env, out_dir, ids, on_done;
 *   2. struct wait *w = wait_start(&p, &err);
 *   3. the engine runs the condition every interval (with backoff), and in
 *      probe_aware mode the probe / rules / classify after each failed
 *      condition, until met / terminal_fail / stalled / timeout;
 *   4. on_done(arg, &result) is called once; w is freed after it returns.
 *
 * Guard mode (a completion_check or worker step running under a policy):
 *   1. the caller starts the guarded process with proc_start(), forwarding its
 *      on_output chunks to wait_guard_output();
 *   2. w = wait_guard_start(&p, guarded_proc, &err) — probes run beside the
 *      process every interval; its recent output is matched too;
 *   3. on terminal_fail / stalled / no_output (no_output_timeout without a
 *      byte) / max_wait, the engine calls proc_stop(guarded_proc) itself
 *      (escalation with settings->p.grace);
 *   4. from the guarded process's on_exit, the caller MUST call
 *      wait_guard_finish(w, res): the engine drops its pointer to the proc,
 *      writes wait-failure.json if it aborted (with the signals actually
 *      sent), calls on_done synchronously (outcome WAIT_MET when it never
 *      aborted: "the guarded process ended on its own"), and frees w.
 *      on_done goes to whoever needs the result, not necessarily the caller
 *      (done_arg): a completion_check's guard reports to its iteration
 *      (iter_loop_guard_done, iteration.h), a worker step's to the runner.
 *      The result carries the settings it ran with (on_terminal / on_stall).
 *
 * wait_cancel(w): the run is being cancelled; running condition/probe
 * children are stopped, on_done follows (outcome WAIT_CANCELLED) once they
 * are gone. The wait's own children (condition, probe, classifier) are
 * always stopped with settings->p.child_grace, the guarded process with
 * settings->p.grace. In guard mode the caller stops the guarded proc itself and still
 * calls wait_guard_finish.
 *
 * Condition timing (condition mode): a try runs until it exits or until
 * condition_timeout — never killed at the interval; the next try starts one
 * interval after the last one started (or at once when the try took
 * longer). When max_wait passes while waiting for the next try, one last try
 * runs (as the classic `until cmd; do [ elapsed -ge max ] && fail; sleep;
 * done` loop does); a try running at max_wait is left to finish within its
 * condition_timeout. A condition that cannot be executed — exec failure, or
 * exit 126/127 on the FIRST try (the shell's "command not found") — ends the
 * wait at once with WAIT_ERROR; so does a classifier that cannot be
 * executed.
 *
 * Artifacts (both modes), in out_dir: wait-probe.log (one JSON line per
 * observation, started afresh by each wait) and, for every outcome other
 * than met/cancelled, wait-failure.json (schema waitloop.wait-failure.v1,
 * with the wait's name, condition and probe commands). Each wait owns its
 * out_dir: no two waits share one (under a run, the step directory is the
 * step's own wait's — the wait step or the guard — and every `waitloop
 * wait` in a script has <step dir>/waits/<name>/, cmd_wait.c), so nothing
 * depends on which wait ends first. All text redacted
 * with params.redactor; bounded in size. Observations and the final outcome
 * are also emitted on params.bus (EV_OBSERVATION, and one EV_WAIT_FINISHED per
 * wait, its early_abort field true for terminal_fail/stalled/no_output) when a
 * bus is given.
 *
 * Ownership: params strings/arrays are copied by wait_start/wait_guard_start;
 * settings, redactor, bus and loop are borrowed and must outlive w. The
 * result and its strings are valid only during on_done.
 */
#ifndef WAITLOOP_WAIT_H
#define WAITLOOP_WAIT_H
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "strvec.h"
#include "workflow.h"

struct evloop;
struct proc;
struct proc_result;
struct redactor;
struct event_bus;
struct wait;

enum wait_phase { WAIT_PHASE_WAIT, WAIT_PHASE_STEP, WAIT_PHASE_CHECK, WAIT_PHASE_STANDALONE };

struct wait_result {
	enum wait_outcome outcome;
	int early_abort;              /* terminal_fail, stalled or no_output */
	struct strvec fingerprints;   /* sorted, unique; non-empty unless met/cancelled */
	struct strvec reasons;        /* human sentences, redacted */
	struct strvec hints;          /* hints of the rules that fired */
	const char *message;          /* one line, redacted */
	const char *rule;             /* which rule decided, or NULL */
	int observations;
	double elapsed_s;
	unsigned signals_sent;        /* PROC_SENT_* sent to a guarded/condition group */
	int probe_broken;             /* terminal_fail because the probe cannot run (`waitloop wait` exits 2) */
	const char *failure_file;     /* path of wait-failure.json, or NULL */
	const char *probe_log;        /* path of wait-probe.log */
	const char *name;             /* the wait's name (wait_params.name, else derived) */
	const struct wait_settings *settings;   /* the resolved policy it ran with (wait_params.settings):
						   on_terminal / on_stall say what an abort means */
};

typedef void (*wait_done_fn)(void *arg, const struct wait_result *res);
/* A non-fatal problem (a pattern hit the regex match limit, an artifact could
 * not be written): the wait goes on; the text is redacted. The engine never
 * prints: the caller reports it (stderr for `waitloop wait`, an EV_WARNING
 * event in a run). */
typedef void (*wait_warning_fn)(void *arg, const char *message);
/* Condition output as it arrives (stream: 1 stdout, 2 stderr). */
typedef void (*wait_output_fn)(void *arg, int stream, const char *data, size_t len);

struct wait_params {
	struct evloop *loop;
	const struct wait_settings *settings;  /* the resolved policy (wait_settings_resolve); borrowed */
	enum wait_phase phase;
	const char *condition;         /* shell command (run as <shell> -c), or NULL */
	char *const *condition_argv;   /* argv form (`waitloop wait -- cmd ...`), or NULL */
	const char *shell;             /* default "bash" */
	char *const *env;              /* environment for condition/probe/classify; NULL = inherit */
	const char *cwd;
	const char *out_dir;           /* created if missing; wait-probe.log starts empty */
	const char *name;              /* NULL = derived (wait_derive_name) */
	int64_t condition_timeout;     /* ms a condition may run; 0 = the time left of max_wait,
					  at least 2 s so the last try is never cut at birth */
	const char *stdout_log;        /* condition mode: the condition's stdout is appended here;
					  guard mode: where the guarded process's stdout is. Both
					  recorded in wait-failure.json's pointers; may be NULL */
	const char *stderr_log;
	wait_output_fn on_output;      /* condition output passthrough; may be NULL */
	const char *check_id;
	const char *run_id;
	const char *workflow;
	const char *step;
	int iteration;
	const struct redactor *redactor;  /* may be NULL (built-in patterns only) */
	struct event_bus *bus;            /* may be NULL */
	wait_done_fn on_done;
	wait_warning_fn on_warning;    /* may be NULL: warnings are then only in wait-probe.log */
	void *arg;                     /* of on_output, on_warning and (without done_arg) on_done */
	void *done_arg;                /* on_done's own argument, or NULL (then arg): the result may
					  go to a module other than the caller (a check's guard to
					  its iteration, iteration.h) */
};
#define WAIT_PARAMS_INIT {0}

const char *wait_phase_name(enum wait_phase p);       /* "wait", "step", "completion_check", "standalone" */
/*
 * A wait's name when none is given: from the target (crd/x.example.io ->
 * "crd-x.example.io"), else from the command's words ("kubectl get crd x" ->
 * "kubectl-get-crd-x"), else "wait". A safe path segment: [A-Za-z0-9._-],
 * at most 60 bytes, never "." or "..". Caller frees.
 */
char *wait_derive_name(const char *name, const char *target, const char *condition, char *const *argv);

struct wait *wait_start(const struct wait_params *p, struct wl_err *err);
struct wait *wait_guard_start(const struct wait_params *p, struct proc *guarded, struct wl_err *err);
void wait_guard_output(struct wait *w, const char *data, size_t len);
void wait_guard_finish(struct wait *w, const struct proc_result *res);
void wait_cancel(struct wait *w);

/* The schedule (pure, for tests with a fake clock): the next observation is
 * due one interval after the start of the last one (at once if that is
 * past); *interval_ms then grows by backoff_factor up to
 * backoff_max_interval. Returns the due time. */
int64_t wait_schedule_next(const struct wait_settings *settings, int64_t obs_start_ms, int64_t now_ms,
			   int64_t *interval_ms);

#endif
