/*
 * rundoc: the run's documents in the context directory (SPEC §6.1) --
 * run ids, _workflow.json, each step's _meta.json and roboppi's
 * _resolved.json, the run summary -- and the clean slate of a re-used step
 * directory. Written best effort: a failed write is kept
 * (run_keep_artifact_error) and reported by the command at the end.
 */
#include "runner_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "evloop.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "redact.h"
#include "xalloc.h"

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

char *rundoc_run_id(int64_t wall_ms)
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

/* Artifacts are best effort during the run (a full disk must not kill
 * running steps); every distinct failure is reported by the command at the
 * end, and a run that lost an artifact does not succeed. */
static void keep_artifact_error(void *arg, const char *msg)
{
	run_keep_artifact_error(arg, msg);
}

void run_keep_artifact_error(struct runner *r, const char *msg)
{
	if (!r->artifact_error)
		r->artifact_error = xstrdup(msg);
	for (size_t i = 0; i < r->artifact_errors.n; i++)
		if (!strcmp(r->artifact_errors.v[i], msg))
			return;
	strvec_push(&r->artifact_errors, msg);
}

/*
 * roboppi's StepMeta fields (its context-manager.ts), beside waitloop's own:
 * stepId, startedAt/completedAt (ms), wallTimeMs, maxIterations, workerKind,
 * artifacts. `status` and `attempts` are shared; `iterations` keeps
 * waitloop's meaning (0 without a completion_check; roboppi says 1).
 * With the `resolved` object (what the step ran with) the document is also
 * roboppi's StepResolvedMeta: a step that ended has it under both names,
 * _meta.json and _resolved.json, one file (artifacts_write_step_meta()).
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
	const char *kind = sr->s->is_wait ? "WAIT" : sr->s->subworkflow ? "SUBWORKFLOW" : worker_name(sr->s->worker);
	cJSON_AddStringToObject(m, "workerKind", kind);
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
	cJSON *res = cJSON_AddObjectToObject(m, "resolved");
	if (sr->s->timeout != WL_UNSET)
		cJSON_AddNumberToObject(res, "timeoutMs", (double)sr->s->timeout);
	json_add_string_or_null(res, "workspaceRef", sr->cwd);
	cJSON_AddStringToObject(res, "workerKind", kind);
	cJSON_AddItemToObject(res, "capabilities", json_string_array(&sr->s->capabilities));
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
	json_add_string_or_null(m, "reason", sr->reason);
	cJSON_AddStringToObject(m, "worker", sr->s->is_wait ? "WAIT" : worker_name(sr->s->worker));
	cJSON_AddStringToObject(m, "phase", phase_name(sr->phase));
	cJSON_AddNumberToObject(m, "attempts", sr->attempts_total);
	cJSON_AddNumberToObject(m, "iterations", sr->s->check.present ? sr->iteration : 0);
	cJSON_AddNumberToObject(m, "max_iterations", sr->s->check.present ? sr->max_iterations : 0);
	if (sr->exit_code >= 0)
		cJSON_AddNumberToObject(m, "exit_code", sr->exit_code);
	else
		cJSON_AddNullToObject(m, "exit_code");
	json_add_time(m, "started_at", sr->start_wall);
	json_add_time(m, "finished_at", sr->end_wall);
	cJSON_AddNumberToObject(m, "duration_s", step_duration_s(sr));
	json_add_string_or_null(m, "workspace", sr->cwd);
	json_add_string_or_null(m, "check_id", sr->check_id);
	cJSON_AddItemToObject(m, "depends_on", json_string_array(&sr->s->depends_on));
	add_roboppi_meta(sr, m);
	struct wl_err err = WL_ERR_INIT;
	int resolved = step_terminal(sr->status) && sr->start_wall;   /* roboppi's: a step that ran */
	if (artifacts_write_step_meta(r->ctx, sr->s->id, m, resolved, &err) < 0)
		run_keep_artifact_error(r, err.msg);
	cJSON_Delete(m);
}

void rundoc_flush_meta(struct runner *r)
{
	r->meta_timer = 0;
	for (size_t i = 0; i < r->nsteps; i++)
		if (r->steps[i].meta_dirty)
			write_meta_now(&r->steps[i]);
}

void rundoc_settle(struct runner *r)
{
	artifacts_settle(r->ctx, 1, keep_artifact_error, r);
}

static void rundoc_on_flush_meta(void *arg)
{
	rundoc_flush_meta(arg);
}

/* _meta.json is rewritten at most every META_FLUSH_MS, not once per change:
 * the changes of that window are written together, and a step that starts
 * and ends within it gets only its final file (each file create costs ~0.3 ms
 * on a slow disk; docs/benchmarks.md). The end of the run writes the rest. */
#define META_FLUSH_MS 100
void rundoc_meta_changed(struct step_run *sr)
{
	struct runner *r = sr->r;
	sr->meta_dirty = 1;
	if (!r->meta_timer)
		r->meta_timer = evloop_add_timer(r->loop, time_now_ms() + META_FLUSH_MS, rundoc_on_flush_meta, r);
}

/* Deferred file creates, done only when the loop is about to wait (mostly
 * while children run, so on a 2-core machine they cost no step any time):
 * the final _meta.json of finished steps and the directory of the next
 * pending step. At most IDLE_CREATES per wait, so a child that exits
 * meanwhile is served soon; the META_FLUSH_MS timer and the end of the run
 * write whatever is left. */
#define IDLE_CREATES 2
void rundoc_on_idle(void *arg, int will_wait)
{
	struct runner *r = arg;
	if (!will_wait || r->done)
		return;
	artifacts_settle(r->ctx, 0, keep_artifact_error, r);
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
			sr->dir = artifacts_step_dir(r->ctx, sr->s->id, &err);
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
	json_add_time(d, "started_at", r->start_wall);
	json_add_time(d, "finished_at", r->end_wall);
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
	json_add_string_or_null(set, "history_db", r->opts->db_path);
	json_add_string_or_null(set, "metrics_file", r->opts->metrics_path);
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

void rundoc_write_workflow(struct runner *r)
{
	cJSON *d = workflow_doc(r);
	struct wl_err err = WL_ERR_INIT;
	if (artifacts_write_workflow(r->ctx, d, &err) < 0)
		run_keep_artifact_error(r, err.msg);
	cJSON_Delete(d);
}

/*
 * A context directory may be re-used by the next run: the logs and wait
 * artifacts of this step start empty, so that no file mixes two runs
 * (review.verdict and fix.md are rewritten by the loop itself).
 */
void rundoc_clear_step_dir(struct step_run *sr, struct wl_err *err)
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
	json_add_time(d, "started_at", r->start_wall);
	json_add_time(d, "finished_at", r->end_wall);
	cJSON_AddNumberToObject(d, "duration_s", ms_to_s((r->end_wall ? r->end_wall : time_wall_ms()) - r->start_wall));
	cJSON *steps = cJSON_AddArrayToObject(d, "steps");
	for (size_t i = 0; i < r->nsteps; i++) {
		const struct step_run *sr = &r->steps[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", sr->s->id);
		cJSON_AddStringToObject(o, "status", step_status_name(sr->status));
		json_add_string_or_null(o, "reason", sr->reason);
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
