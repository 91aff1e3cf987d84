/*
 * runner: the run engine. See runner.h for the calling sequence.
 *
 * Shape: one struct step_run per step, driven by callbacks of the loop
 * (proc exits, wait results, backoff and deadline timers). A step goes
 *
 *   PENDING -> RUNNING: [attempt (retries with backoff) -> check]* -> terminal
 *
 * where terminal is SUCCEEDED, FAILED, INCOMPLETE, SKIPPED or CANCELLED.
 * Scheduling (which PENDING step may start, which must be skipped) runs
 * from a zero-delay timer after every state change, never recursively from
 * inside a callback. Stopping the run (abort, workflow timeout, signal)
 * marks pending steps SKIPPED and stops running children with escalation;
 * the run is over when every step is terminal, i.e. when every child has
 * been reaped.
 */
#include "runner.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "alert.h"
#include "context.h"
#include "fsutil.h"
#include "gitwork.h"
#include "iteration.h"
#include "jsonutil.h"
#include "loop.h"
#include "redact.h"
#include "sentinel.h"
#include "strbuf.h"
#include "template.h"
#include "timeutil.h"
#include "wait.h"
#include "xalloc.h"

extern char **environ;


#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 60000
#define DEFAULT_RETRY_FACTOR 2.0
#define SUBWORKFLOW_MAX_DEPTH 5   /* roboppi's default maximum nesting depth */
#define ROBOPPI_RETRY_BASE_MS 100
#define ROBOPPI_RETRY_CAP_MS 5000
#define DEFAULT_MAX_RETRIES 0 /* roboppi: max_retries ?? 0 (executor.ts, docs/guide/workflow.md) */
#define OUTPUT_TAIL 8192
#define STEP_LINGER_MS 10000   /* background job holding a step's pipes: waited for this long */

enum step_phase { PH_IDLE, PH_STEP, PH_CHECK, PH_WAIT, PH_BACKOFF };

struct step_run {
	struct runner *r;
	const struct wl_step *s;
	size_t idx;
	enum step_status status;
	char *reason;
	enum step_phase phase;
	int meta_dirty;             /* _meta.json changed since it was last written */
	int iteration;              /* current iteration, 1-based (0 before start) */
	int max_iterations;         /* 1 without a completion_check */
	int attempt;                /* attempts in this iteration */
	int attempts_total;         /* attempts of the step (events' attempt number) */
	int exit_code;              /* last worker/check exit code, or -1 */
	struct alert_tracker alert;  /* consecutive failed attempts / incomplete iterations */
	struct iter_loop *il;       /* the implement → verify loop (steps with a completion_check) */
	int64_t start_wall, end_wall, start_mono, phase_start_mono;
	char *dir;                  /* <context>/<step> */
	char *cwd;                  /* where the step runs */
	char *check_id;
	char *decision_file, *fix_file, *wait_failure_file;
	char *wait_name, *wait_stdout, *wait_stderr;   /* of the step's own wait (params borrow them) */
	struct proc *proc;
	struct wait *wait;          /* wait step condition loop, or the guard of proc */
	const struct wait_settings *settings;   /* of the current wait/guard (the workflow's), or NULL */
	int guard_aborted;          /* the guard of the last child stopped it */
	enum wait_outcome guard_outcome;
	char *guard_message;
	uint64_t backoff_timer;
	char *guard_error;          /* the guard could not start: the child was stopped */
	struct sentinel *sentinel;  /* roboppi Sentinel guard of the running child, or NULL */
	int sentinel_fired;         /* it stopped the last child: strig says why */
	struct sentinel_trigger strig;
	int fatal;                  /* FAILED with error class FATAL: dependents skipped even with continue */
	char *sub_ctx;              /* context directory of the running subworkflow attempt */
	int stopping;               /* being stopped: ends CANCELLED */
	char *stop_reason;
};

struct runner {
	const struct wl_workflow *wf;
	const struct run_options *opts;
	struct loop *loop;
	struct event_bus bus;
	struct context *ctx;
	struct redactor *rd;
	char *redact_env;            /* rd exported for children (REDACT_ENV) */
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
	uint64_t meta_timer;        /* pending flush of changed _meta.json files */
	size_t next_dir;            /* on_idle(): steps before this have their directory */
	int in_schedule;            /* schedule() is running: state changes need no new pass */
	int done;
	char *artifact_error;       /* first failed artifact write */
	struct strvec artifact_errors; /* every distinct one */
	runner_output_fn output_fn;
	void *output_arg;
	runner_gate_fn gate_fn;
	void *gate_arg;
	char *gate_reason;          /* the gate stopped the run (exit code 2) */
};

static void schedule_soon(struct runner *r);
static void attempt_start(struct step_run *sr);
static void check_start(struct step_run *sr);
static void iteration_start(struct step_run *sr);
static void run_stop(struct runner *r, enum run_status why, const char *reason);
static void on_check_exit(void *arg, const struct proc_result *res);
static void wait_step_start(struct step_run *sr, cJSON *started);
static void emit_warning(struct step_run *sr, const char *kind, const char *message);

/* ---- names ---- */

const char *run_status_name(enum run_status s)
{
	switch (s) {
	case RUN_RUNNING: return "RUNNING";
	case RUN_SUCCEEDED: return "SUCCEEDED";
	case RUN_FAILED: return "FAILED";
	case RUN_TIMED_OUT: return "TIMED_OUT";
	case RUN_CANCELLED: return "CANCELLED";
	}
	return "";
}

const char *step_status_name(enum step_status s)
{
	switch (s) {
	case STEP_PENDING: return "PENDING";
	case STEP_RUNNING: return "RUNNING";
	case STEP_SUCCEEDED: return "SUCCEEDED";
	case STEP_FAILED: return "FAILED";
	case STEP_INCOMPLETE: return "INCOMPLETE";
	case STEP_SKIPPED: return "SKIPPED";
	case STEP_CANCELLED: return "CANCELLED";
	}
	return "";
}

int run_status_exit_code(enum run_status s, int cancel_signo)
{
	switch (s) {
	case RUN_SUCCEEDED: return 0;
	case RUN_FAILED: return 1;
	case RUN_TIMED_OUT: return 3;
	case RUN_CANCELLED: return cancel_signo ? 128 + cancel_signo : 130;
	case RUN_RUNNING: break;
	}
	return 1;
}

static const char *phase_name(enum step_phase p)
{
	switch (p) {
	case PH_STEP: return "step";
	case PH_CHECK: return "completion_check";
	case PH_WAIT: return "wait";
	case PH_BACKOFF: return "backoff";
	case PH_IDLE: break;
	}
	return "";
}

static const char *outcome_word(enum wait_outcome o)
{
	return wait_outcome_name(o);
}

static int step_terminal(enum step_status s)
{
	return s != STEP_PENDING && s != STEP_RUNNING;
}

static double ms_to_s(int64_t ms)
{
	return (double)ms / 1000.0;
}

/* ---- run id, paths ---- */

static char *make_run_id(int64_t wall_ms)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	unsigned char rnd[3] = {0};
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* No entropy source: pid and clock still make the id unique on this host. */
		unsigned v = (unsigned)getpid() ^ (unsigned)time_now_ms();
		rnd[0] = (unsigned char)v;
		rnd[1] = (unsigned char)(v >> 8);
		rnd[2] = (unsigned char)(v >> 16);
	}
	return xasprintf("%04d%02d%02d-%02d%02d%02d-%02x%02x%02x", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);
}

static char *self_exe_path(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return xstrdup("waitloop");
	buf[n] = '\0';
	return xstrdup(buf);
}

static char *dir_of(const char *path)
{
	char *abs = fs_abspath(path);
	char *slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	return abs;
}

/* A user path: absolute as is, else relative to base. Normalised, caller frees. */
static char *path_in(const char *base, const char *p)
{
	char *j = fs_join(base, p);
	char *abs = fs_abspath(j);
	free(j);
	return abs;
}

/* argv[0] as execvp would find it in PATH; 1 when found. */
static int command_on_path(const char *cmd, const char *path)
{
	if (strchr(cmd, '/'))
		return access(cmd, X_OK) == 0;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	const char *p = path;
	while (*p) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *full = n ? xasprintf("%.*s/%s", (int)n, p, cmd) : xasprintf("./%s", cmd);
		struct stat st;
		int ok = stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
		free(full);
		if (ok)
			return 1;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

/* ---- events and artifacts ---- */

static void emit(struct runner *r, enum ev_type type, const struct step_run *sr, cJSON *data)
{
	struct wl_event ev = {0};
	ev.type = type;
	ev.run_id = r->run_id;
	if (sr) {
		ev.step = sr->s->id;
		ev.iteration = sr->s->check.present ? sr->iteration : 0;
		if (type == EV_ATTEMPT_STARTED || type == EV_ATTEMPT_FINISHED || type == EV_KILL)
			ev.attempt = sr->attempts_total;
	}
	ev.data = data;
	bus_emit(&r->bus, &ev);   /* the bus redacts (r->bus.rd) */
	cJSON_Delete(data);
}

static void add_time(cJSON *o, const char *key, int64_t wall_ms)
{
	if (wall_ms <= 0) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	char buf[40];
	time_format_rfc3339(wall_ms, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

/* Artifacts are best effort during the run (a full disk must not kill
 * running steps); every distinct failure is reported by the command at the
 * end, and a run that lost an artifact does not succeed. */
static void keep_artifact_error(struct runner *r, const char *msg)
{
	if (!r->artifact_error)
		r->artifact_error = xstrdup(msg);
	for (size_t i = 0; i < r->artifact_errors.n; i++)
		if (!strcmp(r->artifact_errors.v[i], msg))
			return;
	strvec_push(&r->artifact_errors, msg);
}

static double step_duration_s(const struct step_run *sr)
{
	if (!sr->start_wall)
		return 0;
	int64_t end = sr->end_wall ? sr->end_wall : time_wall_ms();
	return ms_to_s(end - sr->start_wall);
}

/*
 * roboppi's StepMeta fields (its context-manager.ts), beside waitloop's own:
 * stepId, startedAt/completedAt (ms), wallTimeMs, maxIterations, workerKind,
 * artifacts. `status` and `attempts` are shared; `iterations` keeps
 * waitloop's meaning (0 without a completion_check; roboppi says 1).
 */
static void add_roboppi_meta(const struct step_run *sr, cJSON *m)
{
	cJSON_AddStringToObject(m, "stepId", sr->s->id);
	cJSON_AddNumberToObject(m, "startedAt", (double)sr->start_wall);
	if (sr->end_wall && sr->start_wall) {
		cJSON_AddNumberToObject(m, "completedAt", (double)sr->end_wall);
		cJSON_AddNumberToObject(m, "wallTimeMs", (double)(sr->end_wall - sr->start_wall));
	}
	cJSON_AddNumberToObject(m, "maxIterations", sr->max_iterations);
	cJSON_AddStringToObject(m, "workerKind", sr->s->is_wait ? "WAIT"
				: sr->s->subworkflow ? "SUBWORKFLOW" : worker_name(sr->s->worker));
	cJSON *arts = cJSON_AddArrayToObject(m, "artifacts");
	for (size_t i = 0; sr->dir && i < sr->s->noutputs; i++) {
		const struct wl_output *o = &sr->s->outputs[i];
		char *p = fs_join(sr->dir, o->name);
		if (fs_exists(p)) {
			cJSON *a = cJSON_CreateObject();
			cJSON_AddStringToObject(a, "name", o->name);
			char *rel = xasprintf("%s/%s", sr->s->id, o->name);
			cJSON_AddStringToObject(a, "path", rel);
			free(rel);
			cJSON_AddItemToArray(arts, a);
		}
		free(p);
	}
}

/* roboppi's _resolved.json: the step's meta and what it ran with. */
static void write_resolved(const struct step_run *sr, const cJSON *meta)
{
	cJSON *d = cJSON_CreateObject();
	static const char *const keys[] = {"stepId", "status", "startedAt", "completedAt", "wallTimeMs",
					   "attempts", "iterations", "maxIterations", "workerKind", "artifacts", NULL};
	for (size_t i = 0; keys[i]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, keys[i]);
		if (v)
			cJSON_AddItemToObject(d, keys[i], cJSON_Duplicate(v, 1));
	}
	cJSON *res = cJSON_AddObjectToObject(d, "resolved");
	if (sr->s->timeout != WL_UNSET)
		cJSON_AddNumberToObject(res, "timeoutMs", (double)sr->s->timeout);
	add_str_or_null(res, "workspaceRef", sr->cwd);
	cJSON_AddStringToObject(res, "workerKind", cJSON_GetObjectItemCaseSensitive(meta, "workerKind")->valuestring);
	cJSON_AddItemToObject(res, "capabilities", json_string_array(&sr->s->capabilities));
	redact_json(sr->r->rd, d);
	char *path = fs_join(sr->dir, "_resolved.json");
	struct wl_err err = WL_ERR_INIT;
	if (json_write_atomic(path, d, &err) < 0)
		keep_artifact_error(sr->r, err.msg);
	free(path);
	cJSON_Delete(d);
}

static void write_meta_now(struct step_run *sr)
{
	struct runner *r = sr->r;
	sr->meta_dirty = 0;
	if (!sr->dir)
		return;   /* never started (skipped): no directory of its own */
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "step", sr->s->id);
	cJSON_AddStringToObject(m, "run_id", r->run_id);
	cJSON_AddStringToObject(m, "status", step_status_name(sr->status));
	add_str_or_null(m, "reason", sr->reason);
	cJSON_AddStringToObject(m, "worker", sr->s->is_wait ? "WAIT" : worker_name(sr->s->worker));
	cJSON_AddStringToObject(m, "phase", phase_name(sr->phase));
	cJSON_AddNumberToObject(m, "attempts", sr->attempts_total);
	cJSON_AddNumberToObject(m, "iterations", sr->s->check.present ? sr->iteration : 0);
	cJSON_AddNumberToObject(m, "max_iterations", sr->s->check.present ? sr->max_iterations : 0);
	if (sr->exit_code >= 0)
		cJSON_AddNumberToObject(m, "exit_code", sr->exit_code);
	else
		cJSON_AddNullToObject(m, "exit_code");
	add_time(m, "started_at", sr->start_wall);
	add_time(m, "finished_at", sr->end_wall);
	cJSON_AddNumberToObject(m, "duration_s", step_duration_s(sr));
	add_str_or_null(m, "workspace", sr->cwd);
	add_str_or_null(m, "check_id", sr->check_id);
	cJSON_AddItemToObject(m, "depends_on", json_string_array(&sr->s->depends_on));
	add_roboppi_meta(sr, m);
	struct wl_err err = WL_ERR_INIT;
	if (context_write_step_meta(r->ctx, sr->s->id, m, &err) < 0)
		keep_artifact_error(r, err.msg);
	if (step_terminal(sr->status) && sr->start_wall)
		write_resolved(sr, m);
	cJSON_Delete(m);
}

static void flush_meta(struct runner *r)
{
	r->meta_timer = 0;
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].meta_dirty)
			write_meta_now(&r->steps[i]);
}

static void on_flush_meta(void *arg)
{
	flush_meta(arg);
}

/* _meta.json is rewritten at most every META_FLUSH_MS, not once per change:
 * the changes of that window are written together, and a step that starts
 * and ends within it gets only its final file (each file create costs ~0.3 ms
 * on a slow disk; docs/benchmarks.md). The end of the run writes the rest. */
#define META_FLUSH_MS 100
static void write_meta(struct step_run *sr)
{
	struct runner *r = sr->r;
	sr->meta_dirty = 1;
	if (!r->meta_timer)
		r->meta_timer = loop_add_timer(r->loop, time_now_ms() + META_FLUSH_MS, on_flush_meta, r);
}

/* Deferred file creates, done only when the loop is about to wait (mostly
 * while children run, so on a 2-core machine they cost no step any time):
 * the final _meta.json of finished steps and the directory of the next
 * pending step. At most IDLE_CREATES per wait, so a child that exits
 * meanwhile is served soon; the META_FLUSH_MS timer and the end of the run
 * write whatever is left. */
#define IDLE_CREATES 2
static void on_idle(void *arg, int will_wait)
{
	struct runner *r = arg;
	if (!will_wait || r->done)
		return;
	int budget = IDLE_CREATES;
	for (size_t i = 0; budget > 0 && r->meta_timer && i < r->nsteps; i++) {
		struct step_run *sr = &r->steps[i];
		if (sr->meta_dirty && sr->dir && step_terminal(sr->status)) {
			write_meta_now(sr);
			budget--;
		}
	}
	for (; budget > 0 && r->next_dir < r->nsteps; r->next_dir++) {
		struct step_run *sr = &r->steps[r->next_dir];
		if (sr->status == STEP_PENDING && !sr->dir) {
			struct wl_err err = WL_ERR_INIT;   /* a failure shows again in step_start() */
			sr->dir = context_step_dir(r->ctx, sr->s->id, &err);
			budget--;
		}
	}
}

static cJSON *workflow_doc(const struct runner *r)
{
	const struct wl_workflow *wf = r->wf;
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "schema", "waitloop.run.v1");
	cJSON_AddStringToObject(d, "run_id", r->run_id);
	cJSON_AddStringToObject(d, "workflow", wf->name ? wf->name : "");
	cJSON_AddStringToObject(d, "file", r->wf_file);
	cJSON_AddStringToObject(d, "workspace", r->workspace);
	cJSON_AddStringToObject(d, "context_dir", r->context_dir);
	cJSON_AddStringToObject(d, "status", run_status_name(r->status));
	if (r->status != RUN_RUNNING)
		cJSON_AddNumberToObject(d, "exit_code", runner_exit_code(r));
	if (r->gate_reason)
		cJSON_AddStringToObject(d, "reason", r->gate_reason);
	add_time(d, "started_at", r->start_wall);
	add_time(d, "finished_at", r->end_wall);
	cJSON_AddNumberToObject(d, "duration_s",
				ms_to_s((r->end_wall ? r->end_wall : time_wall_ms()) - r->start_wall));
	cJSON_AddNumberToObject(d, "pid", (double)getpid());
	cJSON_AddStringToObject(d, "waitloop_version", WAITLOOP_VERSION);
	cJSON *set = cJSON_AddObjectToObject(d, "settings");
	char dur[64];
	duration_format(wf->timeout, dur, sizeof(dur));
	cJSON_AddStringToObject(set, "timeout", dur);
	if (r->concurrency)
		cJSON_AddNumberToObject(set, "concurrency", r->concurrency);
	else
		cJSON_AddNullToObject(set, "concurrency");
	cJSON_AddStringToObject(set, "shell", r->shell);
	add_str_or_null(set, "history_db", r->opts->db_path);
	add_str_or_null(set, "metrics_file", r->opts->metrics_path);
	/* Names only: values may be secrets, and redaction is the second line of defence. */
	cJSON *envnames = cJSON_AddArrayToObject(set, "env");
	for (size_t i = 0; i < wf->env.n; i++) {
		const char *eq = strchr(wf->env.v[i], '=');
		char *name = xstrndup(wf->env.v[i], eq ? (size_t)(eq - wf->env.v[i]) : strlen(wf->env.v[i]));
		cJSON_AddItemToArray(envnames, cJSON_CreateString(name));
		free(name);
	}
	cJSON *setnames = cJSON_AddArrayToObject(set, "set");
	if (r->opts->set_env)
		for (size_t i = 0; i < r->opts->set_env->n; i++) {
			const char *kv = r->opts->set_env->v[i];
			const char *eq = strchr(kv, '=');
			char *name = xstrndup(kv, eq ? (size_t)(eq - kv) : strlen(kv));
			cJSON_AddItemToArray(setnames, cJSON_CreateString(name));
			free(name);
		}
	cJSON_AddNumberToObject(d, "steps", (double)r->nsteps);
	/* roboppi's _workflow.json fields (ms times, its names) beside waitloop's */
	cJSON_AddStringToObject(d, "id", r->run_id);
	cJSON_AddStringToObject(d, "name", wf->name ? wf->name : "");
	cJSON_AddNumberToObject(d, "startedAt", (double)r->start_wall);
	if (r->end_wall)
		cJSON_AddNumberToObject(d, "completedAt", (double)r->end_wall);
	cJSON *res = cJSON_AddObjectToObject(d, "resolved");
	cJSON_AddNumberToObject(res, "timeoutMs", (double)wf->timeout);
	if (r->concurrency)
		cJSON_AddNumberToObject(res, "concurrency", r->concurrency);
	else
		cJSON_AddNullToObject(res, "concurrency");
	return d;
}

static void write_workflow_json(struct runner *r)
{
	cJSON *d = workflow_doc(r);
	struct wl_err err = WL_ERR_INIT;
	if (context_write_workflow(r->ctx, d, &err) < 0)
		keep_artifact_error(r, err.msg);
	cJSON_Delete(d);
}

static void step_set_status(struct step_run *sr, enum step_status st, const char *reason)
{
	struct runner *r = sr->r;
	enum step_status old = sr->status;
	sr->status = st;
	free(sr->reason);
	sr->reason = reason ? xstrdup(reason) : NULL;
	if (st == STEP_RUNNING && old == STEP_PENDING) {
		sr->start_wall = time_wall_ms();
		sr->start_mono = time_now_ms();
		r->nrunning++;
	}
	if (step_terminal(st) && !step_terminal(old)) {
		if (!sr->dir) {
			struct wl_err err = WL_ERR_INIT;   /* skipped: a directory for its _meta.json */
			sr->dir = context_step_dir(r->ctx, sr->s->id, &err);
		}
		sr->end_wall = time_wall_ms();
		sr->phase = PH_IDLE;
		if (old == STEP_RUNNING)
			r->nrunning--;
		r->nfinished++;
	}
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "status", step_status_name(st));
	add_str_or_null(d, "reason", reason);
	if (step_terminal(st)) {
		cJSON_AddNumberToObject(d, "duration_s", step_duration_s(sr));
		cJSON_AddNumberToObject(d, "iterations", sr->s->check.present ? sr->iteration : 0);
		cJSON_AddNumberToObject(d, "attempts", sr->attempts_total);
		/* the streak as it ends (a success resets it; metrics gauge) */
		cJSON_AddNumberToObject(d, "consecutive_failures", alert_consecutive(&sr->alert));
	}
	emit(r, EV_STEP_STATE, sr, d);
	write_meta(sr);
	schedule_soon(r);
}

/* ---- environment, instructions, command line ---- */

static void set_child_env(struct step_run *sr, struct strvec *env, const char *phase)
{
	struct runner *r = sr->r;
	strvec_copy(env, &r->base_env);
	strvec_setenv_all(env, &sr->s->env);
	if (r->opts->set_env)
		strvec_setenv_all(env, r->opts->set_env);
	strvec_setenv(env, "WAITLOOP_RUN_ID", r->run_id);
	strvec_setenv(env, "WAITLOOP_WORKFLOW", r->wf->name ? r->wf->name : "");
	strvec_setenv(env, "WAITLOOP_STEP", sr->s->id);
	char num[32];
	snprintf(num, sizeof(num), "%d", sr->iteration ? sr->iteration : 1);
	strvec_setenv(env, "WAITLOOP_ITERATION", num);
	snprintf(num, sizeof(num), "%d", sr->max_iterations);
	strvec_setenv(env, "WAITLOOP_MAX_ITERATIONS", num);
	strvec_setenv(env, "WAITLOOP_PHASE", phase);
	strvec_setenv(env, "WAITLOOP_WORKSPACE", r->workspace);
	strvec_setenv(env, "WAITLOOP_CONTEXT_DIR", r->context_dir);
	strvec_setenv(env, "WAITLOOP_STEP_DIR", sr->dir);
	strvec_setenv(env, "WAITLOOP_FIX_FILE", sr->fix_file);
	strvec_setenv(env, "WAITLOOP_DECISION_FILE", sr->decision_file);
	strvec_setenv(env, "WAITLOOP_WAIT_FAILURE_FILE", sr->wait_failure_file);
	strvec_setenv(env, "WAITLOOP_BIN", r->self_exe);
	strvec_setenv(env, REDACT_ENV, r->redact_env);   /* waitloop wait / verdict write redact alike */
	if (sr->check_id && !strcmp(phase, "completion_check")) {
		strvec_setenv(env, "WAITLOOP_CHECK_ID", sr->check_id);
		strvec_setenv(env, "ROBOPPI_COMPLETION_CHECK_ID", sr->check_id);
	}
}

static void template_vars_for(const struct step_run *sr, struct template_vars *v)
{
	const struct runner *r = sr->r;
	template_set(v, "workflow", r->wf->name ? r->wf->name : "");
	template_set(v, "step", sr->s->id);
	template_setf(v, "iteration", "%d", sr->iteration ? sr->iteration : 1);
	template_setf(v, "max_iterations", "%d", sr->max_iterations);
	template_set(v, "check_id", sr->check_id ? sr->check_id : "");
	template_set(v, "fix_file", sr->fix_file);
	template_set(v, "decision_file", sr->decision_file);
	template_set(v, "context_dir", r->context_dir);
	template_set(v, "step_dir", sr->dir);
	template_set(v, "wait_failure_file", sr->wait_failure_file);
}

/* An instructions_file: relative to the workflow file's directory, else the workspace. */
static char *instructions_path(const struct runner *r, const char *file)
{
	char *p = path_in(r->wf_dir, file);
	if (!fs_exists(p)) {
		free(p);
		p = path_in(r->workspace, file);
	}
	return p;
}

/*
 * The script of a CUSTOM step (or check): an instructions_file has its
 * {{var}} placeholders expanded; inline instructions are used as written
 * (shell scripts use the WAITLOOP_* variables); a check's
 * $ROBOPPI_COMPLETION_CHECK_ID is replaced by the check id.
 */
static char *script_text(const struct step_run *sr, int is_check, struct wl_err *err)
{
	const struct runner *r = sr->r;
	const char *inline_text = is_check ? sr->s->check.instructions : sr->s->instructions;
	const char *file = is_check ? sr->s->check.instructions_file : sr->s->instructions_file;
	char *text = NULL;
	if (file) {
		char *p = instructions_path(r, file);
		struct strbuf sb = STRBUF_INIT;
		if (fs_read_file(p, 16u << 20, &sb, err) < 0) {
			free(p);
			strbuf_release(&sb);
			return NULL;
		}
		free(p);
		struct template_vars v = TEMPLATE_VARS_INIT;
		template_vars_for(sr, &v);
		text = template_expand(strbuf_str(&sb), &v);
		template_vars_release(&v);
		strbuf_release(&sb);
	} else if (inline_text) {
		text = xstrdup(inline_text);
	} else {
		err_set(err, "step '%s' has no %sinstructions", sr->s->id, is_check ? "completion_check " : "");
		return NULL;
	}
	if (is_check && sr->check_id) {
		char *t = template_roboppi_check_id(text, sr->check_id);
		free(text);
		text = t;
	}
	return text;
}

/*
 * The prompt of an agent step (or check): agent_prompt() renders the
 * instructions (a missing prompts/<x>.md falls back to the built-in copy);
 * an implementer's prompt gets the convergence stage's text appended.
 */
static char *agent_prompt_text(const struct step_run *sr, int is_check, struct wl_err *err)
{
	const struct runner *r = sr->r;
	struct agent_prompt_params pp = AGENT_PROMPT_PARAMS_INIT;
	pp.instructions = is_check ? sr->s->check.instructions : sr->s->instructions;
	const char *file = is_check ? sr->s->check.instructions_file : sr->s->instructions_file;
	char *path = NULL;
	if (file) {
		char *in_wf = path_in(r->wf_dir, file);
		if (fs_exists(in_wf))
			path = in_wf;
		else
			free(in_wf);
	}
	pp.instructions_file = path ? path : file;
	pp.base_dir = path ? NULL : r->workspace;
	if (!pp.instructions && !pp.instructions_file) {
		err_set(err, "step '%s' has no %sinstructions", sr->s->id, is_check ? "completion_check " : "");
		return NULL;
	}
	struct template_vars v = TEMPLATE_VARS_INIT;
	template_vars_for(sr, &v);
	pp.vars = &v;
	pp.check_id = is_check ? sr->check_id : NULL;
	pp.append = !is_check && sr->il ? iter_loop_agent_append(sr->il) : NULL;
	char *prompt = NULL;
	agent_prompt(&pp, &prompt, err);
	template_vars_release(&v);
	free(path);
	return prompt;
}

/*
 * A roboppi subworkflow step (`workflow: child.yaml`): a nested run of this
 * binary in the same workspace, its context under
 * <context>/_subworkflows/<step>/<n>, recorded in the same history. The
 * call stack travels in WAITLOOP_WORKFLOW_STACK: a cycle or more than
 * SUBWORKFLOW_MAX_DEPTH levels fails the step (FATAL, as roboppi).
 */
static int subworkflow_argv(struct step_run *sr, struct strvec *env, struct strvec *argv, struct wl_err *err)
{
	const struct runner *r = sr->r;
	char *child = path_in(r->wf_dir, sr->s->subworkflow);
	const char *stack = strvec_getenv(env, "WAITLOOP_WORKFLOW_STACK");
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, stack && *stack ? stack : r->wf_file);
	int depth = 1, cycle = !strcmp(child, r->wf_file);
	for (const char *p = strbuf_str(&sb); *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		cycle |= n == strlen(child) && !strncmp(p, child, n);
		depth++;
		p = e ? e + 1 : p + n;
	}
	int rc = 0;
	if (!fs_exists(child)) {
		rc = err_set(err, "subworkflow '%s' not found ('%s')", sr->s->subworkflow, child);
	} else if (cycle) {
		sr->fatal = 1;
		rc = err_set(err, "subworkflow recursion: '%s' is already running (%s)", child, strbuf_str(&sb));
	} else if (depth > SUBWORKFLOW_MAX_DEPTH) {
		sr->fatal = 1;
		rc = err_set(err, "subworkflow nesting deeper than %d levels", SUBWORKFLOW_MAX_DEPTH);
	}
	if (rc == 0) {
		strbuf_addch(&sb, ':');
		strbuf_addstr(&sb, child);
		strvec_setenv(env, "WAITLOOP_WORKFLOW_STACK", strbuf_str(&sb));
		strvec_setenv(env, "ROBOPPI_SUBWORKFLOW_PARENT_STEP", sr->s->id);
		char num[32];
		snprintf(num, sizeof(num), "%d", sr->iteration ? sr->iteration : 1);
		strvec_setenv(env, "ROBOPPI_SUBWORKFLOW_ITERATION", num);
		free(sr->sub_ctx);
		char *base = fs_join(r->context_dir, "_subworkflows");
		char *stepbase = fs_join(base, sr->s->id);
		char *leaf = xasprintf("%d.%d", sr->iteration ? sr->iteration : 1, sr->attempts_total);
		sr->sub_ctx = fs_join(stepbase, leaf);
		free(base);
		free(stepbase);
		free(leaf);
		strvec_setenv(env, "ROBOPPI_SUBWORKFLOW_RUN_ID", sr->sub_ctx);
		strvec_push(argv, r->self_exe);
		strvec_push(argv, "run");
		strvec_push(argv, child);
		strvec_push(argv, "--workspace");
		strvec_push(argv, r->workspace);
		strvec_push(argv, "--context");
		strvec_push(argv, sr->sub_ctx);
		if (r->opts->db_path) {
			strvec_push(argv, "--db");
			strvec_push(argv, r->opts->db_path);
		}
		strvec_push(argv, "--no-progress");
		strvec_push(argv, "--quiet");
	}
	strbuf_release(&sb);
	free(child);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* roboppi's copyExports: best effort, after every child run (even a failed one). */
static void copy_exports(struct step_run *sr)
{
	int replace = sr->s->exports_replace == WL_UNSET ? sr->s->check.present : sr->s->exports_replace;
	for (size_t i = 0; sr->sub_ctx && i < sr->s->nexports; i++) {
		const struct wl_input *e = &sr->s->exports[i];
		char *from = fs_join(sr->sub_ctx, e->from);
		char *src = fs_join(from, e->artifact);
		char *dst = fs_join(sr->dir, e->as ? e->as : e->artifact);
		struct wl_err err = WL_ERR_INIT;
		if (!fs_is_dir(src)) {
			char *msg = xasprintf("export '%s' of child step '%s' not found; skipped", e->artifact, e->from);
			emit_warning(sr, "export_missing", msg);
			free(msg);
		} else {
			if (replace && fs_exists(dst))
				nftw(dst, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			if (fs_copy_tree(src, dst, &err) < 0)
				keep_artifact_error(sr->r, err.msg);
		}
		free(from);
		free(src);
		free(dst);
	}
}

/*
 * The command line of one worker run (a step attempt or a completion_check):
 * CUSTOM is `<shell> -e -c <script>`; the agent kinds run their CLI (or the
 * workflow's `workers:` override) with the rendered prompt (agent.h), and
 * get their capabilities in the environment.
 */
static int worker_argv(struct step_run *sr, int is_check, struct strvec *env, struct strvec *argv,
		       struct wl_err *err)
{
	const struct runner *r = sr->r;
	if (!is_check && sr->s->subworkflow)
		return subworkflow_argv(sr, env, argv, err);
	enum wl_worker worker = is_check ? sr->s->check.worker : sr->s->worker;
	if (worker == WORKER_UNSET)
		worker = WORKER_CUSTOM;
	if (worker == WORKER_CUSTOM) {
		char *text = script_text(sr, is_check, err);
		if (!text)
			return -1;
		strvec_push(argv, r->shell);
		strvec_push(argv, "-e");
		strvec_push(argv, "-c");
		strvec_push_owned(argv, text);
		return 0;
	}
	char *prompt = agent_prompt_text(sr, is_check, err);
	if (!prompt)
		return -1;
	int rc = agent_argv(r->wf, worker, prompt, argv, err);
	free(prompt);
	if (rc < 0)
		return -1;
	if (!command_on_path(argv->v[0], strvec_getenv(env, "PATH")))
		return err_set(err, "worker %s needs '%s', which is not on PATH", worker_name(worker), argv->v[0]);
	agent_env(is_check ? &sr->s->check.capabilities : &sr->s->capabilities, env);
	return 0;
}

/* ---- artifacts: inputs and outputs ---- */

/* Something that did not change an outcome but must not go unseen: an
 * EV_WARNING (progress line, events.jsonl, history -> `waitloop show`). */
static void emit_warning(struct step_run *sr, const char *kind, const char *message)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "kind", kind);
	cJSON_AddStringToObject(d, "message", message);
	emit(sr->r, EV_WARNING, sr, d);
}

/*
 * roboppi's hand-off (context-manager.ts, AT-3.4/3.5): inputs land in the
 * RUN workspace (not the step's `workspace:`), outputs are read from it; a
 * missing input artifact is skipped (the producer may have failed with
 * on_failure: continue), and so is a declared output that was not produced
 * unless it says `required: true`. Skips are warnings, not silence.
 */
static int copy_inputs(struct step_run *sr, struct wl_err *err)
{
	struct runner *r = sr->r;
	for (size_t i = 0; i < sr->s->ninputs; i++) {
		const struct wl_input *in = &sr->s->inputs[i];
		char *from_dir = fs_join(r->context_dir, in->from);
		char *src = fs_join(from_dir, in->artifact);
		free(from_dir);
		if (!fs_is_dir(src)) {
			char *msg = xasprintf("input '%s' from step '%s' not found; skipped", in->artifact, in->from);
			emit_warning(sr, "input_missing", msg);
			free(msg);
			free(src);
			continue;
		}
		char *dst = path_in(r->workspace, in->as ? in->as : in->artifact);
		int rc = fs_copy_tree(src, dst, err);
		free(src);
		free(dst);
		if (rc < 0)
			return err_prefix(err, "input '%s' from step '%s'", in->artifact, in->from);
	}
	return 0;
}

static int copy_outputs(struct step_run *sr, struct wl_err *err)
{
	for (size_t i = 0; i < sr->s->noutputs; i++) {
		const struct wl_output *o = &sr->s->outputs[i];
		char *src = path_in(sr->r->workspace, o->path);
		char *dst = fs_join(sr->dir, o->name);
		int rc = -1;
		if (!fs_exists(src)) {
			if (o->required) {
				err_set(err, "output '%s': '%s' does not exist (required: true)", o->name, o->path);
			} else {
				char *msg = xasprintf("output '%s': '%s' was not produced; skipped", o->name, o->path);
				emit_warning(sr, "output_missing", msg);
				free(msg);
				rc = 0;
			}
		} else if (fs_is_dir(src)) {
			rc = fs_copy_tree(src, dst, err);
		} else if (fs_mkdir_p(dst, err) == 0) {
			const char *base = strrchr(src, '/');
			char *file = fs_join(dst, base ? base + 1 : src);
			rc = fs_copy_tree(src, file, err);
			free(file);
		}
		free(src);
		free(dst);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- stopping ---- */

/* The run is stopping, and this step is not an always-run step (which runs
 * to its own end, bounded by its own timeout: docs/workflow.md). */
static int run_stopping_for(const struct step_run *sr)
{
	return sr->r->stopping && !sr->s->always;
}

static void step_stop(struct step_run *sr, const char *why)
{
	if (sr->stopping)
		return;
	sr->stopping = 1;
	sr->stop_reason = xstrdup(why);
	if (sr->phase == PH_BACKOFF) {
		loop_cancel_timer(sr->r->loop, sr->backoff_timer);
		sr->backoff_timer = 0;
		step_set_status(sr, STEP_CANCELLED, why);
		return;
	}
	if (sr->proc)
		proc_stop(sr->proc);      /* the guard (if any) is finished from the proc's exit */
	else if (sr->wait)
		wait_cancel(sr->wait);
	else
		step_set_status(sr, STEP_CANCELLED, why);   /* between phases: nothing runs */
}

/* Why a pending step will never run, once the run is stopping. */
static char *skip_reason(const struct runner *r, const struct step_run *sr, const char *fallback)
{
	for (size_t i = 0; i < sr->s->ndeps; i++) {
		const struct step_run *d = &r->steps[sr->s->deps[i]];
		if (d->status == STEP_FAILED)
			return xasprintf("dependency '%s' failed", d->s->id);
		if (d->status == STEP_PENDING || d->status == STEP_SKIPPED)
			return xasprintf("dependency '%s' skipped", d->s->id);
		if (d->status == STEP_CANCELLED)
			return xasprintf("dependency '%s' cancelled", d->s->id);
	}
	return xstrdup(fallback);
}

static void run_stop(struct runner *r, enum run_status why, const char *reason)
{
	if (r->stopping)
		return;
	r->stopping = 1;
	if (why == RUN_TIMED_OUT)
		r->timed_out = 1;
	for (size_t i = 0; i < r->nsteps; i++) {
		struct step_run *sr = &r->steps[i];
		if (sr->status == STEP_PENDING && !sr->s->always) {
			char *why_skip = skip_reason(r, sr, reason);
			step_set_status(sr, STEP_SKIPPED, why_skip);
			free(why_skip);
		}
	}
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].status == STEP_RUNNING && !r->steps[i].s->always)
			step_stop(&r->steps[i], reason);
	schedule_soon(r);   /* always-run steps may be ready now */
}

/*
 * A FAILED step with on_failure abort/retry blocks its dependents (they end
 * SKIPPED through schedule()); as in roboppi (AT-5.7) it does not cancel
 * running steps nor skip independent ones. The run still ends FAILED.
 */
static void step_fail(struct step_run *sr, const char *reason)
{
	step_set_status(sr, STEP_FAILED, reason);
}

/* A stopped step ends CANCELLED with the reason it was stopped for. */
static int finish_if_stopping(struct step_run *sr)
{
	if (!sr->stopping)
		return 0;
	step_set_status(sr, STEP_CANCELLED, sr->stop_reason);
	return 1;
}

/* ---- retries ---- */

#define RETRY_BUDGET_SPENT (-2)

/* Delay before the next attempt, or -1 when the failure is final
 * (RETRY_BUDGET_SPENT: because retry.max_duration would be exceeded). */
static int64_t retry_delay(const struct step_run *sr, int timed_out, int have_exit, int exit_code)
{
	const struct wl_step *s = sr->s;
	int retries_used = sr->attempt - 1;
	int limit;
	int64_t base = RETRY_BASE_MS, cap = RETRY_CAP_MS;
	double factor = DEFAULT_RETRY_FACTOR;
	int timeout_ok = 0;
	if (s->retry.present) {
		limit = s->retry.limit == WL_UNSET ? 0 : s->retry.limit;
		if (s->retry.backoff_duration != WL_UNSET)
			base = s->retry.backoff_duration;
		if (s->retry.backoff_factor > 0)
			factor = s->retry.backoff_factor;
		if (s->retry.backoff_max_duration != WL_UNSET)
			cap = s->retry.backoff_max_duration;
		timeout_ok = s->retry.on_timeout_retry;
		if (s->retry.n_on_exit_codes) {
			int listed = 0;
			for (size_t i = 0; have_exit && i < s->retry.n_on_exit_codes; i++)
				listed |= s->retry.on_exit_codes[i] == exit_code;
			if (!listed && !timed_out)
				return -1;
		}
	} else if (s->on_failure == ON_FAILURE_RETRY) {
		/* roboppi's executor: every failed attempt (a timed-out one too) is
		 * retried, after 100 ms * 2^n capped at 5 s */
		limit = s->max_retries == WL_UNSET ? DEFAULT_MAX_RETRIES : s->max_retries;
		base = ROBOPPI_RETRY_BASE_MS;
		cap = ROBOPPI_RETRY_CAP_MS;
		timeout_ok = 1;
	} else {
		return -1;
	}
	if (timed_out && !timeout_ok)
		return -1;
	if (retries_used >= limit)
		return -1;
	double d = (double)base;
	for (int i = 0; i < retries_used && d < (double)cap; i++)
		d *= factor;
	if (d > (double)cap)
		d = (double)cap;
	/* retry.max_duration: no attempt starts past the step's total budget */
	if (s->retry.present && s->retry.max_duration != WL_UNSET && sr->start_mono &&
	    time_now_ms() + (int64_t)d - sr->start_mono >= s->retry.max_duration)
		return RETRY_BUDGET_SPENT;
	return (int64_t)d;
}

static void on_backoff(void *arg)
{
	struct step_run *sr = arg;
	sr->backoff_timer = 0;
	attempt_start(sr);
}

/* A worker attempt (or a wait) failed: retry after a backoff, or fail the step. */
static void attempt_failed(struct step_run *sr, const char *reason, int timed_out, int have_exit, int exit_code)
{
	struct runner *r = sr->r;
	int64_t delay = run_stopping_for(sr) || sr->fatal ? -1 : retry_delay(sr, timed_out, have_exit, exit_code);
	if (delay == RETRY_BUDGET_SPENT) {
		char d[64];
		duration_format(sr->s->retry.max_duration, d, sizeof(d));
		char *why = xasprintf("%s; no retry: retry.max_duration %s spent", reason, d);
		step_fail(sr, why);
		free(why);
		return;
	}
	if (delay < 0) {
		step_fail(sr, reason);
		return;
	}
	sr->phase = PH_BACKOFF;
	write_meta(sr);
	sr->backoff_timer = loop_add_timer(r->loop, time_now_ms() + delay, on_backoff, sr);
}

/* ---- the end of a worker or check process ---- */

static char *result_reason_of_exit(const struct proc_result *res, int64_t timeout_ms);

/* Why an attempt failed, or NULL. Lost output (a capture file could not be
 * written: full disk) fails the attempt too: a log that is not whole must
 * never turn into a pass (docs/execution.md "Write errors"). */
static char *result_reason(const struct proc_result *res, int64_t timeout_ms)
{
	char *why = result_reason_of_exit(res, timeout_ms);
	if (!res->capture_error[0])
		return why;
	char *r = xasprintf("%s%soutput log lost: %s", why ? why : "", why ? "; " : "", res->capture_error);
	free(why);
	return r;
}

static char *result_reason_of_exit(const struct proc_result *res, int64_t timeout_ms)
{
	if (res->exec_failed)
		return xstrdup(res->exec_error);
	if (res->timed_out) {
		char d[64];
		duration_format(timeout_ms, d, sizeof(d));
		return xasprintf("timeout (%s)", d);
	}
	if (res->signaled) {
		const char *n = sigabbrev_np(res->signo);
		return n ? xasprintf("killed by signal SIG%s", n) : xasprintf("killed by signal %d", res->signo);
	}
	if (res->exited && res->exit_code != 0)
		return xasprintf("exit code %d", res->exit_code);
	return NULL;
}

static void emit_attempt_finished(struct step_run *sr, const char *phase, const struct proc_result *res,
				  const char *reason)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "phase", phase);
	if (res && res->exited)
		cJSON_AddNumberToObject(d, "exit_code", res->exit_code);
	else
		cJSON_AddNullToObject(d, "exit_code");
	if (res && res->signaled) {
		const char *n = sigabbrev_np(res->signo);
		char buf[32];
		snprintf(buf, sizeof(buf), "SIG%s", n ? n : "?");
		cJSON_AddStringToObject(d, "signal", buf);
	} else {
		cJSON_AddNullToObject(d, "signal");
	}
	cJSON_AddBoolToObject(d, "timed_out", res && res->timed_out);
	cJSON_AddItemToObject(d, "signals_sent", json_signals_sent(res ? res->signals_sent : 0));
	add_str_or_null(d, "reason", reason);
	cJSON_AddNumberToObject(d, "duration_s", res ? ms_to_s(res->end_ms - res->start_ms) : 0);
	cJSON_AddNumberToObject(d, "consecutive_failures", alert_consecutive(&sr->alert));
	emit(sr->r, EV_ATTEMPT_FINISHED, sr, d);
	if (res && res->signals_sent) {
		cJSON *k = cJSON_CreateObject();
		cJSON_AddStringToObject(k, "phase", phase);
		cJSON_AddItemToObject(k, "signals_sent", json_signals_sent(res->signals_sent));
		const char *why = res->timed_out ? "timeout"
				  : sr->stopping ? sr->stop_reason
				  : res->lingered ? "linger: group members outlived the main process"
				  : sr->sentinel_fired ? "sentinel"
				  : "wait_policy";
		cJSON_AddStringToObject(k, "why", why);
		emit(sr->r, EV_KILL, sr, k);
	}
}

static void clear_guard(struct step_run *sr)
{
	sr->guard_aborted = 0;
	sr->guard_outcome = WAIT_MET;
	free(sr->guard_message);
	sr->guard_message = NULL;
}

/* The guard's report (from wait_guard_finish, synchronously). A check's
 * guard is evidence for the iteration's decision. */
static void copy_guard_result(void *arg, const struct wait_result *wr)
{
	struct step_run *sr = arg;
	clear_guard(sr);
	sr->guard_outcome = wr->outcome;
	sr->guard_aborted = wr->outcome != WAIT_MET && wr->outcome != WAIT_CANCELLED;
	sr->guard_message = wr->message && *wr->message ? xstrdup(wr->message) : NULL;
	if (sr->phase == PH_CHECK && sr->il)
		iter_loop_guard_done(sr->il, wr, sr->settings ? &sr->settings->p : NULL);
}

/* Detach the proc and, when a guard watched it, let the guard finish (it
 * reports synchronously through copy_guard_result). */
static void proc_done(struct step_run *sr, const struct proc_result *res)
{
	sr->proc = NULL;
	sentinel_trigger_release(&sr->strig);
	sr->sentinel_fired = 0;
	if (sr->sentinel) {
		sr->sentinel_fired = sentinel_finish(sr->sentinel, &sr->strig);
		sr->sentinel = NULL;
	}
	if (res->capture_error[0]) {   /* a log not created at its first byte, or a write that failed */
		char *w = xasprintf("step '%s': output log lost: %s", sr->s->id, res->capture_error);
		keep_artifact_error(sr->r, w);
		free(w);
	}
	if (sr->wait) {
		struct wait *w = sr->wait;
		sr->wait = NULL;
		wait_guard_finish(w, res);
	}
}

/* Count a failed (or successful) attempt/iteration; N in a row raises the
 * step's alert (alert_after_failures), once per streak. */
static void record_outcome(struct step_run *sr, int failed, const char *reason)
{
	if (alert_record(&sr->alert, failed))
		emit(sr->r, EV_ALERT, sr, alert_event_data(&sr->alert, reason));
}

static void step_succeeded(struct step_run *sr)
{
	record_outcome(sr, 0, NULL);
	step_set_status(sr, STEP_SUCCEEDED, NULL);
}

/* The guard timed out at a max_wait nobody set: the step's own timeout. */
static int guard_timeout_is_step_timeout(const struct step_run *sr)
{
	return sr->guard_outcome == WAIT_TIMEOUT && sr->s->timeout > 0 && sr->s->wait_policy.max_wait == WL_UNSET &&
	       sr->r->wf->wait_policy.max_wait == WL_UNSET;
}

static void on_attempt_exit(void *arg, const struct proc_result *res)
{
	struct step_run *sr = arg;
	proc_done(sr, res);
	sr->exit_code = res->exited ? res->exit_code : -1;
	char *reason = result_reason(res, sr->s->timeout);
	int timed_out = 0;
	if (sr->guard_error) {
		free(reason);
		reason = sr->guard_error;
		sr->guard_error = NULL;
	} else if (sr->sentinel_fired && !sr->stopping) {
		free(reason);
		reason = xasprintf("Step failed (errorClass: %s): Sentinel: %s", error_class_name(sr->strig.error_class),
				   sr->strig.reason);
		sr->fatal = sr->strig.error_class == ERROR_CLASS_FATAL;
	} else if (sr->guard_aborted && !sr->stopping && guard_timeout_is_step_timeout(sr)) {
		/* a wait_policy without max_wait (e.g. only grace) times out with
		 * the step: that is the step's timeout, reported as such */
		free(reason);
		char d[64];
		duration_format(sr->s->timeout, d, sizeof(d));
		reason = xasprintf("timeout (%s)", d);
		timed_out = 1;
	} else if (sr->guard_aborted && !sr->stopping) {
		free(reason);
		reason = xasprintf("wait_policy: %s", sr->guard_message ? sr->guard_message
				   : outcome_word(sr->guard_outcome));
	}
	if (sr->s->subworkflow && !sr->stopping) {
		copy_exports(sr);
		if (reason && res->exited && !res->timed_out) {
			free(reason);
			reason = xasprintf("subworkflow '%s' did not succeed (exit code %d)", sr->s->subworkflow,
					   res->exit_code);
		}
	}
	struct wl_err err = WL_ERR_INIT;
	/* roboppi collects outputs of a looping step after its check */
	if (!reason && sr->s->noutputs && !sr->s->check.present && copy_outputs(sr, &err) < 0)
		reason = xstrdup(err.msg);
	if (reason)
		record_outcome(sr, 1, reason);
	emit_attempt_finished(sr, "step", res, reason);
	if (finish_if_stopping(sr)) {
		free(reason);
		return;
	}
	if (reason) {
		attempt_failed(sr, reason, res->timed_out || timed_out, res->exited, res->exit_code);
		free(reason);
		return;
	}
	if (sr->s->check.present) {
		check_start(sr);
		return;
	}
	step_succeeded(sr);
}

/* ---- guards ---- */

static void fill_wait_params(struct step_run *sr, struct wait_params *p, enum wait_phase phase, char *const *env)
{
	struct runner *r = sr->r;
	p->loop = r->loop;
	p->settings = sr->settings;
	p->phase = phase;
	p->shell = r->shell;
	p->env = env;
	p->cwd = sr->cwd;
	p->out_dir = sr->dir;
	p->check_id = sr->check_id;
	p->run_id = r->run_id;
	p->workflow = r->wf->name;
	p->step = sr->s->id;
	p->iteration = sr->s->check.present ? sr->iteration : 0;
	p->redactor = r->rd;
	p->bus = &r->bus;
	/* names and logs: the step's own wait is the wait step itself or the guard of
	 * its check / worker; in-script waits live in <step dir>/waits/<name>/ */
	free(sr->wait_name);
	sr->wait_name = phase == WAIT_PHASE_WAIT ? xstrdup(sr->s->id)
			: sr->settings->p.target ? NULL
			: xasprintf("%s-%s", sr->s->id, phase == WAIT_PHASE_CHECK ? "check" : "guard");
	p->name = sr->wait_name;
	free(sr->wait_stdout);
	free(sr->wait_stderr);
	sr->wait_stdout = fs_join(sr->dir, phase == WAIT_PHASE_CHECK ? "check.stdout.log" : "stdout.log");
	sr->wait_stderr = fs_join(sr->dir, phase == WAIT_PHASE_CHECK ? "check.stderr.log" : "stderr.log");
	p->stdout_log = sr->wait_stdout;
	p->stderr_log = sr->wait_stderr;
}

/* The wait engine's non-fatal problems: a warning event of the step. */
static void on_wait_warning(void *arg, const char *message)
{
	emit_warning(arg, "wait", message);
}

/* Start a guard beside sr->proc; -1 + err when the engine is missing or refuses. */
static int guard_start(struct step_run *sr, const struct wait_settings *settings, enum wait_phase phase,
		       const struct strvec *env, struct wl_err *err)
{
	clear_guard(sr);
	sr->settings = settings;
	struct wait_params p = WAIT_PARAMS_INIT;
	fill_wait_params(sr, &p, phase, env->v);
	p.on_done = copy_guard_result;
	p.on_warning = on_wait_warning;
	p.arg = sr;
	sr->wait = wait_guard_start(&p, sr->proc, err);
	return sr->wait ? 0 : -1;
}

static void on_child_output(void *arg, enum proc_stream stream, const char *data, size_t len)
{
	struct step_run *sr = arg;
	if (sr->sentinel)
		sentinel_output(sr->sentinel);
	if (sr->wait && sr->proc)
		wait_guard_output(sr->wait, data, len);
	if (sr->r->output_fn)
		sr->r->output_fn(sr->r->output_arg, sr->s->id, stream, data, len);
}

static void on_sentinel_warning(void *arg, const char *message)
{
	emit_warning(arg, "sentinel", message);
}

/* roboppi's Sentinel beside the child, when the workflow enables it (sentinel.h). */
static int sentinel_guard_start(struct step_run *sr, int is_check, const struct strvec *env, struct wl_err *err)
{
	struct runner *r = sr->r;
	const struct wl_step *s = sr->s;
	const struct wl_stall *st = is_check && s->check.stall.present ? &s->check.stall : &s->stall;
	struct sentinel_params p = {0};
	if (!sentinel_policy_active(r->wf, st, &p.policy))
		return 0;
	enum wl_worker w = is_check ? s->check.worker : s->worker;
	p.loop = r->loop;
	p.is_check = is_check;
	p.worker_events = w != WORKER_CUSTOM && w != WORKER_UNSET;
	p.env = env->v;
	p.cwd = r->workspace;
	p.context_dir = r->context_dir;
	p.step = s->id;
	p.iteration = sr->iteration ? sr->iteration : 1;
	p.workflow_id = r->run_id;
	p.workflow_name = r->wf->name;
	p.events_file = r->wf->sentinel.events_file;
	p.redactor = r->rd;
	p.on_warning = on_sentinel_warning;
	p.arg = sr;
	sr->sentinel = sentinel_start(&p, sr->proc, err);
	return sr->sentinel ? 0 : -1;
}

/* Start one child of the step (worker attempt or check) with its guard; -1 + err. */
static int spawn(struct step_run *sr, int is_check, struct wl_err *err)
{
	const char *phase = is_check ? "completion_check" : "step";
	struct strvec env = STRVEC_INIT, argv = STRVEC_INIT;
	clear_guard(sr);   /* a guard's verdict belongs to one child only */
	sr->settings = NULL;
	set_child_env(sr, &env, phase);
	int rc = -1;
	if (worker_argv(sr, is_check, &env, &argv, err) < 0)
		goto out;
	int64_t timeout = is_check ? sr->s->check.timeout : sr->s->timeout;
	if (is_check && timeout == WL_UNSET) {
		int64_t base = sr->s->timeout != WL_UNSET ? sr->s->timeout : sr->r->wf->timeout;
		timeout = base / 4 < 1000 ? 1000 : base / 4;
	}
	const struct wl_wait_policy *use = is_check ? &sr->s->check.wait_policy : &sr->s->wait_policy;
	const struct wait_settings *settings = is_check ? &sr->s->check.wait_settings : &sr->s->wait_settings;
	char *out_path = fs_join(sr->dir, is_check ? "check.stdout.log" : "stdout.log");
	char *err_path = fs_join(sr->dir, is_check ? "check.stderr.log" : "stderr.log");
	struct proc_spec spec = PROC_SPEC_INIT;
	spec.argv = argv.v;
	spec.env = env.v;
	spec.cwd = sr->cwd;
	spec.stdout_path = out_path;
	spec.stderr_path = err_path;
	spec.capture_tail = OUTPUT_TAIL;
	spec.timeout_ms = timeout > 0 ? timeout : 0;
	/* roboppi: a step ends when its shell has exited AND its output pipes are
	 * closed, so a background job still holding them is waited for — here
	 * for at most STEP_LINGER_MS (never longer than the attempt's timeout),
	 * then its group is stopped: deterministic, and a step never hangs. */
	spec.linger_ms = timeout > 0 && timeout < STEP_LINGER_MS ? timeout : STEP_LINGER_MS;
	spec.grace_ms = settings->p.grace;
	spec.on_output = on_child_output;
	spec.on_exit = is_check ? on_check_exit : on_attempt_exit;
	spec.arg = sr;
	sr->phase = is_check ? PH_CHECK : PH_STEP;
	sr->phase_start_mono = time_now_ms();
	sr->proc = proc_start(sr->r->loop, &spec, err);
	free(out_path);
	free(err_path);
	if (!sr->proc)
		goto out;
	if (sentinel_guard_start(sr, is_check, &env, err) < 0 ||
	    (use->present && guard_start(sr, settings, is_check ? WAIT_PHASE_CHECK : WAIT_PHASE_STEP, &env, err) < 0)) {
		/* The process runs but cannot be guarded: stop it; its exit reports the error. */
		free(sr->guard_error);
		sr->guard_error = xstrdup(err->msg);
		proc_stop(sr->proc);
	}
	rc = 0;
out:
	strvec_clear(&env);
	strvec_clear(&argv);
	return rc;
}

static void attempt_start(struct step_run *sr)
{
	struct runner *r = sr->r;
	if (run_stopping_for(sr)) {
		step_set_status(sr, STEP_CANCELLED, sr->stop_reason ? sr->stop_reason : "run stopping");
		return;
	}
	sr->attempt++;
	sr->attempts_total++;
	struct wl_err err = WL_ERR_INIT;
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "phase", sr->s->is_wait ? "wait" : "step");
	if (copy_inputs(sr, &err) == 0 && sr->s->is_wait) {
		wait_step_start(sr, d);
		return;
	}
	if (!err.msg[0] && spawn(sr, 0, &err) == 0) {
		emit(r, EV_ATTEMPT_STARTED, sr, d);
		write_meta(sr);
		return;
	}
	/* Could not start: the attempt failed before running. */
	emit(r, EV_ATTEMPT_STARTED, sr, d);
	sr->phase = PH_IDLE;
	record_outcome(sr, 1, err.msg);
	emit_attempt_finished(sr, sr->s->is_wait ? "wait" : "step", NULL, err.msg);
	attempt_failed(sr, err.msg, 0, 0, 0);
}

/* ---- completion_check and iterations ---- */

static int64_t check_timeout(const struct step_run *sr)
{
	if (sr->s->check.timeout != WL_UNSET)
		return sr->s->check.timeout;
	int64_t base = sr->s->timeout != WL_UNSET ? sr->s->timeout : sr->r->wf->timeout;
	return base / 4 < 1000 ? 1000 : base / 4;
}

static void iteration_start(struct step_run *sr)
{
	sr->attempt = 0;
	if (sr->il) {
		struct wl_err err = WL_ERR_INIT;
		if (iter_loop_begin(sr->il, sr->iteration, &err) < 0)
			keep_artifact_error(sr->r, err.msg);
		cJSON *d = cJSON_CreateObject();
		cJSON_AddNumberToObject(d, "max_iterations", sr->max_iterations);
		emit(sr->r, EV_ITERATION_STARTED, sr, d);
	}
	attempt_start(sr);
}

/* The iteration is over: decide (iteration.h), publish, and go on or end the step. */
static void check_decided(struct step_run *sr)
{
	struct runner *r = sr->r;
	if (finish_if_stopping(sr))
		return;
	struct template_vars vars = TEMPLATE_VARS_INIT;
	template_vars_for(sr, &vars);
	struct iter_end end = ITER_END_INIT;
	iter_loop_conclude(sr->il, &vars, &end);
	template_vars_release(&vars);
	if (end.warning)
		keep_artifact_error(r, end.warning);
	record_outcome(sr, end.decision != VERDICT_COMPLETE, end.summary);
	/* emit() takes the data */
	if (end.git_changes)
		emit(r, EV_GIT_CHANGES, sr, end.git_changes);
	if (end.convergence)
		emit(r, EV_CONVERGENCE, sr, end.convergence);
	cJSON_AddNumberToObject(end.finished, "consecutive_failures", alert_consecutive(&sr->alert));
	emit(r, EV_ITERATION_FINISHED, sr, end.finished);
	end.git_changes = end.convergence = end.finished = NULL;
	switch (end.next) {
	case ITER_NEXT_ITERATION:
		if (run_stopping_for(sr)) {
			step_set_status(sr, STEP_CANCELLED, "run stopping");
			break;
		}
		sr->iteration++;
		write_meta(sr);
		iteration_start(sr);
		break;
	case ITER_DONE_SUCCEEDED:
		step_succeeded(sr);
		break;
	case ITER_DONE_INCOMPLETE:
		step_set_status(sr, STEP_INCOMPLETE, end.reason);
		break;
	case ITER_DONE_FAILED:
		step_fail(sr, end.reason);
		break;
	}
	iter_end_release(&end);
}

/* The Sentinel stopped the check: as_incomplete -> the iteration is
 * INCOMPLETE (the loop goes on), else the step fails (roboppi executor). */
static void sentinel_to_iteration(struct step_run *sr)
{
	const struct sentinel_trigger *t = &sr->strig;
	struct wait_result wr;
	memset(&wr, 0, sizeof(wr));
	int terminal = !strcmp(t->kind, "terminal");
	wr.outcome = terminal ? WAIT_TERMINAL_FAIL : WAIT_STALLED;
	wr.early_abort = 1;
	strvec_copy(&wr.fingerprints, &t->fingerprints);
	strvec_copy(&wr.reasons, &t->reasons);
	char *msg = t->as_incomplete ? xasprintf("Sentinel: %s", t->reason)
				     : xasprintf("Sentinel %s during completion check: %s", t->kind, t->reason);
	wr.message = msg;
	struct wl_wait_policy pol;
	wait_policy_init(&pol);
	pol.on_terminal = pol.on_stall = t->as_incomplete ? ON_ABORT_INCOMPLETE : ON_ABORT_FAIL;
	iter_loop_guard_done(sr->il, &wr, &pol);
	sr->fatal = !t->as_incomplete && t->error_class == ERROR_CLASS_FATAL;
	free(msg);
	strvec_clear(&wr.fingerprints);
	strvec_clear(&wr.reasons);
}

static void on_check_exit(void *arg, const struct proc_result *res)
{
	struct step_run *sr = arg;
	/* Read the check's own decision file and wait-failure.json first: the
	 * guard writes its wait-failure.json into the same directory when it finishes. */
	if (!sr->guard_error)
		iter_loop_check_exited(sr->il, res);
	proc_done(sr, res);
	if (sr->sentinel_fired && !sr->stopping)
		sentinel_to_iteration(sr);
	sr->exit_code = res->exited ? res->exit_code : -1;
	char *reason = result_reason(res, check_timeout(sr));
	if (sr->guard_error) {
		free(reason);
		reason = sr->guard_error;
		sr->guard_error = NULL;
		iter_loop_check_not_started(sr->il, reason);
	}
	emit_attempt_finished(sr, "completion_check", res, reason);
	free(reason);
	struct wl_err oerr = WL_ERR_INIT;
	if (sr->s->noutputs && !sr->stopping && copy_outputs(sr, &oerr) < 0) {
		/* a required output is missing: the step fails whatever the check said */
		record_outcome(sr, 1, oerr.msg);
		step_fail(sr, oerr.msg);
		return;
	}
	check_decided(sr);
}

static void check_start(struct step_run *sr)
{
	struct runner *r = sr->r;
	free(sr->check_id);
	sr->check_id = xasprintf("%s:%s:%d", r->run_id, sr->s->id, sr->iteration);
	clear_guard(sr);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "phase", "completion_check");
	cJSON_AddStringToObject(d, "check_id", sr->check_id);
	emit(r, EV_ATTEMPT_STARTED, sr, d);
	struct wl_err err = WL_ERR_INIT;
	char *out_log = fs_join(sr->dir, "check.stdout.log"), *err_log = fs_join(sr->dir, "check.stderr.log");
	if (iter_loop_check_begin(sr->il, sr->check_id, out_log, err_log, &err) < 0)
		keep_artifact_error(r, err.msg);
	free(out_log);
	free(err_log);
	err.msg[0] = '\0';
	if (spawn(sr, 1, &err) < 0) {
		sr->phase = PH_IDLE;
		emit_attempt_finished(sr, "completion_check", NULL, err.msg);
		iter_loop_check_not_started(sr->il, err.msg);
		check_decided(sr);
		return;
	}
	write_meta(sr);
}

/* ---- wait steps ---- */

static void on_wait_done(void *arg, const struct wait_result *wr)
{
	struct step_run *sr = arg;
	sr->wait = NULL;
	struct proc_result pr;
	memset(&pr, 0, sizeof(pr));
	pr.start_ms = sr->phase_start_mono;
	pr.end_ms = time_now_ms();
	pr.signals_sent = wr->signals_sent;
	pr.timed_out = wr->outcome == WAIT_TIMEOUT;
	char *reason = NULL;
	if (wr->outcome != WAIT_MET)
		reason = wr->message && *wr->message ? xasprintf("wait: %s", wr->message)
						     : xasprintf("wait %s", outcome_word(wr->outcome));
	if (reason)
		record_outcome(sr, 1, reason);
	emit_attempt_finished(sr, "wait", &pr, reason);
	if (finish_if_stopping(sr)) {
		free(reason);
		return;
	}
	if (!reason) {
		if (sr->s->check.present)
			check_start(sr);
		else
			step_succeeded(sr);
		return;
	}
	attempt_failed(sr, reason, wr->outcome == WAIT_TIMEOUT, 0, 0);
	free(reason);
}

/* A wait step's condition output: what a worker step's output is (verbose display). */
static void on_wait_output(void *arg, int stream, const char *data, size_t len)
{
	struct step_run *sr = arg;
	if (sr->r->output_fn)
		sr->r->output_fn(sr->r->output_arg, sr->s->id, stream == 2 ? PROC_STDERR : PROC_STDOUT, data, len);
}

static void wait_step_start(struct step_run *sr, cJSON *started)
{
	struct runner *r = sr->r;
	emit(r, EV_ATTEMPT_STARTED, sr, started);
	struct wl_err err = WL_ERR_INIT;
	struct strvec env = STRVEC_INIT;
	set_child_env(sr, &env, "wait");
	sr->settings = &sr->s->wait_settings;
	struct wait_params p = WAIT_PARAMS_INIT;
	fill_wait_params(sr, &p, WAIT_PHASE_WAIT, env.v);
	p.condition = sr->s->wait_condition;
	p.on_output = on_wait_output;
	p.on_done = on_wait_done;
	p.on_warning = on_wait_warning;
	p.arg = sr;
	sr->phase = PH_WAIT;
	sr->phase_start_mono = time_now_ms();
	sr->wait = wait_start(&p, &err);
	strvec_clear(&env);
	if (sr->wait) {
		write_meta(sr);
		return;
	}
	sr->phase = PH_IDLE;
	record_outcome(sr, 1, err.msg);
	emit_attempt_finished(sr, "wait", NULL, err.msg);
	attempt_failed(sr, err.msg, 0, 0, 0);
}

/* ---- scheduling ---- */

/*
 * A context directory may be re-used by the next run: the logs and wait
 * artifacts of this step start empty, so that no file mixes two runs
 * (review.verdict and fix.md are rewritten by the loop itself).
 */
static void clear_previous_run(struct step_run *sr, struct wl_err *err)
{
	static const char *const files[] = {"stdout.log", "stderr.log", "check.stdout.log", "check.stderr.log",
					    "wait-probe.log", "wait-failure.json"};
	static const char *const dirs[] = {"waits", "iterations"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		/* only files: anything else in their place is not ours (and is reported when written to) */
		char *p = fs_join(sr->dir, files[i]);
		if (unlink(p) < 0 && errno != ENOENT && errno != EISDIR && errno != EPERM)
			err_set(err, "cannot remove '%s': %s", p, strerror(errno));
		free(p);
		if (err->msg[0])
			return;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = fs_join(sr->dir, dirs[i]);
		int rc = fs_remove_tree(p, err);
		free(p);
		if (rc < 0)
			return;
	}
}

static void step_start(struct step_run *sr)
{
	struct runner *r = sr->r;
	const struct wl_step *s = sr->s;
	struct wl_err err = WL_ERR_INIT;
	if (!sr->dir)   /* else made ahead by on_idle() */
		sr->dir = context_step_dir(r->ctx, s->id, &err);
	sr->cwd = s->workspace ? path_in(r->workspace, s->workspace) : xstrdup(r->workspace);
	if (!sr->dir)
		sr->dir = fs_join(r->context_dir, s->id);   /* err is reported below */
	sr->decision_file = s->check.decision_file ? path_in(r->workspace, s->check.decision_file)
						   : fs_join(sr->dir, "review.verdict");
	sr->fix_file = s->check.fix_file ? path_in(r->workspace, s->check.fix_file) : fs_join(sr->dir, "fix.md");
	sr->wait_failure_file = fs_join(sr->dir, "wait-failure.json");
	if (!err.msg[0])
		clear_previous_run(sr, &err);
	sr->max_iterations = s->check.present && s->max_iterations != WL_UNSET ? s->max_iterations : 1;
	sr->iteration = 1;
	if (s->check.present)
		sr->il = iter_loop_new(&r->iter_run, s, sr->dir, sr->decision_file, sr->fix_file, sr->max_iterations);
	step_set_status(sr, STEP_RUNNING, NULL);
	if (err.msg[0] || fs_mkdir_p(sr->cwd, &err) < 0) {
		step_fail(sr, err.msg);
		return;
	}
	iteration_start(sr);
}

static int dep_ok(const struct step_run *d)
{
	return d->status == STEP_SUCCEEDED || d->status == STEP_INCOMPLETE ||
	       (d->status == STEP_FAILED && d->s->on_failure == ON_FAILURE_CONTINUE && !d->fatal);
}

/* An always-run step is ready when its depends_on have ended, whatever
 * their status; without depends_on, when every other non-always step has. */
static int always_ready(const struct runner *r, const struct step_run *sr)
{
	for (size_t j = 0; j < sr->s->ndeps; j++)
		if (!step_terminal(r->steps[sr->s->deps[j]].status))
			return 0;
	if (sr->s->ndeps)
		return 1;
	for (size_t i = 0; i < r->nsteps; i++)
		if (!r->steps[i].s->always && !step_terminal(r->steps[i].status))
			return 0;
	return 1;
}

static void schedule(struct runner *r)
{
	int changed;
	r->in_schedule = 1;
	do {
		changed = 0;
		for (size_t i = 0; i < r->nsteps; i++) {
			struct step_run *sr = &r->steps[i];
			if (sr->status != STEP_PENDING || (r->stopping && !sr->s->always))
				continue;
			if (sr->s->always) {
				if (always_ready(r, sr) && !(r->concurrency && r->nrunning >= (size_t)r->concurrency)) {
					step_start(sr);
					changed = 1;
				}
				continue;
			}
			int ready = 1;
			const struct step_run *bad = NULL;
			for (size_t j = 0; j < sr->s->ndeps; j++) {
				const struct step_run *d = &r->steps[sr->s->deps[j]];
				if (!step_terminal(d->status)) {
					ready = 0;
				} else if (!dep_ok(d)) {
					bad = d;
					break;
				}
			}
			if (bad) {
				char *why = xasprintf("dependency '%s' %s", bad->s->id,
						      bad->status == STEP_FAILED ? "failed"
						      : bad->status == STEP_SKIPPED ? "skipped" : "cancelled");
				step_set_status(sr, STEP_SKIPPED, why);
				free(why);
				changed = 1;
				continue;
			}
			if (!ready || (r->concurrency && r->nrunning >= (size_t)r->concurrency))
				continue;
			step_start(sr);
			changed = 1;
		}
	} while (changed);
	r->in_schedule = 0;
	if (r->nfinished == r->nsteps)
		r->done = 1;
}

static void on_schedule(void *arg)
{
	struct runner *r = arg;
	r->schedule_timer = 0;
	schedule(r);
}

static void schedule_soon(struct runner *r)
{
	if (r->in_schedule || r->schedule_timer)
		return;
	r->schedule_timer = loop_add_timer(r->loop, time_now_ms(), on_schedule, r);
}

static void on_deadline(void *arg)
{
	struct runner *r = arg;
	r->deadline_timer = 0;
	char d[64], *why;
	duration_format(r->wf->timeout, d, sizeof(d));
	why = xasprintf("workflow timeout (%s)", d);
	run_stop(r, RUN_TIMED_OUT, why);
	free(why);
}

static void on_signal(void *arg, int signo)
{
	struct runner *r = arg;
	if (r->cancel_signo) {
		/* A second signal: no more grace. */
		proc_kill_all();
		return;
	}
	r->cancel_signo = signo;
	const char *n = sigabbrev_np(signo);
	char *why = xasprintf("cancelled by SIG%s", n ? n : "?");
	run_stop(r, RUN_CANCELLED, why);
	free(why);
}

/* ---- public API ---- */

/*
 * Git tracking (SPEC §9) serves the implement → verify loops: opened only
 * when a step has a completion_check. Not a repository (or libgit2 cannot
 * open it): one notice, git features off. The runner's own files never
 * count as changes.
 */
static void open_git(struct runner *r)
{
	int loops = 0;
	for (size_t i = 0; i < r->wf->nsteps; i++)
		loops |= r->wf->steps[i].check.present;
	if (!loops)
		return;
	struct wl_err err = WL_ERR_INIT;
	r->git = gitwork_open(r->workspace, &err);
	if (!r->git) {
		r->notice = gitwork_err_is_not_repo(&err)
				    ? xasprintf("git tracking off: workspace '%s' is not in a git repository", r->workspace)
				    : xasprintf("git tracking off: %s", err.msg);
		return;
	}
	gitwork_exclude(r->git, r->context_dir);
	gitwork_exclude(r->git, ".waitloop");
	const char *own[] = {r->opts->db_path, r->opts->metrics_path};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (!own[i])
			continue;
		static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
		for (size_t k = 0; k < sizeof(suffix) / sizeof(suffix[0]); k++) {
			char *p = xasprintf("%s%s", own[i], suffix[k]);
			gitwork_exclude(r->git, p);
			free(p);
		}
	}
	for (size_t i = 0; i < r->wf->nsteps; i++) {
		const struct wl_check *c = &r->wf->steps[i].check;
		if (c->decision_file)
			gitwork_exclude(r->git, c->decision_file);
		if (c->fix_file)
			gitwork_exclude(r->git, c->fix_file);
	}
}

struct runner *runner_new(const struct wl_workflow *wf, const struct run_options *opts, struct wl_err *err)
{
	char *ws = fs_abspath(opts->workspace ? opts->workspace : ".");
	if (!fs_is_dir(ws)) {
		err_set(err, "workspace '%s' is not a directory", opts->workspace ? opts->workspace : ".");
		free(ws);
		return NULL;
	}
	struct runner *r = xcalloc(1, sizeof(*r));
	r->wf = wf;
	r->opts = opts;
	r->workspace = ws;
	r->start_wall = time_wall_ms();
	r->run_id = make_run_id(r->start_wall);
	if (opts->context_dir)
		r->context_dir = fs_abspath(opts->context_dir);
	else
		r->context_dir = path_in(ws, wf->context_dir ? wf->context_dir : "context");
	r->wf_file = fs_abspath(wf->file ? wf->file : "workflow.yaml");
	r->wf_dir = dir_of(r->wf_file);
	r->self_exe = self_exe_path();
	r->shell = wf->shell ? wf->shell : "bash";
	r->concurrency = wf->concurrency == WL_UNSET ? 0 : wf->concurrency;

	for (char **e = environ; e && *e; e++)
		strvec_push(&r->base_env, *e);
	strvec_setenv_all(&r->base_env, &wf->env);

	/* Secrets the redactor must know: every value any child may get -- every
	 * step's, not the last one per name (the runner's environment, wf env,
	 * each step's env, --set). */
	r->rd = redactor_new(&wf->redact, &r->base_env, err);
	if (!r->rd)
		goto fail;
	for (char **e = environ; e && *e; e++) {   /* shadowed by wf env, still a secret */
		struct strvec one = STRVEC_INIT;
		strvec_push(&one, *e);
		redactor_add_env(r->rd, &one);
		strvec_clear(&one);
	}
	for (size_t i = 0; i < wf->nsteps; i++)
		redactor_add_env(r->rd, &wf->steps[i].env);
	redactor_add_env(r->rd, opts->set_env);
	r->redact_env = redactor_export(r->rd);
	r->bus.rd = r->rd;
	r->ctx = context_open(r->context_dir, r->rd, err);
	if (!r->ctx)
		goto fail;
	bus_subscribe(&r->bus, context_sink, r->ctx);
	r->loop = loop_new();
	if (r->loop)
		loop_on_idle(r->loop, on_idle, r);
	r->nsteps = wf->nsteps;
	r->steps = xcalloc(wf->nsteps ? wf->nsteps : 1, sizeof(*r->steps));
	for (size_t i = 0; i < wf->nsteps; i++) {
		struct step_run *sr = &r->steps[i];
		sr->r = r;
		sr->s = &wf->steps[i];
		sr->idx = i;
		sr->exit_code = -1;
		alert_init(&sr->alert, sr->s->alert_after_failures);
		sr->max_iterations = sr->s->check.present && sr->s->max_iterations != WL_UNSET ? sr->s->max_iterations : 1;
	}
	open_git(r);
	r->iter_run.wf = wf;
	r->iter_run.run_id = r->run_id;
	r->iter_run.workspace = r->workspace;
	r->iter_run.git = r->git;
	r->iter_run.rd = r->rd;
	r->iter_run.history_db = r->opts->db_path;
	r->status = RUN_RUNNING;
	return r;
fail:
	runner_free(r);
	return NULL;
}

static void step_run_release(struct step_run *sr)
{
	free(sr->reason);
	free(sr->dir);
	free(sr->cwd);
	free(sr->check_id);
	free(sr->decision_file);
	free(sr->fix_file);
	free(sr->wait_failure_file);
	free(sr->wait_name);
	free(sr->wait_stdout);
	free(sr->wait_stderr);
	free(sr->stop_reason);
	free(sr->guard_error);
	free(sr->guard_message);
	free(sr->sub_ctx);
	iter_loop_free(sr->il);
	sentinel_finish(sr->sentinel, NULL);
	sentinel_trigger_release(&sr->strig);
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsteps; i++)
		step_run_release(&r->steps[i]);
	free(r->steps);
	if (r->loop) {
		loop_off_signal(r->loop, SIGINT, on_signal, r);
		loop_off_signal(r->loop, SIGTERM, on_signal, r);
		loop_off_signal(r->loop, SIGHUP, on_signal, r);
		loop_free(r->loop);
	}
	context_close(r->ctx);
	gitwork_close(r->git);
	free(r->notice);
	redactor_free(r->rd);
	free(r->redact_env);
	strvec_clear(&r->base_env);
	free(r->run_id);
	free(r->workspace);
	free(r->context_dir);
	free(r->wf_dir);
	free(r->wf_file);
	free(r->self_exe);
	free(r->artifact_error);
	strvec_clear(&r->artifact_errors);
	free(r->gate_reason);
	free(r);
}

struct event_bus *runner_bus(struct runner *r)
{
	return &r->bus;
}

struct loop *runner_loop(struct runner *r)
{
	return r->loop;
}

const struct redactor *runner_redactor(const struct runner *r)
{
	return r->rd;
}

const char *runner_run_id(const struct runner *r)
{
	return r->run_id;
}

const char *runner_context_dir(const struct runner *r)
{
	return r->context_dir;
}

const struct strvec *runner_artifact_errors(const struct runner *r)
{
	return &r->artifact_errors;
}

const char *runner_artifact_error(const struct runner *r)
{
	if (r->artifact_error)
		return r->artifact_error;
	return r->ctx ? context_sink_error(r->ctx) : NULL;
}

const char *runner_notice(const struct runner *r)
{
	return r->notice;
}

int runner_cancel_signal(const struct runner *r)
{
	return r->cancel_signo;
}

void runner_set_output_fn(struct runner *r, runner_output_fn fn, void *arg)
{
	r->output_fn = fn;
	r->output_arg = arg;
}

void runner_set_gate(struct runner *r, runner_gate_fn fn, void *arg)
{
	r->gate_fn = fn;
	r->gate_arg = arg;
}

void runner_cancel_before_start(struct runner *r, int signo)
{
	if (!r->ran)
		r->cancel_signo = signo;
}

int runner_exit_code(const struct runner *r)
{
	if (r->gate_reason && !r->cancel_signo)
		return 2;
	return run_status_exit_code(r->status, r->cancel_signo);
}

enum run_status runner_run(struct runner *r)
{
	if (r->ran)
		return r->status;
	r->ran = 1;
	r->start_mono = time_now_ms();
	loop_on_signal(r->loop, SIGINT, on_signal, r);
	loop_on_signal(r->loop, SIGTERM, on_signal, r);
	loop_on_signal(r->loop, SIGHUP, on_signal, r);
	write_workflow_json(r);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "workflow", r->wf->name ? r->wf->name : "");
	cJSON_AddStringToObject(d, "file", r->wf_file);
	cJSON_AddStringToObject(d, "workspace", r->workspace);
	cJSON_AddStringToObject(d, "context_dir", r->context_dir);
	cJSON_AddNumberToObject(d, "pid", (double)getpid());
	cJSON_AddNumberToObject(d, "steps", (double)r->nsteps);
	emit(r, EV_RUN_STARTED, NULL, d);
	const char *gate = r->gate_fn ? r->gate_fn(r->gate_arg, r) : NULL;
	if (gate)
		r->gate_reason = xstrdup(gate);
	r->in_schedule = 1;   /* one PENDING event per step, scheduled after */
	for (size_t i = 0; i < r->nsteps; i++) {
		step_set_status(&r->steps[i], STEP_PENDING, NULL);
		if (r->gate_reason)
			step_set_status(&r->steps[i], STEP_SKIPPED, r->gate_reason);
	}
	r->in_schedule = 0;
	if (r->gate_reason) {
		r->done = 1;
	} else {
		if (r->wf->timeout > 0)
			r->deadline_timer = loop_add_timer(r->loop, r->start_mono + r->wf->timeout, on_deadline, r);
		schedule(r);
	}
	while (!r->done)
		loop_run_once(r->loop);
	if (r->deadline_timer)
		loop_cancel_timer(r->loop, r->deadline_timer);
	if (r->schedule_timer)
		loop_cancel_timer(r->loop, r->schedule_timer);
	r->deadline_timer = r->schedule_timer = 0;
	if (r->meta_timer)
		loop_cancel_timer(r->loop, r->meta_timer);
	flush_meta(r);

	int failed = 0;
	for (size_t i = 0; i < r->nsteps; i++)
		failed |= r->steps[i].status == STEP_FAILED;
	if (r->cancel_signo)
		r->status = RUN_CANCELLED;
	else if (r->timed_out)
		r->status = RUN_TIMED_OUT;
	else if (failed || r->gate_reason)
		r->status = RUN_FAILED;
	else
		r->status = RUN_SUCCEEDED;
	r->end_wall = time_wall_ms();
	/* The final _workflow.json first: if it (or any artifact before it)
	 * could not be written, the run did not succeed, and history, the
	 * exit code and the files left say the same (a file that cannot be
	 * written is removed rather than left saying RUNNING). */
	write_workflow_json(r);
	const char *lost = runner_artifact_error(r);
	if (lost && r->status == RUN_SUCCEEDED) {
		r->status = RUN_FAILED;
		write_workflow_json(r);
	}
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "status", run_status_name(r->status));
	cJSON_AddNumberToObject(d, "duration_s", ms_to_s(r->end_wall - r->start_wall));
	cJSON_AddNumberToObject(d, "exit_code", runner_exit_code(r));
	if (r->gate_reason)
		cJSON_AddStringToObject(d, "reason", r->gate_reason);
	else if (lost) {
		char *why = xasprintf("artifacts lost: %s", lost);
		cJSON_AddStringToObject(d, "reason", why);
		free(why);
	}
	emit(r, EV_RUN_FINISHED, NULL, d);
	return r->status;
}

cJSON *runner_summary(const struct runner *r)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "run_id", r->run_id);
	cJSON_AddStringToObject(d, "workflow", r->wf->name ? r->wf->name : "");
	cJSON_AddStringToObject(d, "file", r->wf_file);
	cJSON_AddStringToObject(d, "workspace", r->workspace);
	cJSON_AddStringToObject(d, "context_dir", r->context_dir);
	cJSON_AddStringToObject(d, "status", run_status_name(r->status));
	cJSON_AddNumberToObject(d, "exit_code", runner_exit_code(r));
	add_time(d, "started_at", r->start_wall);
	add_time(d, "finished_at", r->end_wall);
	cJSON_AddNumberToObject(d, "duration_s", ms_to_s((r->end_wall ? r->end_wall : time_wall_ms()) - r->start_wall));
	cJSON *steps = cJSON_AddArrayToObject(d, "steps");
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct step_run *sr = &r->steps[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", sr->s->id);
		cJSON_AddStringToObject(o, "status", step_status_name(sr->status));
		add_str_or_null(o, "reason", sr->reason);
		cJSON_AddNumberToObject(o, "iterations", sr->s->check.present ? sr->iteration : 0);
		cJSON_AddNumberToObject(o, "attempts", sr->attempts_total);
		if (sr->exit_code >= 0)
			cJSON_AddNumberToObject(o, "exit_code", sr->exit_code);
		else
			cJSON_AddNullToObject(o, "exit_code");
		cJSON_AddNumberToObject(o, "duration_s", step_duration_s(sr));
		cJSON_AddItemToArray(steps, o);
	}
	redact_json(r->rd, d);
	return d;
}
