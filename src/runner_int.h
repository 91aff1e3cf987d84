/*
 * runner_int: what the runner's modules share, private to them (never
 * included outside runner*.c, rundoc.c, worker.c, stepio.c, attempt.c,
 * stepcheck.c).
 *
 * The runner is split by concept:
 *   runner.c     the scheduler and the step state machine
 *   runsetup.c   runner_new(), git setup, accessors
 *   attempt.c    one child of a step: start (argv, logs, sentinel) and end (reason, events)
 *   stepcheck.c  a step's completion_check and the decision of its iteration
 *   worker.c     worker invocation: child environment, script/prompt rendering, subworkflows
 *   stepio.c     inputs, outputs and subworkflow exports (artifact copies)
 *   rundoc.c     the run's documents: run id, _workflow.json, _meta.json, the summary
 * and the retry delay lives with the wait engine's interval growth in backoff.c.
 */
#ifndef WAITLOOP_RUNNER_INT_H
#define WAITLOOP_RUNNER_INT_H
#include <stdint.h>

#include "alert.h"
#include "iteration.h"
#include "runner.h"
#include "sentinel.h"
#include "template.h"
#include "timeutil.h"
#include "wait.h"


enum step_phase { PH_IDLE, PH_STEP, PH_CHECK, PH_WAIT, PH_BACKOFF };

struct step_run {
	/* the step and its state machine (runner.c) */
	struct runner *r;
	const struct wl_step *s;
	size_t idx;
	enum step_status status;
	char *reason;
	enum step_phase phase;
	int exit_code;              /* last worker/check exit code, or -1 */
	int fatal;                  /* FAILED with error class FATAL: dependents skipped even with continue */
	int stopping;               /* being stopped: ends CANCELLED */
	char *stop_reason;
	uint64_t backoff_timer;
	struct alert_tracker alert;  /* consecutive failed attempts / incomplete iterations */
	int64_t start_wall, end_wall, start_mono, phase_start_mono;

	/* iterations and attempts (runner.c; the completion_check: stepcheck.c) */
	int iteration;              /* current iteration, 1-based (0 before start) */
	int max_iterations;         /* 1 without a completion_check */
	int attempt;                /* attempts in this iteration */
	int attempts_total;         /* attempts of the step (events' attempt number) */
	struct iter_loop *il;       /* the implement → verify loop (steps with a completion_check) */
	char *check_id;

	/* its files, named when it starts (runner.c); _meta.json (rundoc.c) */
	char *dir;                  /* <context>/<step> */
	char *cwd;                  /* where the step runs */
	char *decision_file, *fix_file, *wait_failure_file;
	char *wait_name, *wait_stdout, *wait_stderr;   /* of the step's own wait (params borrow them) */
	int meta_dirty;             /* _meta.json changed since it was last written */

	/* the running child (attempt.c; a subworkflow's context: worker.c) */
	struct proc *proc;
	char *sub_ctx;              /* context directory of the running subworkflow attempt */
	struct sentinel *sentinel;  /* roboppi Sentinel guard of the running child, or NULL */
	int sentinel_fired;         /* it stopped the last child: strig says why */
	struct sentinel_trigger strig;

	/* the wait engine: a wait step's condition loop or the guard of proc (runner.c) */
	struct wait *wait;
	const struct wait_settings *settings;   /* of the current wait/guard (the workflow's), or NULL */
	int guard_aborted;          /* the guard of the last worker attempt stopped it (a check's
				       guard reports to the iteration, il, instead) */
	enum wait_outcome guard_outcome;
	char *guard_message;
	char *guard_error;          /* the guard could not start: the child was stopped */
};

struct runner {
	/* set up once by runner_new() (runsetup.c), read by every part */
	const struct wl_workflow *wf;
	const struct run_options *opts;
	struct evloop *loop;
	struct event_bus bus;
	struct artifacts *ctx;
	struct redactor *rd;
	char *redact_env;            /* rd exported for children (REDACT_ENV) */
	const char *lock_toplevel;   /* roboppi's branch lock (branchctx.h): on when set */
	char *lock_branch;           /* the branch every step must start on, or NULL */
	char *run_id;
	char *workspace;            /* absolute */
	char *context_dir;          /* absolute */
	char *wf_dir;               /* directory of the workflow file, absolute */
	char *wf_file;              /* absolute */
	char *self_exe;
	const char *shell;
	struct strvec base_env;     /* environ + workflow env */
	struct gitwork *git;        /* NULL: git tracking off (not a repository, or no loop) */
	struct iter_run iter_run;   /* what every step's loop borrows */
	char *notice;               /* one line for the user (git tracking off), or NULL */
	runner_output_fn output_fn;  /* runner_set_output_fn() */
	void *output_arg;
	runner_gate_fn gate_fn;      /* runner_set_gate() */
	void *gate_arg;

	/* the scheduler (runner.c) */
	struct step_run *steps;
	size_t nsteps, nrunning, nfinished;
	int concurrency;            /* 0 = unlimited */
	int stopping;               /* abort / timeout / cancel in progress */
	int timed_out;
	int cancel_signo;
	int ran;
	enum run_status status;
	int64_t start_wall, end_wall, start_mono;
	uint64_t deadline_timer, schedule_timer;
	int in_schedule;            /* schedule() is running: state changes need no new pass */
	int done;
	char *gate_reason;          /* the gate stopped the run (exit code 2) */

	/* the children's environment (worker.c) */
	struct strvec step_env;     /* worker_env() of a step without env of its own, built once */
	size_t step_env_slot[8];    /* where its per-step variables are in it */

	/* the run's documents (rundoc.c) */
	uint64_t meta_timer;        /* pending flush of changed _meta.json files */
	size_t next_dir;            /* rundoc_on_idle(): steps before this have their directory */
	char *artifact_error;       /* first failed artifact write */
	struct strvec artifact_errors; /* every distinct one */
};

static inline int step_terminal(enum step_status s)
{
	return s != STEP_PENDING && s != STEP_RUNNING;
}

static inline double ms_to_s(int64_t ms)
{
	return (double)ms / 1000.0;
}

static inline double step_duration_s(const struct step_run *sr)
{
	if (!sr->start_wall)
		return 0;
	int64_t end = sr->end_wall ? sr->end_wall : time_wall_ms();
	return ms_to_s(end - sr->start_wall);
}

/* runner.c: the state machine */
void run_emit(struct runner *r, enum ev_type type, const struct step_run *sr, cJSON *data);   /* takes data */
void step_warn(struct step_run *sr, const char *kind, const char *message);
void step_set_status(struct step_run *sr, enum step_status st, const char *reason);
void step_fail(struct step_run *sr, const char *reason);
void step_succeeded(struct step_run *sr);
void step_record_outcome(struct step_run *sr, int failed, const char *reason);
int step_finish_if_stopping(struct step_run *sr);
int run_stopping_for(const struct step_run *sr);
void attempt_start(struct step_run *sr);
void attempt_failed(struct step_run *sr, const char *reason, int timed_out, int have_exit, int exit_code);
void on_attempt_exit(void *arg, const struct proc_result *res);

/* waitstep.c: the wait engine beside a child (guards), and wait steps */
void clear_guard(struct step_run *sr);
int guard_start(struct step_run *sr, const struct wait_settings *settings, enum wait_phase phase,
		const struct strvec *env, struct wl_err *err);
void wait_step_start(struct step_run *sr, cJSON *started);

/* attempt.c: one child of a step */
int attempt_spawn(struct step_run *sr, int is_check, struct wl_err *err);
void attempt_proc_done(struct step_run *sr, const struct proc_result *res);
char *attempt_result_reason(const struct proc_result *res, int64_t timeout_ms);
void attempt_emit_finished(struct step_run *sr, const char *phase, const struct proc_result *res, const char *reason);

/* stepcheck.c: the completion_check */
void stepcheck_start(struct step_run *sr);
void iteration_start(struct step_run *sr);
void stepcheck_on_exit(void *arg, const struct proc_result *res);

/* worker.c: worker invocation */
void worker_env(struct step_run *sr, struct strvec *env, const char *phase);
void worker_template_vars(const struct step_run *sr, struct template_vars *v);
int worker_argv(struct step_run *sr, int is_check, struct strvec *env, struct strvec *argv, struct wl_err *err);

/* stepio.c: artifact copies */
int stepio_copy_inputs(struct step_run *sr, struct wl_err *err);
int stepio_copy_outputs(struct step_run *sr, struct wl_err *err);
void stepio_copy_exports(struct step_run *sr);

/* rundoc.c: the run's documents */
char *rundoc_run_id(int64_t wall_ms);
void run_keep_artifact_error(struct runner *r, const char *msg);
void rundoc_meta_changed(struct step_run *sr);
void rundoc_flush_meta(struct runner *r);
/* Wait until every _meta.json given is written (bgwrite.h); failures kept. */
void rundoc_settle(struct runner *r);
void rundoc_on_idle(void *arg, int will_wait);
void runner_schedule_on_idle(void *arg, int will_wait);   /* runner.c: before rundoc_on_idle */
void rundoc_write_workflow(struct runner *r);
void rundoc_clear_step_dir(struct step_run *sr, struct wl_err *err);

#endif
